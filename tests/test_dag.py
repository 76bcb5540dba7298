"""Tests of jbn.policy.dag against independent computations (scipy assignment, numpy topological sort).

Compilation dominates the runtime of these tests, so they
  * reuse a few shapes ([20, N, N] for the assignment, [64, N, N] for DAGs), so that each jitted
    function compiles once per shape for the whole file;
  * compile with XLA's backend optimisation off (`_jit`): same program and results, half the
    compile time;
  * draw random inputs with numpy instead of compiling jax's PRNG for every shape.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from jbn.policy import dag

BATCH = 20  # matrices per assignment test
DAG_BATCH = 64  # sampled DAGs per N


def _jit(fn, **kwargs):
    return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0}, **kwargs)


_assign = _jit(dag.linear_assignment)  # leading axes are vmapped inside linear_assignment
_sample_dag = _jit(dag.sample_dag, static_argnames=("mode", "n", "learn_order", "n_iters"))


def _scipy_total(score: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(score, maximize=True)
    return float(score[rows, cols].sum())


def _assert_permutation(perm: np.ndarray) -> None:
    assert sorted(perm.tolist()) == list(range(perm.shape[-1])), perm


def _assert_optimal(scores: np.ndarray, perms: np.ndarray, atol: float = 1e-4) -> None:
    """Each perm is a permutation whose total equals scipy's optimum. scores [B, N, N]."""
    n = scores.shape[-1]
    for score, perm in zip(scores, perms):
        _assert_permutation(perm)
        np.testing.assert_allclose(score[np.arange(n), perm].sum(), _scipy_total(score), atol=atol)


def _numpy_noise(rng: np.random.Generator, batch_shape: tuple, n: int) -> dag.DagNoise:
    return dag.DagNoise(
        edge=jnp.asarray(rng.gumbel(size=batch_shape + (n, n, 2)), jnp.float32),
        perm=jnp.asarray(rng.gumbel(size=batch_shape + (n, n)), jnp.float32),
    )


# ---------------------------------------------------------------------------------------------
# Exact assignment
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 11))
def test_linear_assignment_matches_scipy_under_jit_and_vmap(n):
    scores = np.random.default_rng(n).normal(size=(BATCH, n, n)).astype(np.float32)
    perms = np.asarray(_assign(scores))
    assert perms.shape == (BATCH, n) and perms.dtype == np.int32
    _assert_optimal(scores, perms)


def test_linear_assignment_under_outer_vmap():
    scores = np.random.default_rng(11).normal(size=(BATCH, 4, 4)).astype(np.float32)
    perms = np.asarray(_jit(jax.vmap(dag.linear_assignment))(scores))
    _assert_optimal(scores, perms)


def test_linear_assignment_several_leading_axes():
    scores = np.random.default_rng(12).normal(size=(2, 3, 4, 4)).astype(np.float32)
    perms = np.asarray(_assign(scores))
    assert perms.shape == (2, 3, 4)
    _assert_optimal(scores.reshape(6, 4, 4), perms.reshape(6, 4))


def test_linear_assignment_ties():
    rng = np.random.default_rng(13)
    n = 6
    tied = np.concatenate(
        [
            np.ones((1, n, n), np.float32),  # every permutation is optimal
            np.tile(np.arange(n, dtype=np.float32), (1, n, 1)),  # identical rows
            np.zeros((1, n, n), np.float32),
            rng.integers(0, 3, size=(BATCH - 3, n, n)).astype(np.float32),  # many ties
        ]
    )
    _assert_optimal(tied, np.asarray(_assign(tied)), atol=0.0)
    single = np.zeros((BATCH, 1, 1), np.float32)
    _assert_optimal(single, np.asarray(_assign(single)), atol=0.0)


_hungarian = _jit(jax.vmap(dag._hungarian))
_enumerate = _jit(dag._enumerate_assignment)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_both_assignment_algorithms_match_scipy_at_small_n(n):
    # linear_assignment enumerates the N! orders up to ENUMERATE_MAX_N: the Hungarian must stay exact there too.
    rng = np.random.default_rng(100 + n)
    scores = np.concatenate([rng.normal(size=(BATCH, n, n)), rng.integers(0, 3, size=(BATCH, n, n))]).astype(np.float32)
    _assert_optimal(scores, np.asarray(_hungarian(scores)))
    _assert_optimal(scores, np.asarray(_enumerate(scores)))


def test_assignment_matrix_is_one_hot_of_perm():
    scores = np.random.default_rng(14).normal(size=(BATCH, 4, 4)).astype(np.float32)
    perms = np.asarray(_assign(scores))
    expected = np.zeros((BATCH, 4, 4), np.float32)
    for b, perm in enumerate(perms):
        expected[b, np.arange(4), perm] = 1.0
    np.testing.assert_array_equal(np.asarray(_jit(dag.assignment_matrix)(scores)), expected)


# ---------------------------------------------------------------------------------------------
# Noise and Gumbel-Sinkhorn
# ---------------------------------------------------------------------------------------------


def test_sample_noise_shapes_and_distribution():
    sample = _jit(dag.sample_noise, static_argnums=(1, 2))
    noise = sample(jax.random.PRNGKey(0), (64, 2), 4)
    assert noise.edge.shape == (64, 2, 4, 4, 2) and noise.perm.shape == (64, 2, 4, 4)
    assert noise.edge.dtype == jnp.float32 and noise.perm.dtype == jnp.float32
    for draw in (np.asarray(noise.edge), np.asarray(noise.perm)):
        # Standard Gumbel: mean = Euler-Mascheroni constant, variance = π²/6.
        assert abs(draw.mean() - np.euler_gamma) < 0.1
        assert abs(draw.var() - np.pi**2 / 6) < 0.3
    assert np.abs(np.asarray(noise.edge[..., 0]) - np.asarray(noise.perm)).max() > 0.1
    other = sample(jax.random.PRNGKey(1), (64, 2), 4)
    assert np.abs(np.asarray(other.perm) - np.asarray(noise.perm)).max() > 0.1
    again = sample(jax.random.PRNGKey(0), (64, 2), 4)
    np.testing.assert_array_equal(np.asarray(again.perm), np.asarray(noise.perm))


def test_gumbel_sinkhorn_doubly_stochastic():
    rng = np.random.default_rng(20)
    logits = rng.normal(size=(8, 5, 5)).astype(np.float32)
    noise = _numpy_noise(rng, (8,), 5)
    sinkhorn = _jit(dag.gumbel_sinkhorn, static_argnames=("n_iters",))
    soft = np.asarray(sinkhorn(logits, noise.perm, tau=1.0, n_iters=200))
    assert (soft >= 0).all()
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(soft.sum(-2), 1.0, atol=1e-4)
    # Few iterations leave the rows visibly unnormalised: the check above is not vacuous.
    rough = np.asarray(sinkhorn(3.0 * logits, noise.perm, tau=1.0, n_iters=1))
    assert np.abs(rough.sum(-1) - 1.0).max() > 1e-2


def _numpy_sinkhorn(log_alpha: np.ndarray, n_iters: int) -> np.ndarray:
    """Float64 reference: exp of n_iters rounds of (row, column) log-normalisation."""
    la = np.asarray(log_alpha, np.float64)
    for _ in range(n_iters):
        for axis in (-1, -2):
            m = la.max(axis, keepdims=True)
            la = la - m - np.log(np.exp(la - m).sum(axis, keepdims=True))
    return np.exp(la)


@pytest.mark.parametrize("n_iters", [1, 3, 20])
def test_gumbel_sinkhorn_gradient_matches_finite_differences(n_iters):
    # The custom VJP against central differences of the float64 numpy loop, for the weighted sum Σ w ⊙ S.
    rng = np.random.default_rng(22)
    logits = (2.0 * rng.normal(size=(2, 4, 4))).astype(np.float32)
    gumbel = rng.gumbel(size=(2, 4, 4)).astype(np.float32)
    w = rng.normal(size=(2, 4, 4))
    tau = 0.7
    grad = jax.jit(jax.grad(lambda l: (dag.gumbel_sinkhorn(l, gumbel, tau, n_iters) * w).sum()))(logits)
    np.testing.assert_allclose(np.asarray(dag.gumbel_sinkhorn(logits, gumbel, tau, n_iters)),
                               _numpy_sinkhorn((logits + gumbel) / tau, n_iters), rtol=1e-5, atol=1e-6)
    eps = 1e-5
    fd = np.zeros(logits.shape)
    base = logits.astype(np.float64)
    for idx in np.ndindex(*logits.shape):
        up, down = base.copy(), base.copy()
        up[idx] += eps
        down[idx] -= eps
        f = lambda x: (_numpy_sinkhorn((x + gumbel) / tau, n_iters) * w).sum()  # noqa: E731
        fd[idx] = (f(up) - f(down)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-3, atol=1e-4)


def test_gumbel_sinkhorn_gradient_matches_autodiff_of_the_loop():
    # The custom VJP == reverse-mode autodiff through the plain loop (jax.nn.logsumexp), at a PPO-like batch
    # shape [T, E, N, N] with large logits, and through the noise too.
    rng = np.random.default_rng(23)
    logits = (5.0 * rng.normal(size=(3, 2, 6, 6))).astype(np.float32)
    gumbel = rng.gumbel(size=(3, 2, 6, 6)).astype(np.float32)
    w = rng.normal(size=(3, 2, 6, 6)).astype(np.float32)

    def plain(l, g):
        la = (l + g) / 1.0
        for _ in range(20):
            la = la - jax.nn.logsumexp(la, axis=-1, keepdims=True)
            la = la - jax.nn.logsumexp(la, axis=-2, keepdims=True)
        return (jnp.exp(la) * w).sum()

    ours = jax.jit(jax.grad(lambda l, g: (dag.gumbel_sinkhorn(l, g) * w).sum(), argnums=(0, 1)))(logits, gumbel)
    ref = jax.jit(jax.grad(plain, argnums=(0, 1)))(logits, gumbel)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_gumbel_sinkhorn_rejects_zero_iterations():
    with pytest.raises(ValueError, match="n_iters must be >= 1, got 0"):
        dag.gumbel_sinkhorn(np.zeros((3, 3), np.float32), np.zeros((3, 3), np.float32), n_iters=0)


def test_gumbel_sinkhorn_small_tau_approaches_assignment():
    rng = np.random.default_rng(21)
    n = 5
    # A random permutation bonus of 2 over uniform [0, 0.5) clutter makes the optimum unique.
    targets = np.stack([np.eye(n, dtype=np.float32)[rng.permutation(n)] for _ in range(BATCH)])
    logits = 2.0 * targets + rng.uniform(0, 0.5, size=(BATCH, n, n)).astype(np.float32)
    sinkhorn = _jit(dag.gumbel_sinkhorn, static_argnames=("n_iters",))
    zeros = np.zeros_like(logits)
    cold = np.asarray(sinkhorn(logits, zeros, tau=0.05, n_iters=50))
    np.testing.assert_allclose(cold, targets, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(_assign(logits)), targets.argmax(-1))
    # At τ = 1 the same matrices are far from hard, so the tolerance above is meaningful.
    warm = np.asarray(sinkhorn(logits, zeros, tau=1.0, n_iters=50))
    assert np.abs(warm - targets).max() > 0.1


# ---------------------------------------------------------------------------------------------
# Sampled DAGs
# ---------------------------------------------------------------------------------------------


def _context_inputs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    noise = _numpy_noise(rng, (DAG_BATCH,), n)
    edge_logits = jnp.asarray(rng.normal(size=(DAG_BATCH, n, n, 2)), jnp.float32)
    perm_logits = jnp.asarray(2.0 * rng.normal(size=(DAG_BATCH, n, n)), jnp.float32)
    return noise, edge_logits, perm_logits


def _kahn_is_acyclic(g: np.ndarray) -> bool:
    """Kahn's topological sort consumes every node iff g is acyclic."""
    g = g.astype(int)
    indeg = g.sum(0)
    ready = [i for i in range(len(g)) if indeg[i] == 0]
    seen = 0
    while ready:
        j = ready.pop()
        seen += 1
        for i in np.nonzero(g[j])[0]:
            indeg[i] -= 1
            if indeg[i] == 0:
                ready.append(i)
    return seen == len(g)


def test_kahn_check_detects_a_cycle():
    assert _kahn_is_acyclic(np.triu(np.ones((3, 3)), k=1))
    assert not _kahn_is_acyclic(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]]))


@pytest.mark.parametrize("n", range(2, 8))
def test_context_dags_are_acyclic_and_respect_order(n):
    noise, edge_logits, perm_logits = _context_inputs(n, seed=n)
    g, order = _sample_dag(
        mode="context", n=n, noise=noise, edge_logits=edge_logits, perm_logits=perm_logits
    )
    g, order = np.asarray(g), np.asarray(order)
    assert g.shape == (DAG_BATCH, n, n) and order.shape == (DAG_BATCH, n)
    assert order.dtype == np.int32
    assert set(np.unique(g)) <= {0.0, 1.0}
    assert g.sum() > 0  # the test would be vacuous on empty graphs
    assert len({tuple(o) for o in order}) > 1  # several orders are sampled
    # Hard edges recomputed in numpy: class 1 wins the perturbed argmax, no self-loops.
    perturbed = np.asarray(edge_logits + noise.edge)
    edges = (perturbed[..., 1] > perturbed[..., 0]) * (1.0 - np.eye(n))
    for b in range(DAG_BATCH):
        _assert_permutation(order[b])
        assert (np.diag(g[b]) == 0).all()
        assert _kahn_is_acyclic(g[b])
        assert not np.linalg.matrix_power(g[b].astype(np.int64), n).any()  # nilpotent
        pos = np.argsort(order[b])  # pos[agent] = position
        for j, i in zip(*np.nonzero(g[b])):
            assert pos[j] < pos[i]
        # G keeps exactly the sampled edges that agree with the order.
        np.testing.assert_array_equal(g[b], edges[b] * (pos[:, None] < pos[None, :]))


def test_sample_dag_vmap_equals_batched():
    n = 4
    noise, edge_logits, perm_logits = _context_inputs(n, seed=n)  # same shapes as above
    batched = _sample_dag(
        mode="context", n=n, noise=noise, edge_logits=edge_logits, perm_logits=perm_logits
    )
    mapped = _jit(jax.vmap(lambda z, e, p: dag.sample_dag("context", n, z, e, p)))(
        noise, edge_logits, perm_logits
    )
    for a, b in zip(batched, mapped):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_context_without_learned_order_is_upper_triangular():
    n = 5
    noise = _numpy_noise(np.random.default_rng(30), (16,), n)
    edge_logits = jnp.zeros((16, n, n, 2))
    g, order = _sample_dag(
        mode="context", n=n, noise=noise, edge_logits=edge_logits, learn_order=False
    )
    np.testing.assert_array_equal(np.asarray(order), np.tile(np.arange(n), (16, 1)))
    g = np.asarray(g)
    assert g.sum() > 0
    np.testing.assert_array_equal(g, np.triu(g, k=1))


def test_fixed_dags_n3():
    np.testing.assert_array_equal(np.asarray(dag.fixed_dag("none", 3)), np.zeros((3, 3)))
    np.testing.assert_array_equal(
        np.asarray(dag.fixed_dag("line", 3)), [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    )
    np.testing.assert_array_equal(
        np.asarray(dag.fixed_dag("full", 3)), [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    )
    noise = _numpy_noise(np.random.default_rng(31), (2, 4), 3)
    g, order = dag.sample_dag("line", 3, noise)
    assert g.shape == (2, 4, 3, 3) and order.shape == (2, 4, 3)
    np.testing.assert_array_equal(np.asarray(g[1, 2]), [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(np.asarray(order[0, 0]), [0, 1, 2])


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_density(n):
    assert float(dag.density(dag.fixed_dag("full", n))) == pytest.approx(1.0)
    assert float(dag.density(dag.fixed_dag("line", n))) == pytest.approx(2.0 / n)
    assert float(dag.density(dag.fixed_dag("none", n))) == 0.0
    stacked = jnp.stack([dag.fixed_dag("full", n), dag.fixed_dag("none", n)])
    np.testing.assert_allclose(np.asarray(dag.density(stacked)), [1.0, 0.0])


def test_density_single_agent():
    assert float(dag.density(jnp.zeros((1, 1)))) == 0.0


# ---------------------------------------------------------------------------------------------
# Straight-through gradients
# ---------------------------------------------------------------------------------------------


def test_straight_through_forward_exact_and_gradients_flow():
    n = 4
    rng = np.random.default_rng(40)
    noise = _numpy_noise(rng, (BATCH,), n)
    edge_logits = jnp.asarray(rng.normal(size=(BATCH, n, n, 2)), jnp.float32)
    perm_logits = jnp.asarray(rng.normal(size=(BATCH, n, n)), jnp.float32)
    weights = jnp.asarray(rng.normal(size=(n, n)), jnp.float32)

    def loss(el, pl):
        g, _ = dag.sample_dag("context", n, noise, el, pl, learn_order=True)
        return jnp.sum(g * weights)

    @_jit
    def run(el, pl):
        e = dag.edges_straight_through(el, noise.edge)
        pi = dag.permutation_straight_through(pl, noise.perm)
        return e, pi, jax.grad(loss, argnums=(0, 1))(el, pl)

    e, pi, grads = run(edge_logits, perm_logits)
    e, pi = np.asarray(e), np.asarray(pi)

    assert set(np.unique(e)) <= {0.0, 1.0}
    perturbed = np.asarray(edge_logits + noise.edge)
    np.testing.assert_array_equal(e, (perturbed[..., 1] > perturbed[..., 0]) * (1 - np.eye(n)))

    assert set(np.unique(pi)) <= {0.0, 1.0}
    np.testing.assert_array_equal(pi.sum(-1), 1.0)
    np.testing.assert_array_equal(pi.sum(-2), 1.0)
    # Hard Π is the exact max-weight assignment of the perturbed logits.
    _assert_optimal(np.asarray(perm_logits + noise.perm), pi.argmax(-1), atol=1e-5)

    for grad in grads:
        grad = np.asarray(grad)
        assert np.isfinite(grad).all()
        assert np.abs(grad).max() > 1e-6


@pytest.mark.parametrize("n,learn_order", [(3, True), (5, True), (7, True), (4, False)])
def test_values_only_dag_equals_the_straight_through_forward(n, learn_order):
    # Sampling uses differentiable=False (no Sinkhorn, no softmax): G and the order must be bit-identical.
    rng = np.random.default_rng(200 + n)
    noise = _numpy_noise(rng, (DAG_BATCH,), n)
    if not learn_order:
        noise = noise._replace(perm=None)
    edge_logits = jnp.asarray(2 * rng.normal(size=(DAG_BATCH, n, n, 2)), jnp.float32)
    perm_logits = jnp.asarray(2 * rng.normal(size=(DAG_BATCH, n, n)), jnp.float32) if learn_order else None
    fn = _jit(dag.sample_dag, static_argnames=("mode", "n", "learn_order", "differentiable"))
    g1, o1 = fn("context", n, noise, edge_logits, perm_logits, learn_order=learn_order)
    g2, o2 = fn("context", n, noise, edge_logits, perm_logits, learn_order=learn_order, differentiable=False)
    np.testing.assert_array_equal(np.asarray(g1), np.asarray(g2))
    np.testing.assert_array_equal(np.asarray(o1), np.asarray(o2))
    assert 0 < float(np.asarray(g2).mean()) < 1  # a non-trivial sample


def test_unknown_mode_raises():
    with pytest.raises(ValueError) as info:
        dag.fixed_dag("bogus", 3)
    message = str(info.value)
    assert "bogus" in message
    for mode in dag.DAG_MODES:
        assert mode in message
    noise = _numpy_noise(np.random.default_rng(0), (), 3)
    with pytest.raises(ValueError, match="bogus"):
        dag.sample_dag("bogus", 3, noise)
