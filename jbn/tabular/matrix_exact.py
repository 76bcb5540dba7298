"""The exact machinery of `exact.py` and `nash.py` specialised to a one-shot matrix game (one state, one step).

* V_θ = E_{a ~ π_θ}[r(a)] = Σ_a π_θ(a) r(a), π_θ the BN policy of Eq. 1 by enumerating the joint actions;
  ∇_θ V_θ by autodiff (Lemma 5.1 with one state, γ = 0: π^{P_i}(c) π_i(a_i|c) (Q(c, a_i) − Q(c)));
* agent i's exact best response among local policies c -> a_i of its BN form, the others' conditionals fixed:
  the parents' c does not depend on π_i, and given (c, a_i) the others follow π_-i, so

      V_{BR_i, π_-i} = Σ_c max_{a_i} G(c, a_i),   G(c, a_i) = Σ_{a ∈ (c, a_i)} π_-i(a) r(a),

  which is the Bellman backup of `nash._best_response_value` with one state and W = r (no policy iteration);
* POA = V_θ / max_a r(a) and Nash-gap = max_i (V_{BR_i, π_-i} − V_θ), as in `nash.Metrics`.

Pure and jittable (dtype follows the x64 setting at trace time), except `final_outcomes` (host-side).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jbn.tabular.matrix_tables import MatrixGame
from jbn.tabular.nash import Metrics
from jbn.tabular.policy import (
    BNLayout,
    Local,
    Theta,
    gather_local,
    joint_actions,
    joint_policy,
    local_policies,
    sum_by_local,
)


def check_layout(game: MatrixGame, layout: BNLayout) -> None:
    if layout.num_actions != game.payoff.shape:
        raise ValueError(f"layout has num_actions={layout.num_actions} but game {game.name!r} has payoff shape "
                         f"{game.payoff.shape}")


def matrix_value(theta: Theta, game: MatrixGame, layout: BNLayout, mu: str = "uniform") -> jax.Array:
    """V_θ = Σ_a π_θ(a) r(a), the objective of gradient ascent. `mu` is accepted for the runner's signature:
    with one state, μ uniform and μ summed are the same objective."""
    check_layout(game, layout)
    pi = joint_policy(local_policies(theta), layout)[0]  # [A]
    return pi @ jnp.asarray(game.reward, pi.dtype)


def matrix_best_response_values(local: Local, game: MatrixGame, layout: BNLayout) -> tuple[jax.Array, jax.Array]:
    """(V_π scalar, [N] each agent's exact best-response value V_{BR_i, π_-i} among local policies of its BN form).

    A Python loop over the N agents: each is one matmul (no while-loop), so it costs little to compile.
    """
    check_layout(game, layout)
    factors = [gather_local(loc, layout, i)[0] for i, loc in enumerate(local)]  # N x [A]
    r = jnp.asarray(game.reward, factors[0].dtype)
    v = jnp.prod(jnp.stack(factors), axis=0) @ r
    br = []
    for i in range(layout.num_agents):
        pi_minus = jnp.prod(jnp.stack([f for j, f in enumerate(factors) if j != i] or [jnp.ones_like(r)]), axis=0)
        gains = sum_by_local((pi_minus * r)[None], layout, i)[0]  # G(c, a_i): [C_i, A_i]
        br.append(gains.max(axis=-1).sum())
    return v, jnp.stack(br)


def evaluate_matrix_local(local: Local, game: MatrixGame, layout: BNLayout) -> Metrics:
    """POA and Nash-gap of the BN policy with local conditionals `local`."""
    v, br = matrix_best_response_values(local, game, layout)
    return Metrics(value=v, poa=v / game.v_opt, nash_gap=jnp.max(br - v))


def evaluate_matrix(theta: Theta, game: MatrixGame, layout: BNLayout) -> Metrics:
    """`evaluate_matrix_local` of the softmax policy with logits θ."""
    return evaluate_matrix_local(local_policies(theta), game, layout)


def joint_probabilities(theta: Theta, layout: BNLayout) -> np.ndarray:
    """float64 [B, A]: π_θ(a) for a batch of logits θ_i [B, 1, C_i, A_i] (host-side; x64 as a context)."""
    with jax.enable_x64(True):
        pi = jax.jit(jax.vmap(lambda th: joint_policy(local_policies(th), layout)[0]))(
            tuple(jnp.asarray(t) for t in theta))
        return np.asarray(pi)


def final_outcomes(theta: Theta, game: MatrixGame, layout: BNLayout) -> tuple[np.ndarray, np.ndarray]:
    """Where each seed's policy ends: (int [B, N] its most probable joint action, float64 [B] its probability)."""
    pi = joint_probabilities(theta, layout)
    mode = pi.argmax(axis=1)
    return joint_actions(game.payoff.shape)[mode], pi[np.arange(pi.shape[0]), mode]
