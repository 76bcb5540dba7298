"""Exact V_π, the objective V_θ(μ) of gradient ascent (Eq. 2) and its gradient by Lemma 5.1 in closed form.

* V_π = (I − γ P_π)⁻¹ R by the exact doubling solve (`solve.discounted_solve`);
* V_θ(μ) = Σ_s μ(s) V_θ(s) with μ uniform (App. B.1: a mean over the 2^N states), or, with
  `mu="sum"`, μ = 1 on every state as the authors' tabular code has it (a sum over the states). The
  sum is 2^N times the mean, so its gradient, hence the effective step of θ <- θ + lr ∇_θ V_θ(μ), is
  2^N times larger (lr 0.01 acts as 0.04, 0.08, 0.32 for N = 2, 3, 5). Only the ascent uses it: POA and
  Nash-gap (`nash.py`) keep the paper's uniform μ;
* ∇_θ V_θ(μ) by autodiff through the solve, and by Lemma 5.1 term by term (`lemma51_gradient`) as a check.

Pure and jittable; dtype follows the x64 setting at trace time.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from jbn.tabular.game_tables import TabularGame, arrays, expected_next, state_transition
from jbn.tabular.policy import BNLayout, Theta, joint_policy, local_policies, sum_by_local
from jbn.tabular.solve import discounted_solve

Mu = Literal["uniform", "sum"]
MU_CHOICES: tuple[str, ...] = ("uniform", "sum")


def check_mu(mu: str) -> None:
    if mu not in MU_CHOICES:
        raise ValueError(f"mu={mu!r} is not an initial-distribution choice; valid: {', '.join(MU_CHOICES)}")


def policy_value(pi: jax.Array, game: TabularGame) -> jax.Array:
    """V_π [S] = (I − γ P_π)⁻¹ R for a joint policy π [S, A]."""
    P, R = arrays(game, pi.dtype)
    return discounted_solve(state_transition(pi, P), game.gamma, R)


def value_mu(theta: Theta, game: TabularGame, layout: BNLayout, mu: Mu = "uniform") -> jax.Array:
    """V_θ(μ), the objective of gradient ascent (Eq. 2): mean_s V_θ(s) (μ uniform) or Σ_s V_θ(s) (mu="sum")."""
    check_mu(mu)
    v = policy_value(joint_policy(local_policies(theta), layout), game)
    return v.mean() if mu == "uniform" else v.sum()


def lemma51_gradient(theta: Theta, game: TabularGame, layout: BNLayout, mu: Mu = "uniform") -> Theta:
    """∂V_θ(μ)/∂θ_i[s, c, a_i] from Lemma 5.1, written term by term (no autodiff):

        1/(1−γ) · d_μ(s, c) · π_i(a_i | s, c) · (Q_θ(s, c, a_i) − Q_θ(s, c)),

    d_μ(s) = (1−γ) μᵀ (I − γP_π)⁻¹ (discounted visitation, normalised for μ uniform; it sums to 2^N for
    mu="sum", μ = 1), d_μ(s, c) = d_μ(s) π^{P_i}(c|s),
    Q_θ(s, c, a_i) = E_{a ~ π(·|s, c, a_i)} Q_θ(s, a), Q_θ(s, c) = E_{a ~ π(·|s, c)} Q_θ(s, a).
    Needs π > 0 everywhere (true for finite θ): the conditionals divide by π(c, a_i | s).
    """
    check_mu(mu)
    local = local_policies(theta)
    pi = joint_policy(local, layout)  # [S, A]
    P, R = arrays(game, pi.dtype)
    g = game.gamma
    S = R.shape[0]
    p_pi = state_transition(pi, P)
    v = discounted_solve(p_pi, g, R)  # [S]
    mu_s = jnp.full((S,), 1.0 / S if mu == "uniform" else 1.0, pi.dtype)
    d = (1.0 - g) * discounted_solve(p_pi, g, mu_s, transpose=True)  # [S]
    q = R[:, None] + g * expected_next(P, v, S)  # Q_θ(s, a): [S, A]
    grads = []
    for i in range(layout.num_agents):
        joint_mass = sum_by_local(pi, layout, i)  # π(c, a_i | s): [S, C, 2]
        q_mass = sum_by_local(pi * q, layout, i)  # Σ_{a ∈ (c, a_i)} π(a|s) Q(s, a)
        p_parents = joint_mass.sum(-1)  # π^{P_i}(c | s): [S, C]
        q_local = q_mass / joint_mass  # Q_θ(s, c, a_i)
        q_parents = q_mass.sum(-1) / p_parents  # Q_θ(s, c)
        advantage = q_local - q_parents[..., None]  # A_θ^i(s, c, a_i)
        d_sc = d[:, None] * p_parents
        grads.append(d_sc[..., None] * local[i] * advantage / (1.0 - g))
    return tuple(grads)
