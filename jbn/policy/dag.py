"""The DAG of the Bayesian-network joint policy (docs/architecture.md §3).

A DAG over N agents is built as

    G = E ⊙ (Πᵀ T Π)

with
  * ``E`` ``[N, N]``: hard edges over agent pairs, sampled by straight-through Gumbel-Softmax
    (Jang et al. 2017) from two-class edge logits (paper Table 2: 2N² outputs of the edge net);
  * ``Π`` ``[N, N]``: a permutation, ``Π[p, i] = 1`` iff agent ``i`` sits at topological position
    ``p`` (rows = positions, columns = agents), sampled by Gumbel-Sinkhorn (Mena et al. 2018), made
    hard by an exact max-weight assignment and passed straight-through;
  * ``T`` ``[N, N]``: strictly upper triangular ones.

Convention: ``G[j, i] = 1`` iff agent ``j`` is a parent of agent ``i``. Since
``(Πᵀ T Π)[j, i] = [pos(j) < pos(i)]``, ``G[j, i] = E[j, i]·[pos(j) < pos(i)]``: parents always come
earlier, so every G is acyclic by construction (docs/architecture.md §3.2: the authors'
parametrisation of the paper's G = Πᵀ U Π, U = T ⊙ (Π E Πᵀ)).

Every function is pure, jittable and works on arbitrary leading batch axes ``[...]`` (e.g. ``[E]``
or ``[T, E]``); the two trailing axes are agent axes. The noise is an explicit argument
(``DagNoise``) so the PPO update can recompute the same stochastic G from stored noise
(docs/architecture.md §3.7).
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .dag_modes import (  # noqa: F401  (re-exported: what each mode is, said once)
    DAG_MODES, DECENTRALIZED, FIXED_MODES, DagMode, ModeTraits, check_mode, has_parents, is_learned, traits,
)


def _strict_upper(n: int) -> jnp.ndarray:
    """T: float32 [N, N], T[p, q] = 1 iff p < q."""
    return jnp.triu(jnp.ones((n, n), jnp.float32), k=1)


# ----------------------------------------------------------------------------------------------
# Fixed DAGs and density
# ----------------------------------------------------------------------------------------------


def fixed_dag(mode: str, n: int) -> jnp.ndarray:
    """The fixed DAG of a non-learned mode (docs/architecture.md §3.3, Π = I).

    Args:
      mode: ``"none"`` (no edges: independent MAPPO), ``"line"`` (edges i-1 -> i) or ``"full"``
        (j -> i for all j < i).
      n: number of agents N.

    Returns:
      G: float32 [N, N], ``G[j, i] = 1`` iff j is a parent of i.

    Raises:
      ValueError: for an unknown mode, or ``"context"`` (which is learned, see ``sample_dag``).
    """
    check_mode(mode)
    if mode == "none":
        return jnp.zeros((n, n), jnp.float32)
    if mode == "line":
        return jnp.eye(n, k=1, dtype=jnp.float32)
    if mode == "full":
        return _strict_upper(n)
    raise ValueError(
        f"DAG mode {mode!r} is learned, not fixed; fixed modes: {', '.join(FIXED_MODES)}"
    )


def density(g: jnp.ndarray) -> jnp.ndarray:
    """ρ(G) = Σ G / (N(N-1)/2) (docs/architecture.md §3.1; the quantity of the density regulariser, §4.2).

    Args:
      g: float [..., N, N].

    Returns:
      float32 [...]; 0 for N = 1 (no possible edge).
    """
    n = g.shape[-1]
    total = jnp.sum(g, axis=(-2, -1)).astype(jnp.float32)
    if n < 2:
        return jnp.zeros_like(total)
    return total / (n * (n - 1) / 2)


# ----------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------


class DagNoise(NamedTuple):
    """Standard Gumbel noise of one DAG sample (stored in the rollout buffer, docs/architecture.md §3.7).

    edge: float32 [..., N, N, 2], one Gumbel per (parent j, child i, class); class 1 = edge.
    perm: float32 [..., N, N], one Gumbel per (position p, agent i); None when the order is not learned
      (Π = I needs no noise, and the rollout buffer need not store it).
    """

    edge: jnp.ndarray
    perm: jnp.ndarray


def sample_noise(key: jax.Array, batch_shape: tuple, n: int, learn_order: bool = True) -> DagNoise:
    """Draws ``DagNoise`` (standard Gumbel, float32) with leading axes ``batch_shape``, N agents.

    One draw of [..., N, N, 3] split into edge (2 classes) and permutation noise: the values are
    independent either way, and a single draw compiles (and runs) the PRNG once. Without
    ``learn_order`` only the edge noise is drawn and ``perm`` is None.
    """
    if not learn_order:
        return DagNoise(edge=jax.random.gumbel(key, tuple(batch_shape) + (n, n, 2), jnp.float32), perm=None)
    draw = jax.random.gumbel(key, tuple(batch_shape) + (n, n, 3), jnp.float32)
    return DagNoise(edge=draw[..., :2], perm=draw[..., 2])


def _straight_through(hard: jnp.ndarray, soft: jnp.ndarray) -> jnp.ndarray:
    """Forward value ``hard`` (bit-exact), gradient of ``soft``.

    Written as hard + (soft - sg(soft)) rather than (hard + soft) - sg(soft): the bracket is
    exactly 0 in floating point, so the forward value stays exactly 0./1.
    """
    return hard + (soft - jax.lax.stop_gradient(soft))


# ----------------------------------------------------------------------------------------------
# Edges: straight-through Gumbel-Softmax
# ----------------------------------------------------------------------------------------------


def edges_straight_through(
    edge_logits: jnp.ndarray, gumbel: jnp.ndarray, tau: float = 1.0
) -> jnp.ndarray:
    """Hard edges E by straight-through Gumbel-Softmax (docs/architecture.md §3.4, edge net, temperature 1).

    Args:
      edge_logits: float [..., N, N, 2], logits of (no edge, edge) for the pair j -> i.
      gumbel: float [..., N, N, 2], standard Gumbel noise (``DagNoise.edge``).
      tau: Gumbel-Softmax temperature.

    Returns:
      E: float32 [..., N, N]; forward value exactly 0./1. (class 1 is the argmax), gradient that of
      the soft probability of class 1. The diagonal is 0 (no self-loops).
    """
    y = (edge_logits + gumbel) / tau
    soft = jax.nn.softmax(y, axis=-1)[..., 1]
    hard = (jnp.argmax(y, axis=-1) == 1).astype(soft.dtype)
    n = edge_logits.shape[-2]
    off_diag = 1.0 - jnp.eye(n, dtype=soft.dtype)
    return _straight_through(hard, soft) * off_diag


# ----------------------------------------------------------------------------------------------
# Permutation: Gumbel-Sinkhorn + exact assignment
# ----------------------------------------------------------------------------------------------


def _normalise(x: jnp.ndarray, axis: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One Sinkhorn half-step in log-space: (x - logsumexp(x, axis), its exponential).

    The max is subtracted before exp, so the result stays finite for any finite x."""
    m = jnp.max(x, axis=axis, keepdims=True)
    e = jnp.exp(x - m)
    s = jnp.sum(e, axis=axis, keepdims=True)
    return x - m - jnp.log(s), e / s


def _sinkhorn_forward(log_alpha, n_iters):
    """The iterations, keeping each half-step's normalised matrix (exp of its output) for the backward."""

    def round_(la, _):
        la, p_rows = _normalise(la, -1)
        la, p_cols = _normalise(la, -2)
        return la, (p_rows, p_cols)

    return jax.lax.scan(round_, log_alpha, None, length=n_iters)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _log_sinkhorn(log_alpha: jnp.ndarray, n_iters: int) -> jnp.ndarray:
    """``n_iters`` rounds of (row, column) log-normalisation of log_alpha [..., N, N].

    A custom VJP, the same derivative reverse-mode autodiff of the loop computes, only cheaper: a half-step
    y = x - logsumexp(x) has the VJP g ↦ g - P · Σ g (sum along the normalised axis), with P = exp(y) the
    normalised matrix the forward pass already computed; the backward is a reverse scan of these, without
    autodiff's bookkeeping of the max-shift and the logsumexp (1.6x faster: bench/RESULTS.md, "Context mode, second
    pass"; tested against autodiff of the plain loop and finite differences in tests/test_dag.py).
    Reverse mode only (no jvp)."""
    return _sinkhorn_forward(log_alpha, n_iters)[0]


def _log_sinkhorn_fwd(log_alpha, n_iters):
    return _sinkhorn_forward(log_alpha, n_iters)


def _log_sinkhorn_bwd(n_iters, normalised, g):
    def back(g, p):
        p_rows, p_cols = p
        g = g - p_cols * jnp.sum(g, axis=-2, keepdims=True)
        return g - p_rows * jnp.sum(g, axis=-1, keepdims=True), None

    return (jax.lax.scan(back, g, normalised, reverse=True)[0],)


_log_sinkhorn.defvjp(_log_sinkhorn_fwd, _log_sinkhorn_bwd)


def gumbel_sinkhorn(
    logits: jnp.ndarray, gumbel: jnp.ndarray, tau: float = 1.0, n_iters: int = 20
) -> jnp.ndarray:
    """Soft permutation by Gumbel-Sinkhorn (Mena et al. 2018, docs/architecture.md §3.4: τ = 1, 20 iterations).

    Alternates row and column normalisation of ``(logits + gumbel) / tau`` in log-space
    (logsumexp), which stays finite for small τ.

    Args:
      logits: float [..., N, N], rows = positions, columns = agents.
      gumbel: float [..., N, N], standard Gumbel noise (``DagNoise.perm``); zeros for no noise.
      tau: temperature (τ → 0 approaches the hard assignment).
      n_iters: number of (row, column) normalisation rounds (static, ≥ 1).

    Returns:
      float32 [..., N, N] approximately doubly stochastic; columns sum to 1 exactly (last step),
      rows up to the Sinkhorn convergence error. Differentiable in reverse mode (a custom VJP that equals
      autodiff through the iterations, see ``_log_sinkhorn``).
    """
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    log_alpha = (jnp.asarray(logits, jnp.float32) + gumbel) / tau
    return jnp.exp(_log_sinkhorn(log_alpha, int(n_iters)))


def _bounded_loop(cond, body, carry, max_steps: int):
    """`while cond: carry = body(carry)`, at most `max_steps` steps.

    A search adds one column per step and a flip walks back one column per step, so N + 1 steps always
    suffice; the step counter makes the loop end even on non-finite scores. A `lax.while_loop`, not a
    fixed trip count: under vmap a batched while_loop runs until its slowest element, and that is usually
    far fewer than N + 1 steps (most rows find a free column at once), so it costs a fraction of the fixed
    N(N + 1) search steps (bench/RESULTS.md, "Context mode with a learned order").
    """

    def keep_going(sc):
        steps, c = sc
        return (steps < max_steps) & cond(c)

    def step(sc):
        steps, c = sc
        return steps + 1, body(c)

    return jax.lax.while_loop(keep_going, step, (jnp.asarray(0, jnp.int32), carry))[1]


def _hungarian(score: jnp.ndarray) -> jnp.ndarray:
    """Exact max-weight assignment of one float [N, N] matrix; returns int32 [N], row -> column.

    Kuhn-Munkres with potentials, shortest-augmenting-path form (O(N³)): rows are added one at a
    time; for each, a Dijkstra-like search over columns on reduced costs finds the cheapest
    augmenting path, the dual potentials (u, v) are updated, and the matching is flipped along
    the path. Index 0 of every array is a dummy column/row (the root of the search), real rows
    and columns are 1..N. Ties are broken by the lowest column index (argmin), so any input gives
    a valid permutation. Float32 potentials: totals match the optimum up to round-off.

    Cost under vmap: the row loop is a ``fori_loop`` (N rounds); each round's search and flip are
    while loops of at most N + 1 steps (see `_bounded_loop`) that stop when every element of the batch
    is done, so a batch costs at most ~N² sequential loop steps of O(N) vector work.
    """
    n = score.shape[-1]
    big = jnp.asarray(jnp.inf, score.dtype)
    # Minimise cost = -score; pad a dummy row 0 and column 0.
    cost = jnp.zeros((n + 1, n + 1), score.dtype).at[1:, 1:].set(-score)
    cols = jnp.arange(n + 1)

    def add_row(i, carry):
        u, v, match, way = carry  # match[j]: row matched to column j (0 = free)
        match = match.at[0].set(i)
        minv = jnp.full((n + 1,), big)
        used = jnp.zeros((n + 1,), bool)  # columns in the search tree
        rows_in_tree = jnp.zeros((n + 1,), bool)  # = rows matched to used columns

        def search_cond(c):
            match, j0 = c[2], c[-1]
            return match[j0] != 0

        def search_step(c):
            u, v, match, way, minv, used, rows_in_tree, j0 = c
            used = used.at[j0].set(True)
            i0 = match[j0]
            rows_in_tree = rows_in_tree.at[i0].set(True)
            reduced = cost[i0] - u[i0] - v
            better = (~used) & (reduced < minv)
            minv = jnp.where(better, reduced, minv)
            way = jnp.where(better, j0, way)
            masked = jnp.where(used, big, minv)
            j1 = jnp.argmin(masked).astype(jnp.int32)
            delta = masked[j1]
            u = jnp.where(rows_in_tree, u + delta, u)
            v = jnp.where(used, v - delta, v)
            minv = jnp.where(used, minv, minv - delta)
            return u, v, match, way, minv, used, rows_in_tree, j1

        u, v, match, way, _, _, _, j0 = _bounded_loop(
            search_cond,
            search_step,
            (u, v, match, way, minv, used, rows_in_tree, jnp.asarray(0, jnp.int32)),
            n + 1,
        )

        def flip_cond(c):
            return c[1] != 0

        def flip_step(c):
            match, j0 = c
            j1 = way[j0]
            return match.at[j0].set(match[j1]), j1

        match, _ = _bounded_loop(flip_cond, flip_step, (match, j0), n + 1)
        return u, v, match, way

    init = (
        jnp.zeros((n + 1,), score.dtype),
        jnp.zeros((n + 1,), score.dtype),
        jnp.zeros((n + 1,), jnp.int32),
        jnp.zeros((n + 1,), jnp.int32),
    )
    _, _, match, _ = jax.lax.fori_loop(1, n + 1, add_row, init)
    # match[1:] are the rows (1-based) of columns 0..N-1; invert to row -> column.
    return jnp.zeros((n,), jnp.int32).at[match[1:] - 1].set(cols[:n].astype(jnp.int32))


# Up to this many agents the assignment enumerates all N! orders (120 at N = 5): one gather, a sum and an
# argmax, no loop at all. Above it the Hungarian loops are cheaper than the N!·N table.
ENUMERATE_MAX_N = 5


@functools.lru_cache(maxsize=None)
def _all_permutations(n: int) -> np.ndarray:
    """int32 [N!, N], every permutation of 0..N-1 in lexicographic order (the identity first)."""
    return np.asarray(list(itertools.permutations(range(n))), np.int32)


def _enumerate_assignment(score: jnp.ndarray) -> jnp.ndarray:
    """Exact max-weight assignment by enumeration: score [B, N, N] -> int32 [B, N], row -> column.

    Totals of all N! permutations at once; ties go to the lexicographically first permutation."""
    perms = jnp.asarray(_all_permutations(score.shape[-1]))  # [P, N]
    rows = jnp.arange(score.shape[-1])
    totals = score[:, rows, perms].sum(-1)  # [B, P]: Σ_p score[b, p, perm[p]]
    return perms[jnp.argmax(totals, axis=-1)]


@jax.jit
def linear_assignment(score: jnp.ndarray) -> jnp.ndarray:
    """Exact maximum-weight perfect matching (as ``scipy.optimize.linear_sum_assignment(score,
    maximize=True)``), jittable and vmappable.

    Args:
      score: float [..., N, N]; leading axes are batch axes. Must be finite.

    Returns:
      perm: int32 [..., N], ``perm[p]`` = column assigned to row p (a permutation of 0..N-1).
      Not differentiable (integer output); the score is ``stop_gradient``-ed.

    Jitted here so that eager callers compile the loops once per shape; inside an outer jit or
    vmap it inlines as usual.
    """
    score = jax.lax.stop_gradient(jnp.asarray(score, jnp.float32))
    batch, n = score.shape[:-2], score.shape[-1]
    flat = score.reshape((-1, n, n))
    perm = _enumerate_assignment(flat) if n <= ENUMERATE_MAX_N else jax.vmap(_hungarian)(flat)
    return perm.reshape(batch + (n,))


def assignment_matrix(score: jnp.ndarray) -> jnp.ndarray:
    """One-hot form of ``linear_assignment``: float32 [..., N, N], 1 at (p, perm[p])."""
    n = score.shape[-1]
    return jax.nn.one_hot(linear_assignment(score), n, dtype=jnp.float32)


def permutation_straight_through(
    perm_logits: jnp.ndarray, gumbel: jnp.ndarray, tau: float = 1.0, n_iters: int = 20
) -> jnp.ndarray:
    """Hard permutation Π with Gumbel-Sinkhorn straight-through gradients (docs/architecture.md §3.4).

    The hard matrix is the exact max-weight assignment of ``(perm_logits + gumbel) / tau``. This is
    the same as the assignment of log(soft): every Sinkhorn step subtracts a per-row or per-column
    constant, which shifts all permutations' totals equally. Using the un-normalised scores makes
    the hard sample independent of ``n_iters`` and of Sinkhorn round-off (the Gumbel-Matching
    sample of Mena et al. 2018).

    Args:
      perm_logits: float [..., N, N], rows = positions, columns = agents.
      gumbel: float [..., N, N] (``DagNoise.perm``).
      tau, n_iters: Gumbel-Sinkhorn temperature and iterations.

    Returns:
      Π: float32 [..., N, N], forward value an exact permutation matrix (Π[p, i] = 1 iff agent i
      is at position p), gradient that of the Sinkhorn matrix.
    """
    soft = gumbel_sinkhorn(perm_logits, gumbel, tau, n_iters)
    hard = assignment_matrix((perm_logits + gumbel) / tau)
    return _straight_through(hard, soft)


# ----------------------------------------------------------------------------------------------
# Composition
# ----------------------------------------------------------------------------------------------


def compose(e: jnp.ndarray, perm: jnp.ndarray) -> jnp.ndarray:
    """G = E ⊙ (Πᵀ T Π) (docs/architecture.md §3.2), so G[j, i] = E[j, i]·[pos(j) < pos(i)].

    Args:
      e: float [..., N, N] edges over agent pairs (j -> i).
      perm: float [..., N, N] permutation, rows = positions, columns = agents.

    Returns:
      G: float32 [..., N, N]. For exact 0/1 inputs the forward value is exactly 0/1.
    """
    n = e.shape[-1]
    # (Πᵀ T Π)[j, i] = Σ_{p, q} Π[p, j] T[p, q] Π[q, i]; HIGHEST keeps the 0/1 products exact on
    # accelerators with reduced-precision matmul defaults.
    order_mask = jnp.einsum(
        "...pj,pq,...qi->...ji", perm, _strict_upper(n), perm,
        precision=jax.lax.Precision.HIGHEST,
    )
    return e * order_mask


def order_of(perm: jnp.ndarray) -> jnp.ndarray:
    """The agent at each topological position: int32 [..., N], ``order[p] = argmax_i Π[p, i]``."""
    return jnp.argmax(perm, axis=-1).astype(jnp.int32)


def sample_dag(
    mode: str,
    n: int,
    noise: DagNoise,
    edge_logits: jnp.ndarray | None = None,
    perm_logits: jnp.ndarray | None = None,
    learn_order: bool = True,
    tau: float = 1.0,
    n_iters: int = 20,
    differentiable: bool = True,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The DAG of one joint-policy step (docs/architecture.md §3.2-3.4).

    Args:
      mode: one of ``DAG_MODES``.
      n: number of agents N.
      noise: ``DagNoise`` with leading axes [...] (its batch shape sets the output's).
      edge_logits: float [..., N, N, 2] (edge net output); required for ``"context"``.
      perm_logits: float [..., N, N] (permutation net output); required for ``"context"`` with
        ``learn_order``.
      learn_order: ``"context"`` only; False keeps Π = I (the paper's SMAC setting).
      tau, n_iters: temperatures (Gumbel-Softmax and Gumbel-Sinkhorn) and Sinkhorn iterations.
      differentiable: False computes the forward value only (sampling actions: nothing is differentiated
        there): the same G and order, bit for bit, without the soft parts the straight-through gradients
        need (no Gumbel-Sinkhorn iterations, no softmax).

    Returns:
      G: float32 [..., N, N], exact 0/1 forward values, straight-through gradients into
        ``edge_logits`` and ``perm_logits``.
      order: int32 [..., N], the agent at each position (identity for fixed modes / Π = I);
        sampling agents in this order respects G.
    """
    check_mode(mode)
    batch = noise.edge.shape[:-3]
    perm_shape = None if noise.perm is None else noise.perm.shape
    if noise.edge.shape[-3:] != (n, n, 2) or (perm_shape is not None and perm_shape != batch + (n, n)):
        raise ValueError(
            f"noise shapes edge {noise.edge.shape}, perm {perm_shape} do not match "
            f"N = {n} (expected [..., {n}, {n}, 2] and [..., {n}, {n}])"
        )
    identity_order = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), batch + (n,))
    if not is_learned(mode):
        return jnp.broadcast_to(fixed_dag(mode, n), batch + (n, n)), identity_order

    if edge_logits is None:
        raise ValueError("DAG mode 'context' needs edge_logits [..., N, N, 2]")
    if differentiable:
        e = edges_straight_through(edge_logits, noise.edge, tau)
    else:  # the forward value of edges_straight_through: class 1 is the argmax, no self-loops
        e = (jnp.argmax(edge_logits + noise.edge, axis=-1) == 1).astype(jnp.float32) * (1.0 - jnp.eye(n))
    if not learn_order:  # Π = I: G = E ⊙ T (compose with the identity, without the matmuls)
        return e * _strict_upper(n), identity_order
    if perm_logits is None or noise.perm is None:
        raise ValueError("DAG mode 'context' with learn_order=True needs perm_logits and noise.perm [..., N, N]")
    if differentiable:
        perm = permutation_straight_through(perm_logits, noise.perm, tau, n_iters)
    else:  # the forward value of permutation_straight_through: the exact assignment alone
        perm = assignment_matrix((perm_logits + noise.perm) / tau)
    return compose(e, perm), order_of(perm)
