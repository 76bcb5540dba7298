"""The compiled evaluation kernel: C policy combinations x M episodes stepped as one batch in one `lax.scan`.

    episodes = make_episodes(policies, env, num_episodes, analyses=[...])   # Python setup
    out = episodes(params, key)                                             # EvalOut of ONE run (jit/vmap it)

See jbn/evaluation/__init__.py for what is evaluated and the rows built from `EvalOut` (jbn/evaluation/rows.py).
Which of the paper's analyses a pass computes is what the env's family declares (`declared_analyses`; the
declarations: envs_jax/families/base.py); nothing here tests the env's type.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

import envs_jax
from envs_jax.families import StepSnapshot

from ..policy import dag as dag_lib
from ..policy.joint import BNPolicy, Memory
from ..training.ppo import active_agents
from ..training.rollout import act_and_step_groups
from . import analysis

POLICIES = ("joint", "decentralized")


class Combo(NamedTuple):
    """One evaluated combination: a row per seed."""

    policy: str  # "joint" | "decentralized"
    greedy: bool


class DagStats(NamedTuple):
    """Sums of one joint combination's analyses over the counted (env, step) pairs (the steps of each env's first
    episode); leaves float32, [N] unless noted. The rows divide them (`rows.analysis_fields`)."""

    steps: jax.Array  # [] counted (env, step) pairs
    kl: analysis.Tally  # num Σ KL_i over the steps where i is active, den that count
    in_degree: jax.Array  # Σ in-degree of i in the sampled G
    density: jax.Array  # [] Σ ρ(G)
    visible_parents: Optional[analysis.Tally]  # Fig. 7, where the family has visibility
    health: Optional[analysis.Tally]  # Fig. 8, where its team geometry has health
    distance: Optional[analysis.Tally]  # Fig. 9, where it has a team geometry (positions)


class FirstStep(NamedTuple):
    """Env 0's first step, for the family's step snapshot (Aloha's, Fig. 5)."""

    obs: jax.Array  # [N, D]
    actions: jax.Array  # int32 [N]
    g: jax.Array  # [N, N]
    order: jax.Array  # int32 [N]


class Record(NamedTuple):
    """Env 0 of the first combination at every step (for rendering): the state the action was taken in."""

    env_state: envs_jax.EnvState  # leaves [T, ...]
    g: jax.Array  # [T, N, N] the sampled DAG
    actions: jax.Array  # int32 [T, N]
    reward: jax.Array  # [T] the team reward of the step


class Carry(NamedTuple):
    """The evaluation scan's carry: C*M envs (combination-major) and what is tallied of their first episodes."""

    env_state: envs_jax.EnvState  # [C*M]
    ts: envs_jax.TimeStep  # [C*M] the observation to act on
    key: jax.Array
    finished: jax.Array  # bool [C*M] the first episode has ended
    returns: jax.Array  # float32 [C*M] return of the first episode (valid where finished)
    won: jax.Array  # bool [C*M]
    lengths: jax.Array  # int32 [C*M]
    stats: Optional[DagStats]  # leaves [Cj, ...] (joint combinations with analyses); None without
    first: Optional[FirstStep]  # leaves [Cj, ...] where the family has a step snapshot
    memory: Optional[Memory] = None  # [C*M, ...] recurrent policies: the GRU states to act on next


class EvalOut(NamedTuple):
    """What one compiled evaluation returns for one seed ([S, ...] with a seed axis). C combinations, M episodes,
    Cj = the joint combinations (analyses), in the order of `Evaluator.combos`."""

    returns: jax.Array  # float32 [C, M] return of each env's first episode
    won: jax.Array  # bool [C, M]
    lengths: jax.Array  # int32 [C, M]
    finished: jax.Array  # bool [C, M] the first episode ended within the scan
    stats: Optional[DagStats]  # leaves [Cj, ...]; None without analyses
    first: Optional[FirstStep]  # leaves [Cj, ...]; where the family has a step snapshot
    record: Optional[Record]  # only when asked for (rendering)


class Declared(NamedTuple):
    """The analyses an env's family declares (envs_jax/families/base.py), beyond those of every DAG (KL, degrees,
    density)."""

    visibility: bool  # Fig. 7: the visible-parent fraction (`Family.has_visibility`)
    positions: bool  # Fig. 9: the parent / ally distance ratio (`Family.team_geometry` is not None)
    health: bool  # Fig. 8: the parent / ally health ratio (its health is not None)
    snapshot: Optional[StepSnapshot]  # Fig. 5: a picture of env 0's first step (`Family.step_snapshot`)


def declared_analyses(env: envs_jax.ArrayEnv) -> Declared:
    """What `env`'s family declares, read without running anything (the team geometry's structure by tracing it on a
    reset state)."""
    geometry = jax.eval_shape(lambda key: env.family.team_geometry(env.family.reset(key)[0]), jax.random.PRNGKey(0))
    return Declared(visibility=bool(env.has_visibility), positions=geometry is not None,
                    health=geometry is not None and geometry.health is not None, snapshot=env.family.step_snapshot)


def make_episodes(policies: Sequence[BNPolicy], env: envs_jax.ArrayEnv, num_episodes: int, *,
                  analyses: Sequence[bool], record: bool = False) -> Callable:
    """episodes(params, key) -> EvalOut for ONE seed: the first episode of `num_episodes` envs under each policy.

    policies: one per combination (greedy ones with `greedy=True`); analyses[c]: compute the DAG analyses of
    combination c (the joint ones). The C x M envs step as one batch [C*M] (combination-major); every combination
    uses the same reset keys, env-step keys and action keys. record: also return env 0 of combination 0 at every
    step (`Record`).
    """
    C, M, T = len(policies), num_episodes, env.max_steps
    declared = declared_analyses(env)
    stat_ids = [c for c in range(C) if analyses[c]]

    def part(tree, c):  # combination c's envs of a [C*M, ...] batch
        return jax.tree.map(lambda x: x[c * M:(c + 1) * M], tree)

    def step_stats(pol, params, ts, env_state, a, live):
        """DagStats of one batched step [M], counting only `live` envs (still in their first episode)."""
        w = live.astype(jnp.float32)  # [M]
        kl = jax.vmap(analysis.multimodality_kl, in_axes=(None, None, 0, 0, 0, 0, 0, 0))(
            pol, params, ts.obs, ts.avail, ts.visible, a.noise, a.actions, a.memory)  # [M, N]
        active = active_agents(ts.avail).astype(jnp.float32) * w[:, None]  # [M, N]
        stats = DagStats(
            steps=jnp.sum(w),
            kl=analysis.Tally(jnp.sum(kl * active, 0), jnp.sum(active, 0)),
            in_degree=jnp.sum(jnp.sum(a.g, axis=-2) * w[:, None], 0),
            density=jnp.sum(dag_lib.density(a.g) * w),
            visible_parents=None, health=None, distance=None,
        )
        geometry = jax.vmap(env.family.team_geometry)(env_state.env_state) if declared.positions else None  # [M, ...]
        alive = None if geometry is None else geometry.alive
        tallies = {}
        if declared.visibility:
            tallies["visible_parents"] = jax.vmap(analysis.visible_parent_fraction)(a.g, ts.visible, alive)
        if declared.health:
            tallies["health"] = jax.vmap(analysis.parent_health_ratio)(a.g, geometry.health, alive)
        if declared.positions:
            tallies["distance"] = jax.vmap(analysis.parent_distance_ratio)(a.g, geometry.positions, alive)
        return stats._replace(**{k: analysis.Tally(jnp.sum(t.num * w[:, None], 0), jnp.sum(t.den * w[:, None], 0))
                                 for k, t in tallies.items()})

    def episodes(params, key) -> EvalOut:
        reset_key, key = jax.random.split(key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, M))
        env_state, ts = jax.tree.map(lambda x: jnp.tile(x, (C,) + (1,) * (x.ndim - 1)), (env_state, ts))

        def step(carry: Carry, t):
            env_state, ts, finished, stats, first = carry.env_state, carry.ts, carry.finished, carry.stats, carry.first
            key, act_key, step_key = jax.random.split(carry.key, 3)
            new_state, next_ts, acts = act_and_step_groups(policies, env, params, env_state, ts, act_key, step_key,
                                                           carry.memory)
            memory = None if carry.memory is None else jax.tree.map(lambda *m: jnp.concatenate(m),
                                                                    *[a.memory for a in acts])
            live = ~finished
            new_stats = [step_stats(policies[c], params, part(ts, c), part(env_state, c), acts[c], part(live, c))
                         for c in stat_ids]
            stats = jax.tree.map(lambda s, *n: s + jnp.stack(n), stats, *new_stats) if stat_ids else None
            if declared.snapshot is not None and stat_ids:  # env 0's first step, with the policy's topological order
                now = []
                for c in stat_ids:
                    ts0, a = part(ts, c), acts[c]
                    noise0 = None if a.noise is None else jax.tree.map(lambda x: x[0], a.noise)
                    memory0 = None if a.memory is None else jax.tree.map(lambda x: x[0], a.memory)
                    order = policies[c].dag(params, ts0.obs[0], ts0.visible[0], noise0, memory=memory0)[2]
                    now.append(FirstStep(ts0.obs[0], a.actions[0], a.g[0], order))
                first = jax.tree.map(lambda f, *n: jnp.where(t == 0, jnp.stack(n), f), first, *now)
            first_end = next_ts.done & ~finished
            rec = None
            if record:
                rec = Record(env_state=jax.tree.map(lambda x: x[0], env_state), g=acts[0].g[0],
                             actions=acts[0].actions[0], reward=next_ts.reward[0])
            carry = Carry(env_state=new_state, ts=next_ts, key=key, finished=finished | next_ts.done,
                          returns=jnp.where(first_end, next_ts.episode_return, carry.returns),
                          won=jnp.where(first_end, next_ts.won, carry.won),
                          lengths=jnp.where(first_end, next_ts.episode_length, carry.lengths), stats=stats, first=first,
                          memory=policies[0].reset_memory(memory, next_ts.done))
            return carry, rec

        n = env.num_agents
        f = jnp.zeros((C * M,), bool)
        stats0 = None
        if stat_ids:
            zc, zcn = jnp.zeros((len(stat_ids),)), jnp.zeros((len(stat_ids), n))
            tally0 = analysis.Tally(zcn, zcn)
            stats0 = DagStats(zc, analysis.Tally(zcn, zcn), zcn, zc,
                              visible_parents=tally0 if declared.visibility else None,
                              health=tally0 if declared.health else None,
                              distance=tally0 if declared.positions else None)
        first0 = None
        if declared.snapshot is not None and stat_ids:
            k = len(stat_ids)
            first0 = FirstStep(jnp.zeros((k,) + ts.obs.shape[1:]), jnp.zeros((k, n), jnp.int32),
                               jnp.zeros((k, n, n)), jnp.zeros((k, n), jnp.int32))
        init = Carry(env_state=env_state, ts=ts, key=key, finished=f, returns=jnp.zeros((C * M,)), won=f,
                     lengths=jnp.zeros((C * M,), jnp.int32), stats=stats0, first=first0,
                     memory=policies[0].initial_memory((C * M,)))
        end, rec = jax.lax.scan(step, init, jnp.arange(T))
        to_cm = lambda x: x.reshape(C, M)  # noqa: E731
        return EvalOut(returns=to_cm(end.returns), won=to_cm(end.won), lengths=to_cm(end.lengths),
                       finished=to_cm(end.finished), stats=end.stats, first=end.first, record=rec)

    return episodes


def combos_for(policy: BNPolicy, greedy: Sequence[bool] = (False, True), decentralized: Optional[bool] = None
               ) -> tuple[Combo, ...]:
    """The combinations evaluated: joint always; decentralized when the mode is not none (or as forced)."""
    if decentralized is None:
        decentralized = policy.has_parents
    names = ("joint", "decentralized") if decentralized else ("joint",)
    return tuple(Combo(p, bool(g)) for p in names for g in greedy)


def policy_for(policy: BNPolicy, combo: Combo) -> BNPolicy:
    mode = policy.mode if combo.policy == "joint" else dag_lib.DECENTRALIZED
    return dataclasses.replace(policy, mode=mode, greedy=combo.greedy)
