"""The paper's analyses of a learned BN policy (§7.4: Figures 5, 7, 8, 9, 10), one env step at a time.

Every array function here is pure and jittable and takes ONE env step (agent axis N last or first, as
documented); the caller vmaps over envs / steps / seeds and averages. Quantities that are ratios come as a
`Tally(num, den)`, to be averaged over any set of steps as Σ num / Σ den (`tally_mean`), so the average over
many steps, envs and seeds is exact whatever the batching, and steps where the quantity is undefined (a child
without parents, a dead unit) drop out instead of entering as NaN.

  multimodality_kl         Fig. 10  KL(π_i(· | o_i, a^{P_i}) ‖ π_i(· | o_i, ∅)) per agent
  visible_parent_fraction  Fig. 7   share of a child's chosen parents that it can see
  parent_health_ratio      Fig. 8   mean health of the living parents / mean health of the living allies
  parent_distance_ratio    Fig. 9   mean distance to the living parents / mean distance to the living allies
  dag_degrees              Fig. 4b  in/out-degree per agent and how many parents/children it could have

What they read of the env comes from its family's declarations (envs_jax/families/base.py): `visible` where the family
has visibility, positions / health / liveness from `Family.team_geometry`; Fig. 5's picture of one step is the
family's `step_snapshot` (Aloha's: envs_jax/families/aloha.py).

DAG convention (jbn/policy/dag.py): G[j, i] = 1 iff agent j is a parent of agent i; column G[:, i] = parents of i.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..policy.joint import BNPolicy, mask_logits


class Tally(NamedTuple):
    """A per-agent quantity to be averaged as Σ num / Σ den over steps (envs, seeds).

    num, den: float32 [..., N]. den = 0 where the quantity is undefined at that step (it then adds nothing).
    """

    num: jax.Array
    den: jax.Array


def tally_mean(t: Tally, axis=None) -> jax.Array:
    """Σ num / Σ den over `axis` (default: all leading axes, keeping the agent axis); NaN where Σ den = 0."""
    if axis is None:
        axis = tuple(range(t.num.ndim - 1))
    num, den = jnp.sum(t.num, axis=axis), jnp.sum(t.den, axis=axis)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), jnp.nan)


# ----------------------------------------------------------------------------------------------
# Fig. 10: multi-modality
# ----------------------------------------------------------------------------------------------


def multimodality_kl(policy: BNPolicy, params, obs, avail, visible, noise, actions, memory=None) -> jax.Array:
    """Per-agent KL of the BN conditional from the same policy with an empty DAG (paper Fig. 10).

    KL_i = Σ_{a ∈ avail_i} π_i(a | o_i, a^{P_i}) [log π_i(a | o_i, a^{P_i}) − log π_i(a | o_i, ∅)],
    where π_i(· | o_i, a^{P_i}) is the conditional that `policy.log_prob` uses (parents = the columns of
    G_eff, i.e. invisible parents dropped when `mask_invisible_parents`) given the parents' entries of
    `actions`, and π_i(· | o_i, ∅) is the same parameters with no parent input (exactly
    `dataclasses.replace(policy, mode="none")`). Unavailable actions have probability 0 under both.

    Averaged over joint actions sampled from the BN policy (the evaluation rollout), this estimates the
    paper's E_{a ~ π}[KL_i]. Exactly 0 in mode `none`.

    Args:
      policy, params: the BN policy and its parameters.
      obs: float32 [N, D]; avail: bool [N, A]; visible: bool [N, N] ([i, j]: i sees j);
      noise: the step's DagNoise (context mode) or None; actions: int32 [N], the joint action;
      memory: a recurrent policy's GRU states of the step (`BNPolicy.step_memory`), else None.

    Returns:
      float32 [N], KL_i in nats (≥ 0 up to round-off).
    """
    own = policy._parent_free(params, obs, memory)
    logits_0 = policy._head(params, own, None, None, obs)
    if not policy.has_parents:
        logits_bn = logits_0
    else:
        _, g_eff, _ = policy.dag(params, obs, visible, noise, memory=memory)
        logits_bn = policy._head(params, own, g_eff.T, actions, obs)
    logp = jax.nn.log_softmax(mask_logits(logits_bn, avail), axis=-1)
    logq = jax.nn.log_softmax(mask_logits(logits_0, avail), axis=-1)
    return jnp.sum(jnp.where(avail, jnp.exp(logp) * (logp - logq), 0.0), axis=-1)


# ----------------------------------------------------------------------------------------------
# Fig. 7: visibility of the chosen parents
# ----------------------------------------------------------------------------------------------


def visible_parent_fraction(g, visible, alive=None) -> Tally:
    """Share of each child's chosen parents that the child can see (paper Fig. 7).

    num[i] = Σ_j G[j, i]·visible[i, j] (visible parents), den[i] = Σ_j G[j, i] (parents), both over the
    sampled DAG G (the parents the agent *wants*, before any invisible-parent masking). A dead parent is
    invisible (SMAX's `ally_visibility` needs both alive). `tally_mean` over steps gives the share of all
    chosen (parent → child) edges of agent i that point to a visible ally, pooled over edges; summing num
    and den over agents first gives the team's share (the figure's single curve per map).

    Args:
      g: float [N, N] 0/1, G[j, i] = 1 iff j is a parent of i.
      visible: bool [N, N], visible[i, j] = i sees j.
      alive: optional bool [N]; dead children count nothing (their choices do not act).

    Returns:
      Tally of float32 [N] (den = 0 for a child without parents).
    """
    g = jnp.asarray(g, jnp.float32)
    vis = jnp.asarray(visible, jnp.float32)
    num = jnp.sum(g * vis.T, axis=0)  # vis.T[j, i] = visible[i, j]
    den = jnp.sum(g, axis=0)
    if alive is not None:
        a = jnp.asarray(alive, jnp.float32)
        num, den = num * a, den * a
    return Tally(num, den)


# ----------------------------------------------------------------------------------------------
# Fig. 8, 9: health and distance of the chosen parents (from the family's team geometry)
# ----------------------------------------------------------------------------------------------


def relative_parent_mean(g, values, alive) -> Tally:
    """Mean of a per-(candidate, child) value over a child's living parents, relative to its living allies.

    For child i with living parents P_i = {j : G[j, i] = 1, alive[j]} and living allies
    L_i = {j ≠ i : alive[j]}:  r_i = mean_{j ∈ P_i} values[j, i] / mean_{j ∈ L_i} values[j, i].
    r_i is defined when i is alive, P_i is non-empty and the ally mean is > 0; then num = r_i, den = 1,
    otherwise both 0. So `tally_mean` over steps is the average of the per-step ratio over the steps where
    it is defined; r > 1: the child picks parents with larger values than its average ally.

    Args:
      g: float [N, N] 0/1 DAG, G[j, i] = 1 iff j is a parent of i.
      values: float [N, N], values[j, i] = the value of candidate parent j for child i.
      alive: bool [N].

    Returns:
      Tally of float32 [N].
    """
    n = g.shape[-1]
    a = jnp.asarray(alive, jnp.float32)
    values = jnp.asarray(values, jnp.float32)
    ally = a[:, None] * (1.0 - jnp.eye(n, dtype=jnp.float32))  # [j, i]: j is a living ally of i
    par = jnp.asarray(g, jnp.float32) * ally
    n_par, n_ally = jnp.sum(par, 0), jnp.sum(ally, 0)
    par_mean = jnp.sum(par * values, 0) / jnp.maximum(n_par, 1.0)
    ally_mean = jnp.sum(ally * values, 0) / jnp.maximum(n_ally, 1.0)
    ok = (a > 0) & (n_par > 0) & (ally_mean > 0)
    ratio = par_mean / jnp.where(ok, ally_mean, 1.0)
    return Tally(jnp.where(ok, ratio, 0.0), ok.astype(jnp.float32))


def parent_health_ratio(g, health, alive) -> Tally:
    """Fig. 8: mean health of i's living parents / mean health of i's living allies (j ≠ i), per child i.

    health: float [N], a fraction comparable across agents (`TeamGeometry.health`; SMAX: hp / max hp of the unit
    type, so units of different types compare, MMM2); < 1 means the child depends on allies weaker than its
    average ally.
    g [N, N] (G[j, i]: j parent of i), alive bool [N]. See `relative_parent_mean` for the averaging.
    """
    h = jnp.asarray(health, jnp.float32)
    return relative_parent_mean(g, jnp.broadcast_to(h[:, None], g.shape), alive)


def parent_distance_ratio(g, positions, alive) -> Tally:
    """Fig. 9: mean distance from i to its living parents / mean distance from i to its living allies.

    positions: float [N, 2] in the env's units (`TeamGeometry.positions`; Euclidean distance, the ratio is
    unit-free, so grid cells (LBF, RWARE) and map units (SMAX, MPE) alike); > 1 means the
    child depends on allies farther away than its average ally. g [N, N] (G[j, i]: j parent of i), alive
    bool [N]. See `relative_parent_mean` for the averaging.
    """
    p = jnp.asarray(positions, jnp.float32)
    dist = jnp.sqrt(jnp.sum((p[:, None, :] - p[None, :, :]) ** 2, axis=-1))  # symmetric [j, i]
    return relative_parent_mean(g, dist, alive)


# ----------------------------------------------------------------------------------------------
# DAG density by agent
# ----------------------------------------------------------------------------------------------


class DagDegrees(NamedTuple):
    """Per-agent degrees of one DAG, float32 [N] each.

    in_degree[i] = Σ_j G[j, i] (parents); possible_parents[i] = pos(i), the agents before i in the
    topological order; out_degree[i] = Σ_j G[i, j] (children); possible_children[i] = N − 1 − pos(i).
    Per-agent density: Tally(in_degree, possible_parents) (0 possible for the first agent), or
    in_degree / (N − 1). Σ_i in_degree / Σ_i possible_parents = dag.density(G).
    """

    in_degree: jax.Array
    possible_parents: jax.Array
    out_degree: jax.Array
    possible_children: jax.Array


def dag_degrees(g, order) -> DagDegrees:
    """Degrees of G [N, N] (G[j, i]: j parent of i) with `order` int [N] (order[p] = agent at position p)."""
    g = jnp.asarray(g, jnp.float32)
    n = g.shape[-1]
    pos = jnp.zeros((n,), jnp.float32).at[order].set(jnp.arange(n, dtype=jnp.float32))
    return DagDegrees(
        in_degree=jnp.sum(g, 0),
        possible_parents=pos,
        out_degree=jnp.sum(g, 1),
        possible_children=(n - 1) - pos,
    )
