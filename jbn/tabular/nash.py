"""The metrics of §7.1: POA = V_π(μ) / max_π V_π(μ) and Nash-gap = max_i (V_{BR_i, π_-i}(μ) − V_π(μ)).

BR_i is agent i's exact best local policy (s, c) -> a_i with the other conditionals fixed
(`best_response_values`). μ is uniform here as in the paper (App. B.1), whatever μ the ascent uses.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jbn.tabular.exact import policy_value
from jbn.tabular.game_tables import TabularGame, arrays, expected_next
from jbn.tabular.policy import BNLayout, Local, Theta, gather_local, local_policies

# Policy iteration for a best response stops when no (s, c) switches; it needs a handful of rounds here.
# The cap only guards against float ties flip-flopping: every round evaluates a real local policy, so a
# capped result is still an achievable value (a lower bound on the best response).
_BR_MAX_ROUNDS = 50
_BR_REL_TOL = 1e-10  # a switch must gain more than this (relative), so ties in float never cycle


def _best_response_value(
    pi_minus: jax.Array, local_index: jax.Array, parent_config: jax.Array, own_action: jax.Array,
    v_pi: jax.Array, game: TabularGame, max_configs: int,
) -> jax.Array:
    """max over local policies (s, c) -> a_i of one agent i of V(μ), the others' conditionals fixed. Scalar.

    pi_minus: [S, A], π_-i(a|s) = Π_{j≠i} π_j(a_j | s, a^{P_j}); local_index, parent_config, own_action: int [A]
    (2 c_i(a) + a_i, c_i(a), a_i); max_configs >= 2^|P_i| pads c so that all agents share one shape.

    Agent i's problem is an MDP on the augmented state (s, c) (paper §5.1, proof of Thm 5.5): c ~ π^{P_i}(·|s)
    does not depend on π_i (parents are non-descendants of i), and given (s, c, a_i) the other agents'
    actions follow π_-i (non-descendants conditioned on c, descendants seeing a_i). For each a_i,
    Σ_{a_-i} π_-i(a|s) = 1, so the Bellman backup of W(s) = E_c V(s, c) is

        W(s) = R(s) + γ Σ_c max_{a_i} G(s, c, a_i),  G(s, c, a_i) = Σ_{a ∈ (c, a_i)} π_-i(a|s) Σ_s' P(s'|s,a) W(s').

    Solved exactly by policy iteration over deterministic local policies b: (s, c) -> a_i, started greedy
    w.r.t. V_π (so the result is >= V_π(μ) by the policy-improvement theorem). Nothing divides by
    π^{P_i}(c|s), so it is exact also where that is 0.
    """
    P, R = arrays(game, v_pi.dtype)
    S = R.shape[0]
    onehot = jax.nn.one_hot(local_index, 2 * max_configs, dtype=v_pi.dtype)  # [A, 2 C]

    def gains(w):  # [S, C, 2]
        return ((pi_minus * expected_next(P, w, S)) @ onehot).reshape(S, max_configs, 2)

    def evaluate(b):  # b: int [S, C] -> W [S]
        plays = (jnp.take(b, parent_config, axis=1) == own_action[None, :]).astype(v_pi.dtype)  # [S, A]
        return policy_value(pi_minus * plays, game)

    def improve(g, b):
        margin = _BR_REL_TOL * (jnp.abs(g[..., 0]) + jnp.abs(g[..., 1]))
        return jnp.where(g[..., 1] - g[..., 0] > margin, 1, jnp.where(g[..., 0] - g[..., 1] > margin, 0, b))

    g0 = gains(v_pi)
    b0 = (g0[..., 1] > g0[..., 0]).astype(jnp.int32)

    def cond(carry):
        _, _, changed, rounds = carry
        return changed & (rounds < _BR_MAX_ROUNDS)

    def body(carry):
        b, w, _, rounds = carry
        b_new = improve(gains(w), b)
        return b_new, evaluate(b_new), jnp.any(b_new != b), rounds + 1

    _, w, _, _ = jax.lax.while_loop(cond, body, (b0, evaluate(b0), jnp.bool_(True), jnp.int32(0)))
    return w.mean()


def best_response_values(local: Local, game: TabularGame, layout: BNLayout) -> tuple[jax.Array, jax.Array]:
    """(V_π [S], [N] each agent's exact best-response value V_{BR_i, π_-i}(μ) among local policies of its BN form).

    The agents are vmapped (their parent configurations padded to the largest), so one policy
    iteration serves all N: a Python loop would put N while-loops in the program and N times the compile.
    """
    if set(layout.num_actions) != {2}:  # the policy iteration below compares two actions (the Coordination Game)
        raise ValueError(f"best_response_values needs binary agents; got num_actions={layout.num_actions} "
                         "(a one-shot matrix game has its own: matrix_exact.matrix_best_response_values)")
    n = layout.num_agents
    factors = jnp.stack([gather_local(loc, layout, i) for i, loc in enumerate(local)])  # [N, S, A]
    v_pi = policy_value(jnp.prod(factors, axis=0), game)
    others = ~np.eye(n, dtype=bool)[:, :, None, None]  # [N (i), N (j), 1, 1]: j != i
    pi_minus = jnp.prod(jnp.where(others, factors[None], 1.0), axis=1)  # [N, S, A]
    local_index = np.stack([layout.local_index(i) for i in range(n)])  # [N, A]
    br = functools.partial(_best_response_value, v_pi=v_pi, game=game, max_configs=max(layout.num_configs))
    return v_pi, jax.vmap(br)(pi_minus, local_index, layout.parent_config, layout.own_action)


class Metrics(NamedTuple):
    """Per recorded point (leading axes [B, R] after a vmapped run)."""

    value: jax.Array  # V_π(μ)
    poa: jax.Array  # V_π(μ) / max_π V_π(μ)
    nash_gap: jax.Array  # max_i (V_{BR_i, π_-i}(μ) − V_π(μ))


def evaluate_local(local: Local, game: TabularGame, layout: BNLayout) -> Metrics:
    """POA and Nash-gap (§7.1) of the BN policy with local conditionals `local`."""
    v_pi, br = best_response_values(local, game, layout)
    v = v_pi.mean()
    return Metrics(value=v, poa=v / game.v_opt, nash_gap=jnp.max(br - v))


def evaluate(theta: Theta, game: TabularGame, layout: BNLayout) -> Metrics:
    """`evaluate_local` of the softmax policy with logits θ."""
    return evaluate_local(local_policies(theta), game, layout)
