"""The Markov game as exact float64 tables: the Coordination Game (App. B.1) and max_π V_π(μ).

States and joint actions are indexed as Σ_i x_i 2^i (bit i is agent i), as in
`CoordinationGame.exact_tables()`. Host-side numpy; `arrays`, `state_transition` and `expected_next` are
the jittable views of the tables used by the value solve (`exact.py`) and the best response (`nash.py`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.coordination_game import DENSE_TABLE_MAX_AGENTS, CoordinationGame

GAMMA = 0.95  # App. B.1, Table 1


class TabularGame(NamedTuple):
    """Exact tables of a Markov game with a state reward (float64 numpy; cast inside jit).

    P: [S, A, S'] or [1, A, S'] (state-independent transition, broadcast over s), P(s'|s, a).
    R: [S], r_t = R(s_t).
    gamma: discount factor.
    v_opt: max_π V_π(μ) over all joint policies, μ uniform (value iteration).
    opt_action: int [S], an optimal deterministic joint action per state.
    """

    P: np.ndarray
    R: np.ndarray
    gamma: float
    v_opt: float
    opt_action: np.ndarray

    @property
    def num_states(self) -> int:
        return self.R.shape[0]

    @property
    def num_actions(self) -> int:
        return self.P.shape[1]


def optimal_values(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    """Value iteration over joint actions: (V* [S], argmax_a Q*(s, a) [S]), float64 numpy."""
    P = np.asarray(P, np.float64)
    R = np.asarray(R, np.float64)
    v = np.zeros_like(R)
    for _ in range(100_000):
        q = R[:, None] + gamma * (P @ v)  # [S|1, A] -> broadcast [S, A]
        q = np.broadcast_to(q, (R.shape[0], P.shape[1]))
        v_new = q.max(axis=1)
        if np.max(np.abs(v_new - v)) < tol * (1.0 - gamma):
            v = v_new
            break
        v = v_new
    q = np.broadcast_to(R[:, None] + gamma * (P @ v), (R.shape[0], P.shape[1]))
    return v, q.argmax(axis=1)


def make_game(P: np.ndarray, R: np.ndarray, gamma: float = GAMMA) -> TabularGame:
    """Wrap (P, R) and compute max_π V_π(μ) by value iteration."""
    P = np.asarray(P, np.float64)
    R = np.asarray(R, np.float64)
    if P.ndim != 3 or P.shape[0] not in (1, R.shape[0]) or P.shape[2] != R.shape[0]:
        raise ValueError(f"P must be [S, A, S] or [1, A, S] with S = len(R) = {R.shape[0]}; got {P.shape}")
    if P.shape[0] > 1 and np.array_equal(P, np.broadcast_to(P[:1], P.shape)):
        P = P[:1]  # state-independent (true of the CG): P_π = π @ P[0] is one matmul instead of S
    v_star, a_star = optimal_values(P, R, gamma)
    return TabularGame(P=P, R=R, gamma=float(gamma), v_opt=float(v_star.mean()), opt_action=a_star)


def coordination_game(n_agents: int, gamma: float = GAMMA) -> TabularGame:
    """The Coordination Game of App. B.1 (ε = 0.1, Algorithm 1's difference bound) as exact float64 tables.

    The CG transition ignores s and factorises over agents, P(s'|a) = Π_i P(s'_i | a_i), so P is stored
    as the state-independent [1, A, S'] Kronecker product of the per-agent factors, built in float64 from
    the env's ε (its `exact_tables()` are float32: 0.9 is 0.89999998 there, which moves V(μ) by ~1e-6
    relative). For N <= 5 the product is checked against the env's dense `exact_tables()`; N = 10 needs
    2^20 entries instead of the 2^30 of a dense table.
    """
    env = CoordinationGame(n_agents)
    f = np.array([[1.0 - env.eps, env.eps], [env.eps, 1.0 - env.eps]])  # [a_i, s'_i], as local_transition()
    pa = np.ones((1, 1))
    for _ in range(n_agents):  # index Σ x_i 2^i: kron's last factor is bit 0; all factors are equal
        pa = np.kron(pa, f)
    if n_agents <= DENSE_TABLE_MAX_AGENTS:
        dense, _ = env.exact_tables()
        if not np.allclose(dense, pa[None], rtol=0, atol=1e-6):
            raise AssertionError("CoordinationGame.exact_tables() disagrees with its per-agent factors")
    return make_game(pa[None], env.reward_table(), gamma)


# ---------------------------------------------------------------------------------------------
# Jittable views of the tables (dtype follows the x64 setting at trace time)
# ---------------------------------------------------------------------------------------------


def arrays(game: TabularGame, dtype) -> tuple[jax.Array, jax.Array]:
    """(P [S|1, A, S'], R [S]) as jax arrays of `dtype`."""
    return jnp.asarray(game.P, dtype), jnp.asarray(game.R, dtype)


def state_transition(pi: jax.Array, P: jax.Array) -> jax.Array:
    """P_π(s'|s) = Σ_a π(a|s) P(s'|s, a): [S, S']. P may be [1, A, S'] (state-independent)."""
    if P.shape[0] == 1:
        return pi @ P[0]
    return jnp.einsum("sa,sat->st", pi, P)


def expected_next(P: jax.Array, w: jax.Array, num_states: int) -> jax.Array:
    """Σ_s' P(s'|s, a) w(s'): [S, A]."""
    out = P @ w  # [S|1, A]
    return jnp.broadcast_to(out, (num_states, P.shape[1]))
