"""Tabular exact softmax BN policy gradient on the Coordination Game (paper §5, §7.3, Fig. 3; DESIGN §5).

Agent i's local policy is a table θ_i[s, c, a_i] (Eq. 1), where c = a^{P_i} is its parents' joint action,
encoded as c = Σ_k a_{p_k} 2^k over the parents p_0 < p_1 < ... of i. States and joint actions are indexed
as Σ_i x_i 2^i (bit i is agent i), as in `CoordinationGame.exact_tables()`. Everything is exact:

* π(a|s) = Π_i π_i(a_i | s, c_i(a)) by enumerating all 2^N joint actions;
* V_π = (I − γ P_π)⁻¹ R by an exact linear solve (`discounted_solve`, LAPACK-free: see there why),
  V_π(μ) = mean_s V_π(s) (μ uniform, γ = 0.95, App. B.1);
* ∇_θ V_π(μ) by autodiff through the solve (and Lemma 5.1 in closed form, `lemma51_gradient`, as a check);
* max_π V_π(μ) by value iteration over joint actions, POA = V_π(μ) / max_π V_π(μ);
* Nash-gap = max_i (V_{BR_i, π_-i}(μ) − V_π(μ)), BR_i the exact best local policy (s, c) -> a_i of agent i
  with the other conditionals fixed (`best_response_values`).

The run keeps all seeds of one (N, DAG) in one jit (vmap over seeds, lax.scan over recorded points) and uses
float64 (`jax.enable_x64` as a context, so nothing global changes for other modules): Nash-gaps near
convergence are small differences of values ≈ 60.

CLI (Figure 3):
    python -m jbn.tabular --n-agents 2 3 5 --dags none line full --seeds 50 --iters 2000 --lr 0.01 \\
        --out results.json --plot fig3.png
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.coordination_game import DEFAULT_DIFFERENCE_BOUNDS, DENSE_TABLE_MAX_AGENTS, CoordinationGame
from jbn.dag import fixed_dag

GAMMA = 0.95  # App. B.1, Table 1
DAG_CHOICES = ("none", "line", "full")
DAG_LABELS = {"none": "Uncorrelated", "line": "Line-correlated", "full": "Fully-correlated"}
# Policy iteration for a best response stops when no (s, c) switches; it needs a handful of rounds here.
# The cap only guards against float ties flip-flopping: every round evaluates a real local policy, so a
# capped result is still an achievable value (a lower bound on the best response).
_BR_MAX_ROUNDS = 50
_BR_REL_TOL = 1e-10  # a switch must gain more than this (relative), so ties in float never cycle


# ---------------------------------------------------------------------------------------------
# The game and the BN layout (host-side, static)
# ---------------------------------------------------------------------------------------------


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


class BNLayout(NamedTuple):
    """Static index tables of a BN policy over N binary agents.

    dag: int [N, N], dag[j, i] = 1 iff j is a parent of i.
    parents: parents of each agent, ascending.
    num_configs: 2^|P_i| per agent.
    parent_config: int32 [N, A], c_i(a) = Σ_k a_{p_k} 2^k.
    own_bit: int32 [N, A], a_i of joint action a.
    """

    dag: np.ndarray
    parents: tuple[tuple[int, ...], ...]
    num_configs: tuple[int, ...]
    parent_config: np.ndarray
    own_bit: np.ndarray

    @property
    def num_agents(self) -> int:
        return len(self.parents)

    def local_index(self, i: int) -> np.ndarray:
        """int32 [A]: joint action -> flat (c_i, a_i) index 2 c_i + a_i."""
        return 2 * self.parent_config[i] + self.own_bit[i]


def bn_layout(dag: np.ndarray) -> BNLayout:
    """Index tables for the DAG `dag` (G[j, i] = 1 iff j is a parent of i); it must be acyclic."""
    g = (np.asarray(dag) != 0).astype(np.int64)
    n = g.shape[0]
    if g.shape != (n, n) or np.any(np.diag(g)):
        raise ValueError(f"dag must be a square [N, N] matrix with a zero diagonal; got shape {g.shape}")
    if np.any(np.linalg.matrix_power(g, n)):  # some walk of length N exists <=> a cycle exists
        raise ValueError("dag has a cycle; a BN policy needs a DAG")
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # [A, N]
    parents = tuple(tuple(int(j) for j in np.flatnonzero(g[:, i])) for i in range(n))
    parent_config = np.stack(
        [sum((bits[:, p] << k) for k, p in enumerate(ps)) if ps else np.zeros(2**n, np.int64) for ps in parents]
    ).astype(np.int32)
    return BNLayout(
        dag=g,
        parents=parents,
        num_configs=tuple(2 ** len(ps) for ps in parents),
        parent_config=parent_config,
        own_bit=bits.T.astype(np.int32).copy(),
    )


def named_layout(dag_name: str, n_agents: int) -> BNLayout:
    """Layout of a fixed DAG: none (empty), line (i-1 -> i) or full (j -> i for all j < i)."""
    if dag_name not in DAG_CHOICES:
        raise ValueError(f"unknown dag {dag_name!r}; valid choices: {', '.join(DAG_CHOICES)}")
    return bn_layout(np.asarray(fixed_dag(dag_name, n_agents)))


# ---------------------------------------------------------------------------------------------
# Policy, value, gradient (pure, jittable; dtype follows the x64 setting at trace time)
# ---------------------------------------------------------------------------------------------

Theta = tuple  # tuple over agents of [S, C_i, 2] logits
Local = tuple  # tuple over agents of [S, C_i, 2] probabilities π_i(a_i | s, c)


def init_theta(seed: int, num_seeds: int, layout: BNLayout, num_states: int, scale: float = 1.0) -> Theta:
    """θ_i[b, s, c, a_i] ~ scale · N(0, 1) for seeds b = 0..num_seeds-1: float64 numpy, [B, S, C_i, 2] per agent.

    Seed b draws from its own stream `default_rng([seed, b])`, so its init does not depend on how many
    seeds run (the first 5 of 50 are the 5 of a 5-seed run). Host-side numpy: jax.random costs ~1 s of
    compile per shape on this CPU, longer than the draw. The paper does not state its initialisation.
    """
    rngs = [np.random.default_rng([seed, b]) for b in range(num_seeds)]
    return tuple(
        scale * np.stack([rng.standard_normal((num_states, c, 2)) for rng in rngs]) for c in layout.num_configs
    )


def local_policies(theta: Theta) -> Local:
    """Softmax over a_i (Eq. 1)."""
    return tuple(jax.nn.softmax(t, axis=-1) for t in theta)


def _gather_local(local_i: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """[S, C_i, 2] -> [S, A]: π_i(a_i | s, c_i(a)) for every joint action a.

    A matmul with a one-hot selector rather than a gather: its gradient is a matmul too, where a gather's
    is a scatter-add (several times slower on the XLA CPU backend).
    """
    c = layout.num_configs[i]
    select = jax.nn.one_hot(layout.local_index(i), 2 * c, dtype=local_i.dtype).T  # [2 C_i, A]
    return local_i.reshape(local_i.shape[0], 2 * c) @ select


def joint_policy(local: Local, layout: BNLayout, skip: int | None = None) -> jax.Array:
    """π(a|s) = Π_i π_i(a_i | s, a^{P_i}): [S, A]. `skip=i` leaves agent i's factor out (π_-i)."""
    out = None
    for i, loc in enumerate(local):
        if i == skip:
            continue
        f = _gather_local(loc, layout, i)
        out = f if out is None else out * f
    if out is None:  # N = 1 and skip = 0
        out = jnp.ones((local[0].shape[0], layout.parent_config.shape[1]), local[0].dtype)
    return out


def _tables(game: TabularGame, dtype) -> tuple[jax.Array, jax.Array]:
    return jnp.asarray(game.P, dtype), jnp.asarray(game.R, dtype)


def _transition(pi: jax.Array, P: jax.Array) -> jax.Array:
    """P_π(s'|s) = Σ_a π(a|s) P(s'|s, a): [S, S']. P may be [1, A, S'] (state-independent)."""
    if P.shape[0] == 1:
        return pi @ P[0]
    return jnp.einsum("sa,sat->st", pi, P)


def _expected_next(P: jax.Array, w: jax.Array, num_states: int) -> jax.Array:
    """Σ_s' P(s'|s, a) w(s'): [S, A]."""
    out = P @ w  # [S|1, A]
    return jnp.broadcast_to(out, (num_states, P.shape[1]))


def _num_doublings(gamma: float) -> int:
    """K with γ^(2^K) < 1e-20: the truncation of `discounted_solve` is then far below float64 rounding."""
    return max(1, math.ceil(math.log2(math.log(1e-20) / math.log(gamma))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _resolvent(m: jax.Array, b: jax.Array, num_doublings: int) -> jax.Array:
    """(I − M)⁻¹ b = Π_{k<K} (I + M^(2^k)) b for a non-negative M [S, S] of spectral radius < 1."""
    return _resolvent_fwd(m, b, num_doublings)[0]


def _resolvent_fwd(m, b, num_doublings):
    def double(carry, _):
        m, x = carry
        return (m @ m, x + m @ x), m

    (_, x), squares = jax.lax.scan(double, (m, b), None, length=num_doublings)
    return x, (squares, x)


def _resolvent_bwd(num_doublings, res, x_bar):
    # x = (I − M)⁻¹ b  =>  λ = (I − M)⁻ᵀ x̄ (the same product, applied from the left), b̄ = λ, M̄ = λ xᵀ.
    squares, x = res
    lam, _ = jax.lax.scan(lambda lam, m: (lam + lam @ m, None), x_bar, squares)
    return jnp.outer(lam, x), lam


_resolvent.defvjp(_resolvent_fwd, _resolvent_bwd)


def discounted_solve(p_pi: jax.Array, gamma: float, b: jax.Array, transpose: bool = False) -> jax.Array:
    """x = (I − γ P_π)⁻¹ b (or bᵀ (I − γ P_π)⁻¹ with transpose=True) for a stochastic P_π [S, S], b [S].

    Exact direct solve by doubling: with M = γ P_π (non-negative, spectral radius γ < 1),
    (I − M)⁻¹ = Σ_t M^t = Π_{k<K} (I + M^(2^k)) up to a tail of relative size γ^(2^K) < 1e-20, so K = 10
    squarings for γ = 0.95. Sums of non-negative terms only: no cancellation, no pivoting. The VJP reuses
    the stored squares for the transposed solve, so a gradient costs K matrix-vector products.

    Why not `jnp.linalg.solve`: its batched LAPACK LU (jaxlib 0.10.2, CPU) splits the batch over XLA's
    intra-op pool and blocks; two such LUs running at once on a 2-thread pool deadlock (seen under vmap
    here, gdb: both workers parked in LuDecomposition -> ParallelBatchMap -> BlockingCounter::Wait).
    Matmuls never block, and on this 2-core CPU the gradient step costs about what the LU's does
    (2.0 vs 2.5 ms per vmapped step, 50 seeds, S = 32, float64, unrolled; the lax.scan used here
    compiles ~1 s faster per (N, DAG) and runs ~15% slower).
    """
    m = gamma * (p_pi.T if transpose else p_pi)
    return _resolvent(m, b, _num_doublings(gamma))


def policy_value(pi: jax.Array, game: TabularGame) -> jax.Array:
    """V_π [S] = (I − γ P_π)⁻¹ R for a joint policy π [S, A]."""
    P, R = _tables(game, pi.dtype)
    return discounted_solve(_transition(pi, P), game.gamma, R)


def value_mu(theta: Theta, game: TabularGame, layout: BNLayout) -> jax.Array:
    """V_θ(μ), μ uniform: the objective of gradient ascent (Eq. 2)."""
    return policy_value(joint_policy(local_policies(theta), layout), game).mean()


def _by_local(x: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """Sum x [S, A] over the joint actions sharing agent i's (c_i, a_i): [S, C_i, 2]."""
    c = layout.num_configs[i]
    onehot = jax.nn.one_hot(layout.local_index(i), 2 * c, dtype=x.dtype)  # [A, 2 C_i]
    return (x @ onehot).reshape(x.shape[0], c, 2)


def lemma51_gradient(theta: Theta, game: TabularGame, layout: BNLayout) -> Theta:
    """∂V_θ(μ)/∂θ_i[s, c, a_i] from Lemma 5.1, written term by term (no autodiff):

        1/(1−γ) · d_μ(s, c) · π_i(a_i | s, c) · (Q_θ(s, c, a_i) − Q_θ(s, c)),

    d_μ(s) = (1−γ) μᵀ (I − γP_π)⁻¹ (normalised discounted visitation), d_μ(s, c) = d_μ(s) π^{P_i}(c|s),
    Q_θ(s, c, a_i) = E_{a ~ π(·|s, c, a_i)} Q_θ(s, a), Q_θ(s, c) = E_{a ~ π(·|s, c)} Q_θ(s, a).
    Needs π > 0 everywhere (true for finite θ): the conditionals divide by π(c, a_i | s).
    """
    local = local_policies(theta)
    pi = joint_policy(local, layout)  # [S, A]
    P, R = _tables(game, pi.dtype)
    g = game.gamma
    S = R.shape[0]
    p_pi = _transition(pi, P)
    v = discounted_solve(p_pi, g, R)  # [S]
    mu = jnp.full((S,), 1.0 / S, pi.dtype)
    d = (1.0 - g) * discounted_solve(p_pi, g, mu, transpose=True)  # [S]
    q = R[:, None] + g * _expected_next(P, v, S)  # Q_θ(s, a): [S, A]
    grads = []
    for i in range(layout.num_agents):
        joint_mass = _by_local(pi, layout, i)  # π(c, a_i | s): [S, C, 2]
        q_mass = _by_local(pi * q, layout, i)  # Σ_{a ∈ (c, a_i)} π(a|s) Q(s, a)
        p_parents = joint_mass.sum(-1)  # π^{P_i}(c | s): [S, C]
        q_local = q_mass / joint_mass  # Q_θ(s, c, a_i)
        q_parents = q_mass.sum(-1) / p_parents  # Q_θ(s, c)
        advantage = q_local - q_parents[..., None]  # A_θ^i(s, c, a_i)
        d_sc = d[:, None] * p_parents
        grads.append(d_sc[..., None] * local[i] * advantage / (1.0 - g))
    return tuple(grads)


# ---------------------------------------------------------------------------------------------
# Best response, Nash-gap, POA
# ---------------------------------------------------------------------------------------------


def _best_response_value(
    pi_minus: jax.Array, local_index: jax.Array, parent_config: jax.Array, own_bit: jax.Array,
    v_pi: jax.Array, game: TabularGame, max_configs: int,
) -> jax.Array:
    """max over local policies (s, c) -> a_i of one agent i of V(μ), the others' conditionals fixed. Scalar.

    pi_minus: [S, A], π_-i(a|s) = Π_{j≠i} π_j(a_j | s, a^{P_j}); local_index, parent_config, own_bit: int [A]
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
    P, R = _tables(game, v_pi.dtype)
    S = R.shape[0]
    onehot = jax.nn.one_hot(local_index, 2 * max_configs, dtype=v_pi.dtype)  # [A, 2 C]

    def gains(w):  # [S, C, 2]
        return ((pi_minus * _expected_next(P, w, S)) @ onehot).reshape(S, max_configs, 2)

    def evaluate(b):  # b: int [S, C] -> W [S]
        plays = (jnp.take(b, parent_config, axis=1) == own_bit[None, :]).astype(v_pi.dtype)  # [S, A]
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
    n = layout.num_agents
    factors = jnp.stack([_gather_local(loc, layout, i) for i, loc in enumerate(local)])  # [N, S, A]
    v_pi = policy_value(jnp.prod(factors, axis=0), game)
    others = ~np.eye(n, dtype=bool)[:, :, None, None]  # [N (i), N (j), 1, 1]: j != i
    pi_minus = jnp.prod(jnp.where(others, factors[None], 1.0), axis=1)  # [N, S, A]
    local_index = np.stack([layout.local_index(i) for i in range(n)])  # [N, A]
    br = functools.partial(_best_response_value, v_pi=v_pi, game=game, max_configs=max(layout.num_configs))
    return v_pi, jax.vmap(br)(pi_minus, local_index, layout.parent_config, layout.own_bit)


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
    return evaluate_local(local_policies(theta), game, layout)


# ---------------------------------------------------------------------------------------------
# Gradient ascent: one jitted chunk of recorded points, vmapped over seeds
# ---------------------------------------------------------------------------------------------


def make_run_chunk(game: TabularGame, layout: BNLayout, lr: float) -> Callable:
    """Single-seed `run_chunk(theta, steps) -> (theta, Metrics [R])`.

    steps: int32 [R]; record r first takes steps[r] gradient-ascent steps θ <- θ + lr ∇_θ V_θ(μ) (Eq. 2,
    exact gradient by autodiff), then records the metrics. steps[r] = 0 records without moving (used for
    iteration 0 and to pad the last chunk, so one compiled chunk serves every call).
    """
    grad_v = jax.grad(value_mu)

    def ascent_step(_, theta):
        g = grad_v(theta, game, layout)
        return jax.tree.map(lambda t, gt: t + lr * gt, theta, g)

    def record(theta, n_steps):
        theta = jax.lax.fori_loop(0, n_steps, ascent_step, theta)
        return theta, evaluate(theta, game, layout)

    def run_chunk(theta, steps):
        return jax.lax.scan(record, theta, steps)

    return run_chunk


def record_schedule(iters: int, eval_every: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps before each record [R], iteration of each record [R]): 0, k, 2k, ..., iters."""
    steps = [0] + [eval_every] * (iters // eval_every) + ([iters % eval_every] if iters % eval_every else [])
    steps = np.asarray(steps, np.int32)
    return steps, np.cumsum(steps)


class RunResult(NamedTuple):
    iters: np.ndarray  # int [R]
    metrics: Metrics  # each float64 [B, R]
    theta: Theta  # final, each [B, S, C_i, 2]
    compile_s: float
    run_s: float


def run_seeds(
    game: TabularGame,
    layout: BNLayout,
    seed: int,
    num_seeds: int,
    iters: int,
    lr: float,
    eval_every: int,
    init_scale: float = 1.0,
    num_chunks: int = 10,
    on_chunk: Callable[[int, int, Metrics], None] | None = None,
    on_compiled: Callable[[], None] | None = None,
) -> RunResult:
    """Gradient ascent from independent random inits (`init_theta`), all seeds in one jit via vmap.

    The host loop runs `num_chunks` calls of one compiled chunk (same shapes every call), so progress can
    be shown between chunks; nothing inside the jit prints. Float64 throughout (x64 as a context).
    """
    steps, rec_iters = record_schedule(iters, eval_every)
    per_chunk = math.ceil(len(steps) / max(1, min(num_chunks, len(steps))))
    padded = np.zeros(per_chunk * math.ceil(len(steps) / per_chunk), np.int32)
    padded[: len(steps)] = steps
    with jax.enable_x64(True):
        theta = tuple(jnp.asarray(t) for t in init_theta(seed, num_seeds, layout, game.num_states, init_scale))
        batched = jax.jit(jax.vmap(make_run_chunk(game, layout, lr), in_axes=(0, None)))
        t0 = time.perf_counter()
        compiled = batched.lower(theta, jnp.asarray(padded[:per_chunk])).compile()
        compile_s = time.perf_counter() - t0
        if on_compiled is not None:
            on_compiled()
        t0 = time.perf_counter()
        chunks = []
        for c in range(len(padded) // per_chunk):
            theta, m = compiled(theta, jnp.asarray(padded[c * per_chunk : (c + 1) * per_chunk]))
            m = jax.tree.map(np.asarray, jax.block_until_ready(m))
            chunks.append(m)
            if on_chunk is not None:
                done = min((c + 1) * per_chunk, len(steps))
                on_chunk(c, int(rec_iters[done - 1]), m)
        run_s = time.perf_counter() - t0
        theta = jax.tree.map(np.asarray, theta)
    # drop the padded records at the end of the last chunk
    metrics = Metrics(
        *(np.concatenate([getattr(m, f) for m in chunks], axis=1)[:, : len(steps)] for f in Metrics._fields)
    )
    return RunResult(iters=rec_iters, metrics=metrics, theta=theta, compile_s=compile_s, run_s=run_s)


def _stderr(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean over axis 0 (0 for a single seed)."""
    n = x.shape[0]
    return x.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(x.shape[1:])


def summarise(n_agents: int, dag: str, game: TabularGame, result: RunResult) -> dict:
    """One results.json record (issue 4 format)."""
    poa, gap = result.metrics.poa, result.metrics.nash_gap  # [B, R]
    return {
        "n_agents": n_agents,
        "dag": dag,
        "v_opt": game.v_opt,
        "iters": [int(t) for t in result.iters],
        "poa_mean": poa.mean(0).tolist(),
        "poa_stderr": _stderr(poa).tolist(),
        "nash_gap_mean": gap.mean(0).tolist(),
        "nash_gap_stderr": _stderr(gap).tolist(),
        "final_poa": poa[:, -1].tolist(),
        "final_nash_gap": gap[:, -1].tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Figure 3
# ---------------------------------------------------------------------------------------------


def plot_fig3(records: Sequence[dict], path: str) -> None:
    """POA (top) and Nash-gap (bottom), one column per N, one curve per DAG with a shaded standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n_agents"] for r in records})
    fig, axes = plt.subplots(2, len(ns), figsize=(4.2 * len(ns), 6.4), squeeze=False, sharex="col")
    colors = {"none": "tab:blue", "line": "tab:orange", "full": "tab:green"}
    for col, n in enumerate(ns):
        for r in (r for r in records if r["n_agents"] == n):
            x = np.asarray(r["iters"])
            for row, key in ((0, "poa"), (1, "nash_gap")):
                m, se = np.asarray(r[f"{key}_mean"]), np.asarray(r[f"{key}_stderr"])
                ax = axes[row, col]
                ls = "--" if (n == 2 and r["dag"] == "full") else "-"  # N = 2: line and full coincide
                ax.plot(x, m, ls, color=colors.get(r["dag"]), label=DAG_LABELS.get(r["dag"], r["dag"]))
                ax.fill_between(x, m - se, m + se, color=colors.get(r["dag"]), alpha=0.25, linewidth=0)
        axes[0, col].set_title(f"cg_{n}")
        axes[1, col].set_xlabel("iteration")
    axes[0, 0].set_ylabel("POA")
    axes[1, 0].set_ylabel("Nash-gap")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """Exact tabular softmax BN policy gradient on the Coordination Game (paper §7.3, Figure 3)."""

    n_agents: tuple[int, ...] = (2, 3, 5)
    """Numbers of agents N; each needs a Coordination-Game difference bound (2, 3, 5, 10). N = 10 runs
    through factorised tables but costs ~20 GFLOP per seed and iteration: only a few seeds/iterations."""
    dags: tuple[str, ...] = DAG_CHOICES
    """Fixed DAGs: none (Uncorrelated), line (i-1 -> i), full (j -> i for all j < i)."""
    seeds: int = 50
    """Random initialisations per (N, DAG), all in one jit via vmap."""
    iters: int = 2000
    """Gradient-ascent iterations."""
    lr: float = 0.01
    """Learning rate η of θ <- θ + η ∇_θ V_θ(μ)."""
    eval_every: int = 10
    """POA and Nash-gap are recorded at iterations 0, k, 2k, ..., iters."""
    init_scale: float = 1.0
    """θ ~ init_scale · N(0, 1) at initialisation."""
    seed: int = 0
    """Master seed; seed b of a run draws from default_rng([seed, b])."""
    out: str = "results.json"
    """Path of the results (a list of records, one per (N, DAG))."""
    plot: str = "fig3.png"
    """Path of the Figure-3 PNG ("" for none)."""

    def __post_init__(self):
        valid_n = sorted(DEFAULT_DIFFERENCE_BOUNDS)
        if not self.n_agents:
            raise ValueError(f"n_agents is empty; choose from {valid_n}")
        for n in self.n_agents:
            if n not in DEFAULT_DIFFERENCE_BOUNDS:
                raise ValueError(
                    f"n_agents={n!r} has no Coordination-Game difference bound (Algorithm 1); valid: {valid_n}"
                )
        if len(set(self.n_agents)) != len(self.n_agents):
            raise ValueError(f"n_agents={list(self.n_agents)} repeats a value")
        if not self.dags:
            raise ValueError(f"dags is empty; choose from {list(DAG_CHOICES)}")
        for d in self.dags:
            if d not in DAG_CHOICES:
                raise ValueError(f"unknown dag {d!r}; valid choices: {', '.join(DAG_CHOICES)}")
        if len(set(self.dags)) != len(self.dags):
            raise ValueError(f"dags={list(self.dags)} repeats a value")
        for name in ("seeds", "iters", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
        for name in ("lr", "init_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name}={v!r} must be a positive finite number")
        for name in ("out", "plot"):  # fail now, not after minutes of training
            path = getattr(self, name)
            folder = os.path.dirname(os.path.abspath(path))
            if path and not os.path.isdir(folder):
                raise ValueError(f"{name}={path!r}: directory {folder!r} does not exist")


def run(cfg: TabularConfig, console=None) -> list[dict]:
    """All (N, DAG) combinations of `cfg`, with a rich progress bar; writes cfg.out and cfg.plot."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = console or Console()
    combos = [(n, d) for n in cfg.n_agents for d in cfg.dags]
    n_records = len(record_schedule(cfg.iters, cfg.eval_every)[0])
    num_chunks = min(10, n_records)
    chunks_per_combo = math.ceil(n_records / math.ceil(n_records / num_chunks))
    records, timings = [], []
    t_start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("start", total=len(combos) * chunks_per_combo)
        for n, d in combos:
            game = coordination_game(n)
            layout = named_layout(d, n)
            tag = f"N={n} {d:<4}"
            progress.update(task, description=f"{tag} compiling")

            def on_chunk(c, it, m, tag=tag):
                progress.update(
                    task, advance=1,
                    description=f"{tag} iter {it:>5}/{cfg.iters}  POA {m.poa[:, -1].mean():.3f}  "
                    f"gap {m.nash_gap[:, -1].mean():.3g}",
                )

            res = run_seeds(
                game, layout, cfg.seed, cfg.seeds, cfg.iters, cfg.lr, cfg.eval_every,
                cfg.init_scale, num_chunks=num_chunks, on_chunk=on_chunk,
                on_compiled=lambda tag=tag: progress.update(task, description=f"{tag} running"),
            )
            records.append(summarise(n, d, game, res))
            timings.append((n, d, res.compile_s, res.run_s))
    total_s = time.perf_counter() - t_start

    with open(cfg.out, "w") as f:
        json.dump(records, f)
    if cfg.plot:
        plot_fig3(records, cfg.plot)

    table = Table(title=f"{cfg.seeds} seeds x {cfg.iters} iterations, lr {cfg.lr} (mean ± stderr at the end)")
    for col in ("N", "DAG", "final POA", "final Nash-gap", "compile s", "run s"):
        table.add_column(col, justify="right")
    for r, (_, _, c_s, r_s) in zip(records, timings):
        p, g = np.asarray(r["final_poa"]), np.asarray(r["final_nash_gap"])
        sp, sg = _stderr(p[:, None])[0], _stderr(g[:, None])[0]
        table.add_row(str(r["n_agents"]), r["dag"], f"{p.mean():.4f} ± {sp:.4f}", f"{g.mean():.4f} ± {sg:.4f}",
                      f"{c_s:.1f}", f"{r_s:.1f}")
    console.print(table)
    wrote = cfg.out + (f" and {cfg.plot}" if cfg.plot else "")
    console.print(f"total {total_s:.1f} s (compile included); wrote {wrote}")
    return records


def main(argv: Sequence[str] | None = None) -> list[dict]:
    import tyro

    try:
        cfg = tyro.cli(TabularConfig, args=argv)
    except ValueError as e:  # from __post_init__, before anything is compiled (tyro usually reports it itself)
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return run(cfg)


if __name__ == "__main__":
    main()
