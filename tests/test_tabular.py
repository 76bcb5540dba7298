"""Tests of jbn.tabular (issue 4) against independent computations.

Independent references written here: the Coordination Game's tables rebuilt from App. B.1 in numpy, closed-form
values of stationary policies, numpy linear solves, brute-force search over deterministic (local or joint)
policies, Lemma 5.1 vs autodiff, a Python loop over seeds vs the vmapped run, the summed-μ objective vs
2^N times the uniform one (numpy finite differences, and runs at 2^N times the step). Everything in float64
(`jax.enable_x64` as a context per test, as the run itself uses).
"""

import functools
import itertools
import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn import tabular as T
from jbn.tabular import cli

GAMMA = 0.95
EPS = 0.1
BOUND = {2: 1, 3: 1, 5: 2}


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


@functools.lru_cache(maxsize=None)
def _jitted(n, dag):
    """Jitted closures per (N, DAG), shared by the tests so each compiles once (the suite is compile-bound)."""
    layout, game = T.named_layout(dag, n), T.coordination_game(n)
    return SimpleNamespace(
        layout=layout,
        game=game,
        value_of_local=jax.jit(lambda loc: T.policy_value(T.joint_policy(loc, layout), game).mean()),
        value=jax.jit(lambda th: T.value_mu(th, game, layout)),
        grad=jax.jit(jax.grad(lambda th: T.value_mu(th, game, layout))),
        lemma51=jax.jit(lambda th: T.lemma51_gradient(th, game, layout)),
        grad_sum=jax.jit(jax.grad(lambda th: T.value_mu(th, game, layout, mu="sum"))),
        lemma51_sum=jax.jit(lambda th: T.lemma51_gradient(th, game, layout, mu="sum")),
        evaluate_local=jax.jit(lambda loc: T.evaluate_local(loc, game, layout)),
        best_response=jax.jit(lambda loc: T.best_response_values(loc, game, layout)),
    )


# ---------------------------------------------------------------------------------------------
# Independent numpy reference of the Coordination Game (App. B.1) and of policy evaluation
# ---------------------------------------------------------------------------------------------


def _bits(n):
    return (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # [2^N, N], bit i = agent i


def _reward(n):
    """Algorithm 1 of App. B.1, per state."""
    out = []
    for s in _bits(n):
        zeros, ones = int((s == 0).sum()), int((s == 1).sum())
        if abs(zeros - ones) <= BOUND[n]:
            out.append(1.0 if zeros < ones else 0.0)
        else:
            out.append(3.0 if zeros > ones else 2.0)
    return np.array(out)


def _transition(n):
    """P[s, a, s'] = Π_i P(s'_i | a_i), P(s'_i = 0 | a_i = 0) = 1 − ε, P(s'_i = 0 | a_i = 1) = ε."""
    b = _bits(n)
    same = b[:, None, :] == b[None, :, :]  # [a, s', N]
    pa = np.prod(np.where(same, 1 - EPS, EPS), axis=-1)
    return np.broadcast_to(pa, (2**n, 2**n, 2**n))


def _np_joint(local, layout):
    """π(a|s) = Π_i π_i(a_i | s, c_i(a)) with explicit loops over agents and joint actions."""
    n = layout.num_agents
    S = local[0].shape[0]
    pi = np.ones((S, 2**n))
    for a, abits in enumerate(_bits(n)):
        for i in range(n):
            c = sum(int(abits[p]) << k for k, p in enumerate(layout.parents[i]))
            pi[:, a] *= np.asarray(local[i])[:, c, abits[i]]
    return pi


def _np_value_mu(pi, n):
    P, R = _transition(n), _reward(n)
    p_pi = np.einsum("sa,sat->st", pi, P)
    return np.linalg.solve(np.eye(2**n) - GAMMA * p_pi, R).mean()


def _deterministic_local(choice, num_configs):
    """choice: int [S] or [S, C] of actions -> probabilities [S, C, 2]."""
    choice = np.broadcast_to(np.asarray(choice).reshape(choice.shape[0], -1), (choice.shape[0], num_configs))
    return np.stack([1 - choice, choice], axis=-1).astype(np.float64)


def _random_local(rng, layout, S, scale=1.0):
    theta = tuple(scale * rng.standard_normal((S, c, 2)) for c in layout.num_configs)
    return theta, tuple(np.asarray(x) for x in T.local_policies(tuple(map(jnp.asarray, theta))))


# ---------------------------------------------------------------------------------------------
# V_π(μ)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5])
def test_game_tables_match_app_b1_and_the_env(n):
    from envs_jax.coordination_game import CoordinationGame

    game = T.coordination_game(n)
    assert game.P.shape == (1, 2**n, 2**n)  # state-independent, stored once
    np.testing.assert_allclose(np.broadcast_to(game.P, _transition(n).shape), _transition(n), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(game.R, _reward(n))
    P32, R32 = CoordinationGame(n).exact_tables()  # float32
    np.testing.assert_allclose(np.broadcast_to(game.P, P32.shape), P32, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(game.R, R32)


def test_dense_state_dependent_tables_give_the_same_game():
    """make_game with the dense [S, A, S'] table (the general path) equals the stored [1, A, S'] one."""
    n = 3
    dense = T.make_game(np.array(_transition(n)), _reward(n))
    game = T.coordination_game(n)
    assert dense.P.shape == (1, 8, 8)  # detected as state-independent
    assert dense.v_opt == pytest.approx(game.v_opt, abs=1e-12)
    P = np.array(_transition(n))
    P[0] = P[1]  # still state-independent...
    P[0, 0] = P[0, 7]  # ...no longer: state 0 under joint action 0 moves like joint action 7
    general = T.make_game(P, _reward(n))
    assert general.P.shape == (8, 8, 8)
    layout = T.named_layout("line", n)
    _, local = _random_local(np.random.default_rng(0), layout, 8)
    pi = _np_joint(local, layout)
    p_pi = np.einsum("sa,sat->st", pi, P)
    want = np.linalg.solve(np.eye(8) - GAMMA * p_pi, _reward(n)).mean()
    got = float(T.policy_value(T.joint_policy(tuple(map(jnp.asarray, local)), layout), general).mean())
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("n, dag", [(2, "none"), (2, "line"), (3, "none"), (3, "line"), (3, "full"), (5, "full")])
def test_value_of_hand_built_policies(n, dag):
    """Uniform, all-1 and all-0 policies: numpy solve and the closed form of a stationary state distribution.

    Under "everyone plays x" every agent's next local state is x w.p. 1 − ε, independently, so
    V(μ) = E_μ R + γ/(1−γ) E_{s ~ Bernoulli^N} R; under the uniform policy s' is uniform: V(μ) = E_unif R/(1−γ).
    """
    f = _jitted(n, dag)
    layout = f.layout
    S, R, bits = 2**n, _reward(n), _bits(n)

    def stationary(p_one):
        w = np.prod(np.where(bits == 1, p_one, 1 - p_one), axis=1)
        return R.mean() + GAMMA / (1 - GAMMA) * (w * R).sum()

    cases = {
        "uniform": (tuple(np.full((S, c, 2), 0.5) for c in layout.num_configs), R.mean() / (1 - GAMMA)),
        "all_one": (tuple(_deterministic_local(np.ones(S, int), c) for c in layout.num_configs), stationary(1 - EPS)),
        "all_zero": (tuple(_deterministic_local(np.zeros(S, int), c) for c in layout.num_configs), stationary(EPS)),
    }
    for name, (local, closed_form) in cases.items():
        ours = float(f.value_of_local(tuple(map(jnp.asarray, local))))
        np.testing.assert_allclose(ours, _np_value_mu(_np_joint(local, layout), n), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(ours, closed_form, rtol=1e-10, err_msg=name)
    # θ = 0 is the uniform policy: the objective itself
    theta0 = tuple(jnp.zeros((S, c, 2)) for c in layout.num_configs)
    v0 = f.value(theta0)
    np.testing.assert_allclose(float(v0), R.mean() / (1 - GAMMA), rtol=1e-10)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dag", T.DAG_CHOICES)
def test_value_of_random_policy_matches_numpy(n, dag):
    f = _jitted(n, dag)
    theta, local = _random_local(np.random.default_rng(n), f.layout, 2**n, scale=2.0)
    ours = float(f.value(tuple(map(jnp.asarray, theta))))
    layout = f.layout
    np.testing.assert_allclose(ours, _np_value_mu(_np_joint(local, layout), n), rtol=1e-10)


def test_joint_policy_is_a_distribution_with_the_dag_dependencies():
    """Full DAG, N = 3: π(a|s) = π_0(a_0|s) π_1(a_1|s,a_0) π_2(a_2|s,a_0,a_1), summing to 1."""
    layout = T.named_layout("full", 3)
    assert layout.parents == ((), (0,), (0, 1))
    _, local = _random_local(np.random.default_rng(0), layout, 8)
    pi = np.asarray(T.joint_policy(tuple(map(jnp.asarray, local)), layout))
    np.testing.assert_allclose(pi.sum(1), 1.0, atol=1e-12)
    s, a0, a1, a2 = 5, 1, 0, 1
    expected = local[0][s, 0, a0] * local[1][s, a0, a1] * local[2][s, a0 + 2 * a1, a2]
    np.testing.assert_allclose(pi[s, a0 + 2 * a1 + 4 * a2], expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Lemma 5.1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dag", T.DAG_CHOICES)
def test_lemma51_closed_form_equals_autodiff(n, dag):
    """Random θ at two scales (near-uniform and peaked policies), every agent's full gradient table."""
    f = _jitted(n, dag)
    layout, auto_grad, closed_grad = f.layout, f.grad, f.lemma51
    for scale in (1.0, 3.0):
        theta, _ = _random_local(np.random.default_rng(10 * n + int(scale)), layout, 2**n, scale)
        theta = tuple(map(jnp.asarray, theta))
        auto, closed = auto_grad(theta), closed_grad(theta)
        for i, (ga, gc) in enumerate(zip(auto, closed)):
            assert ga.shape == gc.shape == (2**n, layout.num_configs[i], 2)
            np.testing.assert_allclose(gc, ga, rtol=1e-8, atol=1e-11, err_msg=f"agent {i}, scale {scale}")
        assert max(float(jnp.abs(g).max()) for g in auto) > 1e-2  # not a vacuous 0 == 0


def test_autodiff_gradient_matches_finite_differences():
    """The custom VJP of the doubling solve against central differences of V_θ(μ)."""
    f = _jitted(3, "line")
    theta, _ = _random_local(np.random.default_rng(3), f.layout, 8)
    theta = tuple(map(jnp.asarray, theta))
    value, grad = f.value, f.grad(theta)
    h = 1e-6
    for i, idx in [(0, (2, 0, 1)), (1, (5, 1, 0)), (2, (7, 0, 0))]:
        plus = tuple(t.at[idx].add(h) if j == i else t for j, t in enumerate(theta))
        minus = tuple(t.at[idx].add(-h) if j == i else t for j, t in enumerate(theta))
        fd = (value(plus) - value(minus)) / (2 * h)
        np.testing.assert_allclose(grad[i][idx], fd, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# The authors' unnormalised μ (mu="sum")
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, dag", [(2, "full"), (3, "line")])
def test_summed_mu_gradient_is_2_to_the_n_times_the_uniform_one(n, dag):
    """∇ Σ_s V_θ(s) = 2^N ∇ mean_s V_θ(s): autodiff of both objectives, Lemma 5.1 with μ = 1, and central
    differences of Σ_s V(s) from a numpy solve."""
    f = _jitted(n, dag)
    theta, _ = _random_local(np.random.default_rng(40 + n), f.layout, 2**n, scale=1.5)
    theta = tuple(map(jnp.asarray, theta))
    g_sum, g_uniform, g_lemma = f.grad_sum(theta), f.grad(theta), f.lemma51_sum(theta)
    for i in range(n):
        np.testing.assert_allclose(g_sum[i], 2**n * g_uniform[i], rtol=1e-12, atol=1e-15, err_msg=f"agent {i}")
        np.testing.assert_allclose(g_lemma[i], g_sum[i], rtol=1e-8, atol=1e-10, err_msg=f"agent {i}")
    assert max(float(jnp.abs(g).max()) for g in g_sum) > 2**n * 1e-2  # not a vacuous 0 == 0

    def np_sum_value(th):
        local = tuple(np.asarray(x) for x in T.local_policies(th))
        return 2**n * _np_value_mu(_np_joint(local, f.layout), n)  # Σ_s = 2^N · mean_s

    h = 1e-6
    for i, idx in [(0, (1, 0, 1)), (n - 1, (2**n - 1, f.layout.num_configs[n - 1] - 1, 0))]:
        plus = tuple(t.at[idx].add(h) if j == i else t for j, t in enumerate(theta))
        minus = tuple(t.at[idx].add(-h) if j == i else t for j, t in enumerate(theta))
        fd = (np_sum_value(plus) - np_sum_value(minus)) / (2 * h)
        np.testing.assert_allclose(g_sum[i][idx], fd, rtol=1e-5, atol=1e-7)


def test_summed_mu_run_equals_uniform_run_at_2_to_the_n_times_the_step():
    """run_seeds with mu="sum" at lr equals mu="uniform" at lr · 2^N: same θ, and the same metrics (which
    use μ uniform either way)."""
    n, dag, lr = 3, "line", 0.01
    layout, game = T.named_layout(dag, n), T.coordination_game(n)
    summed = T.run_seeds(game, layout, 3, 3, 20, lr, 10, mu="sum", num_chunks=1)
    uniform = T.run_seeds(game, layout, 3, 3, 20, lr * 2**n, 10, mu="uniform", num_chunks=1)
    for got, want in zip(summed.metrics, uniform.metrics):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(summed.theta, uniform.theta):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # and the step did something: θ moved and differs from a run at the unscaled step
    small = T.run_seeds(game, layout, 3, 3, 20, lr, 10, mu="uniform", num_chunks=1)
    assert np.abs(summed.metrics.poa[:, -1] - small.metrics.poa[:, -1]).max() > 1e-3


def test_cli_mu_sum_equals_uniform_at_scaled_lr(tmp_path):
    """Through the CLI (N = 2): --mu sum --lr 0.01 writes the records of --mu uniform --lr 0.04, but for "mu"."""
    common = ["--n-agents", "2", "--dags", "none", "full", "--seeds", "3", "--iters", "20", "--plot", ""]
    T.main(common + ["--mu", "sum", "--lr", "0.01", "--out", str(tmp_path / "sum.json")])
    T.main(common + ["--lr", "0.04", "--out", str(tmp_path / "uniform.json")])
    summed = json.loads((tmp_path / "sum.json").read_text())
    uniform = json.loads((tmp_path / "uniform.json").read_text())
    assert [r.pop("mu") for r in summed] == ["sum", "sum"]
    assert [r.pop("mu") for r in uniform] == ["uniform", "uniform"]
    for s, u in zip(summed, uniform):
        assert s.keys() == u.keys() and (s["n_agents"], s["dag"]) == (u["n_agents"], u["dag"])
        for k in s.keys() - {"n_agents", "dag"}:
            np.testing.assert_allclose(s[k], u[k], rtol=1e-12, atol=1e-14, err_msg=k)


# ---------------------------------------------------------------------------------------------
# max_π V, best response, Nash-gap
# ---------------------------------------------------------------------------------------------


def _all_values(pis, n):
    """V(μ) of a batch of joint policies pis [K, S, A] (batched numpy solve)."""
    P, R = _transition(n), _reward(n)
    p_pi = np.einsum("ksa,sat->kst", pis, P)
    return np.linalg.solve(np.eye(2**n)[None] - GAMMA * p_pi, np.broadcast_to(R, (len(pis), 2**n))[..., None])[
        ..., 0
    ].mean(-1)


def _brute_force_best_response(local, layout, i, n):
    """max of V(μ) over all deterministic local policies (s, c) -> a_i of agent i, the others fixed."""
    S, C = 2**n, layout.num_configs[i]
    choices = np.array(list(itertools.product([0, 1], repeat=S * C))).reshape(-1, S, C)  # [K, S, C]
    bits = _bits(n)
    pi_minus = np.ones((S, 2**n))
    for a, abits in enumerate(bits):
        for j in range(n):
            if j != i:
                c = sum(int(abits[p]) << k for k, p in enumerate(layout.parents[j]))
                pi_minus[:, a] *= local[j][:, c, abits[j]]
    c_of_a = np.array([sum(int(ab[p]) << k for k, p in enumerate(layout.parents[i])) for ab in bits])
    plays = choices[:, :, c_of_a] == bits[:, i][None, None, :]  # [K, S, A]
    return _all_values(pi_minus[None] * plays, n).max()


@pytest.mark.parametrize("n", [2, 3])
def test_optimal_value_matches_brute_force_over_joint_policies(n):
    game = T.coordination_game(n)
    A = 2**n
    if n == 2:  # every deterministic joint policy s -> a: 4^4 = 256
        table = np.array(list(itertools.product(range(A), repeat=A)))
    else:  # 8^8 is too many; the VI policy and every single-state deviation from it
        base = game.opt_action
        table = np.array([base] + [np.where(np.arange(A) == s, a, base) for s in range(A) for a in range(A)])
    pis = np.eye(A)[table]  # [K, S, A]
    values = _all_values(pis, n)
    assert game.v_opt == pytest.approx(values.max(), abs=1e-9)
    if n == 3:  # the VI policy itself attains it
        assert game.v_opt == pytest.approx(values[0], abs=1e-9)


@pytest.mark.parametrize("n, dag", [(2, "none"), (2, "line"), (3, "none"), (3, "line"), (3, "full"), (5, "full")])
def test_nash_gap_of_optimal_deterministic_policy_is_zero(n, dag):
    """Everyone plays its bit of the optimal joint action a*(s): POA = 1 and no agent can improve."""
    f = _jitted(n, dag)
    own = (f.game.opt_action[:, None] >> np.arange(n)) & 1  # [S, N]
    local = tuple(jnp.asarray(_deterministic_local(own[:, i], c)) for i, c in enumerate(f.layout.num_configs))
    m = f.evaluate_local(local)
    assert float(m.poa) == pytest.approx(1.0, abs=1e-12)
    assert abs(float(m.nash_gap)) < 1e-9


def test_nash_gap_is_positive_off_equilibrium_and_zero_at_a_suboptimal_nash():
    """N = 2, no DAG: 'everyone plays 1' is a Nash policy of the CG (a lone deviator breaks the majority)
    with POA < 1; 'agent 0 plays 1, agent 1 plays 0' is not: its gap equals the brute-force improvement."""
    f = _jitted(2, "none")
    layout = f.layout
    ones = tuple(jnp.asarray(_deterministic_local(np.ones(4, int), 1)) for _ in range(2))
    m = f.evaluate_local(ones)
    assert abs(float(m.nash_gap)) < 1e-9 and float(m.poa) < 0.9
    mixed = (_deterministic_local(np.ones(4, int), 1), _deterministic_local(np.zeros(4, int), 1))
    m = f.evaluate_local(tuple(map(jnp.asarray, mixed)))
    v = _np_value_mu(_np_joint(mixed, layout), 2)
    expected = max(_brute_force_best_response(mixed, layout, i, 2) for i in range(2)) - v
    assert expected > 1.0
    np.testing.assert_allclose(float(m.nash_gap), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "n, dag, seed", [(2, "none", 0), (2, "none", 1), (2, "line", 0), (2, "line", 1), (2, "line", 2), (3, "line", 0)]
)
def test_best_response_equals_brute_force(n, dag, seed):
    """Each agent's best-response value vs a search over all its deterministic local policies (s, c) -> a_i.

    N = 2 line covers a parent whose child sees its action; N = 3 line (agents 1 and 2: 2^16 policies each)
    adds an agent with both a parent and a child, and a non-parent ancestor correlated with its parent."""
    f = _jitted(n, dag)
    layout = f.layout
    _, local = _random_local(np.random.default_rng(100 + seed), layout, 2**n, scale=2.0)
    v_pi, br = f.best_response(tuple(map(jnp.asarray, local)))
    m = f.evaluate_local(tuple(map(jnp.asarray, local)))
    brute = np.array([_brute_force_best_response(local, layout, i, n) for i in range(n)])
    np.testing.assert_allclose(np.asarray(br), brute, rtol=1e-10)
    v = _np_value_mu(_np_joint(local, layout), n)
    np.testing.assert_allclose(float(v_pi.mean()), v, rtol=1e-10)
    np.testing.assert_allclose(float(m.nash_gap), brute.max() - v, rtol=1e-9, atol=1e-10)
    assert float(m.nash_gap) > 0.01


# ---------------------------------------------------------------------------------------------
# Gradient ascent under vmap
# ---------------------------------------------------------------------------------------------


def test_record_schedule():
    steps, iters = T.record_schedule(25, 10)
    assert steps.tolist() == [0, 10, 10, 5] and iters.tolist() == [0, 10, 20, 25]
    steps, iters = T.record_schedule(20, 10)
    assert steps.tolist() == [0, 10, 10] and iters.tolist() == [0, 10, 20]


def test_vmap_over_seeds_equals_python_loop():
    """run_seeds (one jit, vmap over seeds, chunked host loop with padding) vs a per-seed loop of plain steps."""
    n, dag, seeds, iters, every, lr = 3, "line", 3, 25, 10, 0.05
    layout, game = T.named_layout(dag, n), T.coordination_game(n)
    res = T.run_seeds(game, layout, 7, seeds, iters, lr, every, num_chunks=3)
    assert res.iters.tolist() == [0, 10, 20, 25]
    theta0 = T.init_theta(7, seeds, layout, 2**n)
    step = jax.jit(lambda th: jax.tree.map(lambda t, g: t + lr * g, th, jax.grad(T.value_mu)(th, game, layout)))
    metrics = jax.jit(lambda th: T.evaluate(th, game, layout))
    for b in range(seeds):
        theta = tuple(jnp.asarray(t[b]) for t in theta0)
        poa, gap = [], []
        for t in range(iters + 1):
            if t in res.iters:
                m = metrics(theta)
                poa.append(float(m.poa))
                gap.append(float(m.nash_gap))
            if t < iters:
                theta = step(theta)
        np.testing.assert_allclose(res.metrics.poa[b], poa, rtol=1e-9)
        np.testing.assert_allclose(res.metrics.nash_gap[b], gap, rtol=1e-8, atol=1e-9)
        for got, want in zip(res.theta, theta):
            np.testing.assert_allclose(got[b], want, rtol=1e-9, atol=1e-12)
    # seeds differ, and seed b's init does not depend on the number of seeds
    assert np.ptp(res.metrics.poa[:, 0]) > 1e-3
    np.testing.assert_array_equal(T.init_theta(7, 1, layout, 8)[1][0], theta0[1][0])


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dag", T.DAG_CHOICES)
def test_nash_gap_falls_toward_zero(n, dag):
    """Theorem 5.5 in miniature: 400 exact gradient steps (lr 0.01) shrink the mean Nash-gap over 6 seeds
    to under 40% of its start, and POA rises; a descent step or a broken best response cannot do both."""
    layout, game = T.named_layout(dag, n), T.coordination_game(n)
    res = T.run_seeds(game, layout, 0, 6, 400, 0.01, 100, num_chunks=1)
    gap, poa = res.metrics.nash_gap.mean(0), res.metrics.poa.mean(0)
    assert gap[0] > 2.0
    assert gap[-1] < 0.4 * gap[0], gap
    assert np.all(np.diff(gap) < 0), gap
    assert poa[-1] > poa[0] + 0.2, poa
    assert np.all(res.metrics.nash_gap >= -1e-9)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"dags": ("none", "ring")}, ["'ring'", "none, line, full"]),
        ({"n_agents": (2, 4)}, ["n_agents=4", "[2, 3, 5, 10]"]),
        ({"seeds": 0}, ["seeds=0", "positive"]),
        ({"iters": -5}, ["iters=-5", "positive"]),
        ({"lr": 0.0}, ["lr=0.0", "positive"]),
        ({"eval_every": 0}, ["eval_every=0", "positive"]),
        ({"dags": ("line", "line")}, ["repeats"]),
        ({"out": "/nonexistent_dir/results.json"}, ["out=", "does not exist"]),
        ({"mu": "mean"}, ["mu='mean'", "uniform, sum"]),
    ],
)
def test_config_rejects_bad_input(kwargs, words):
    with pytest.raises(ValueError) as e:
        T.TabularConfig(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_cli_bad_input_exits_before_compiling(capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_seeds", lambda *a, **k: pytest.fail("compiled despite bad input"))
    with pytest.raises(SystemExit) as e:
        T.main(["--dags", "ring", "--out", "/nonexistent/x.json"])
    assert e.value.code == 2
    captured = capsys.readouterr()
    msg = " ".join((captured.out + captured.err).split())  # tyro wraps the message in a box
    assert "'ring'" in msg and "none, line, full" in msg


def test_cli_writes_results_json_and_plot(tmp_path):
    out, fig = tmp_path / "results.json", tmp_path / "fig3.png"
    T.main(["--n-agents", "2", "--dags", "none", "line", "--seeds", "3", "--iters", "20", "--lr", "0.01",
            "--eval-every", "10", "--out", str(out), "--plot", str(fig)])
    records = json.loads(out.read_text())
    assert [(r["n_agents"], r["dag"]) for r in records] == [(2, "none"), (2, "line")]
    keys = {"n_agents", "dag", "v_opt", "iters", "poa_mean", "poa_stderr", "nash_gap_mean", "nash_gap_stderr",
            "final_poa", "final_nash_gap", "mu"}
    for r in records:
        assert set(r) == keys
        assert r["mu"] == "uniform"
        assert r["iters"] == [0, 10, 20]
        for k in ("poa_mean", "poa_stderr", "nash_gap_mean", "nash_gap_stderr"):
            assert len(r[k]) == 3
        assert len(r["final_poa"]) == len(r["final_nash_gap"]) == 3
        assert r["poa_mean"][-1] == pytest.approx(np.mean(r["final_poa"]))
        assert r["poa_stderr"][-1] == pytest.approx(np.std(r["final_poa"], ddof=1) / np.sqrt(3))
        assert r["v_opt"] == pytest.approx(T.coordination_game(2).v_opt)
    assert fig.stat().st_size > 10_000


def test_replot_draws_a_saved_results_file_and_refuses_other_files(tmp_path, capsys):
    from jbn.tabular import replot

    records = [{"n_agents": 2, "dag": d, "iters": [0, 10], "poa_mean": [0.5, 0.9], "poa_stderr": [0.0, 0.01],
                "nash_gap_mean": [1.0, 0.1], "nash_gap_stderr": [0.0, 0.01]} for d in ("none", "full")]
    (tmp_path / "r.json").write_text(json.dumps(records))
    replot.main([str(tmp_path / "r.json"), str(tmp_path / "f.png")])
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "bad.json").write_text('{"not": "records"}')
    with pytest.raises(SystemExit) as e:
        replot.main([str(tmp_path / "bad.json"), str(tmp_path / "g.png")])
    assert e.value.code == 2 and "bad.json" in capsys.readouterr().err
