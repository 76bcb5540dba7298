"""Tests of jbn.tabular on one-shot matrix games (issue 31) against independent computations.

Independent references written here: Claus & Boutilier's (1998) Climbing and Penalty tables as literals; pure
Nash equilibria and deviation gains by brute force over unilateral deviations; π_θ(a) of a product or BN softmax
policy by explicit loops over joint actions (parents' configurations in mixed radix computed here); the exact
gradient in closed form (∂V/∂θ_i[c, b] = Σ_{a: c_i(a) = c} π(a) r(a) (1[a_i = b] − π_i(b|c))) and by central
finite differences of the numpy value; best responses by enumerating every deterministic local policy c -> a_i;
gradient ascent as a numpy loop. Float64 throughout (`jax.enable_x64` as a context per test, as the run uses).
"""

import functools
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn import tabular as T
from jbn.tabular import cli

# Claus & Boutilier (1998), "The dynamics of reinforcement learning in cooperative multiagent systems", the
# Climbing game and the Penalty game (k <= 0): row = agent A's action, column = agent B's; common payoff.
CLIMBING_CB = np.array([[11, -30, 0], [-30, 7, 6], [0, 0, 5]], np.float64)


def penalty_cb(k):
    return np.array([[10, 0, k], [0, 2, 0], [k, 0, 10]], np.float64)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


# ---------------------------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------------------------


def _parents(dag, n):
    return {"none": [[] for _ in range(n)], "line": [[i - 1] if i else [] for i in range(n)],
            "full": [list(range(i)) for i in range(n)]}[dag]


def _config(a, parents, shape):
    """c = Σ_k a_{p_k} Π_{k' < k} A_{p_k'}, written out."""
    c, radix = 0, 1
    for p in parents:
        c += a[p] * radix
        radix *= shape[p]
    return c


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_joint(theta, dag, shape):
    """{joint action tuple: π(a)} with loops over joint actions and agents; theta_i: [1, C_i, A_i]."""
    parents = _parents(dag, len(shape))
    local = [_softmax(np.asarray(t)[0]) for t in theta]
    out = {}
    for a in itertools.product(*(range(k) for k in shape)):
        p = 1.0
        for i in range(len(shape)):
            p *= local[i][_config(a, parents[i], shape), a[i]]
        out[a] = p
    return out


def _np_value(theta, dag, payoff):
    return sum(p * payoff[a] for a, p in _np_joint(theta, dag, payoff.shape).items())


def _np_gradient(theta, dag, payoff):
    """Closed form of ∂/∂θ_i[c, b] of Σ_a π(a) r(a) for softmax conditionals."""
    shape = payoff.shape
    parents = _parents(dag, len(shape))
    joint = _np_joint(theta, dag, shape)
    local = [_softmax(np.asarray(t)[0]) for t in theta]
    grads = [np.zeros_like(np.asarray(t)) for t in theta]
    for a, p in joint.items():
        for i in range(len(shape)):
            c = _config(a, parents[i], shape)
            onehot = np.eye(shape[i])[a[i]]
            grads[i][0, c] += p * payoff[a] * (onehot - local[i][c])
    return grads


def _np_best_response(theta, dag, payoff, i):
    """max over every deterministic local policy c -> a_i of agent i of E[r], the others' conditionals fixed."""
    shape = payoff.shape
    parents = _parents(dag, len(shape))
    local = [_softmax(np.asarray(t)[0]) for t in theta]
    n_configs = local[i].shape[0]
    best = -np.inf
    for policy in itertools.product(range(shape[i]), repeat=n_configs):
        v = 0.0
        for a in itertools.product(*(range(k) for k in shape)):
            if a[i] != policy[_config(a, parents[i], shape)]:
                continue
            p = 1.0
            for j in range(len(shape)):
                if j != i:
                    p *= local[j][_config(a, parents[j], shape), a[j]]
            v += p * payoff[a]
        best = max(best, v)
    return best


def _brute_force_nash(payoff):
    """Pure Nash equilibria: no agent gains by changing its own action alone (every deviation tried)."""
    out = set()
    for a in itertools.product(*(range(k) for k in payoff.shape)):
        stable = True
        for i in range(payoff.ndim):
            for b in range(payoff.shape[i]):
                dev = a[:i] + (b,) + a[i + 1:]
                if payoff[dev] > payoff[a]:
                    stable = False
        if stable:
            out.add(a)
    return out


def _deviation_gain(payoff, a):
    return max(payoff[a[:i] + (b,) + a[i + 1:]] - payoff[a] for i in range(payoff.ndim)
               for b in range(payoff.shape[i]))


def _random_theta(rng, layout, scale=1.0):
    return tuple(scale * rng.standard_normal((1, c, k)) for c, k in zip(layout.num_configs, layout.num_actions))


@functools.lru_cache(maxsize=None)
def _jitted(name, dag):
    game = {"climbing": T.climbing_game, "penalty": T.penalty_game, "three": lambda: THREE_AGENTS}[name]()
    layout = T.named_layout(dag, game.num_agents, game.payoff.shape)
    return game, layout, jax.jit(lambda th: T.matrix_value(th, game, layout)), \
        jax.jit(jax.grad(lambda th: T.matrix_value(th, game, layout))), \
        jax.jit(lambda th: T.evaluate_matrix(th, game, layout))


# ---------------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------------


def test_climbing_is_matrax_and_the_published_table_transposed():
    import matrax

    game = T.climbing_game()
    env = matrax.make("Climbing-stateless-v0")
    for agent in range(2):  # common payoff: both agents' tables are this one
        np.testing.assert_array_equal(np.asarray(env.payoff_matrix[agent]), game.payoff)
    # matrax's row (agent 0 here) is the published column player
    np.testing.assert_array_equal(game.payoff, CLIMBING_CB.T)
    assert game.v_opt == 11 and game.opt_actions == ((0, 0),)
    assert game.payoff.dtype == np.float64


@pytest.mark.parametrize("k", [0, -25, -50, -75, -100])
def test_penalty_is_matrax_and_the_published_table_relabelled(k):
    import matrax

    game = T.penalty_game(k)
    env = matrax.make(f"Penalty-{-k}-stateless-v0")
    np.testing.assert_array_equal(np.asarray(env.payoff_matrix[0]), game.payoff)
    # matrax puts the optima on the anti-diagonal: the published table with agent 1's actions 0 and 2 swapped
    np.testing.assert_array_equal(game.payoff, penalty_cb(k)[:, ::-1])
    assert game.v_opt == 10 and set(game.opt_actions) == {(0, 2), (2, 0)}


def test_penalty_k_off_matrax_grid_has_the_same_layout():
    np.testing.assert_array_equal(T.penalty_game(-37.5).payoff, penalty_cb(-37.5)[:, ::-1])
    assert T.penalty_game(-37.5).name == "penalty_k-37.5" and T.penalty_game(0.0).name == "penalty_k0"


def test_pure_nash_equilibria_by_brute_force():
    climbing, penalty = T.climbing_game().payoff, T.penalty_game(-100).payoff
    assert _brute_force_nash(CLIMBING_CB) == {(0, 0), (1, 1)}  # the optimum 11 and the (b, b) = 7 trap
    assert _brute_force_nash(climbing) == {(0, 0), (1, 1)}
    assert _brute_force_nash(penalty) == {(0, 2), (2, 0), (1, 1)}  # two optima and the safe 2
    for p in (climbing, penalty, penalty_cb(-100), np.random.default_rng(0).integers(-3, 4, (2, 3, 2)) * 1.0):
        assert set(T.pure_nash_equilibria(p)) == _brute_force_nash(p)


@pytest.mark.parametrize("joint", [(0, 0), (1, 1), (2, 1), (2, 2), (0, 1)])
def test_nash_gap_of_a_deterministic_product_policy_is_the_deviation_gain(joint):
    game, layout, _, _, evaluate = _jitted("climbing", "none")
    theta = tuple(jnp.asarray(40.0 * np.eye(3)[a][None, None]) for a in joint)  # π(joint) = 1 − O(e^-40)
    m = evaluate(theta)
    assert float(m.value) == pytest.approx(game.payoff[joint], abs=1e-9)
    assert float(m.nash_gap) == pytest.approx(_deviation_gain(game.payoff, joint), abs=1e-9)
    assert (float(m.nash_gap) < 1e-9) == (joint in _brute_force_nash(game.payoff))


# ---------------------------------------------------------------------------------------------
# Value, gradient, best responses
# ---------------------------------------------------------------------------------------------

THREE_AGENTS = T.matrix_game(np.random.default_rng(5).normal(size=(2, 3, 2)) + 1.0, "random_2x3x2")  # "three"


@pytest.mark.parametrize("dag", ["none", "line", "full"])
@pytest.mark.parametrize("name", ["climbing", "three"])
def test_value_and_joint_policy_by_enumeration(name, dag):
    game, layout, value, _, _ = _jitted(name, dag)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = _random_theta(rng, layout, scale=2.0)
        joint = _np_joint(theta, dag, game.payoff.shape)
        pi = T.joint_probabilities(tuple(t[None] for t in theta), layout)[0]
        want = np.array([joint[tuple(a)] for a in T.joint_actions(game.payoff.shape)])
        np.testing.assert_allclose(pi, want, rtol=1e-12, atol=1e-15)
        assert sum(joint.values()) == pytest.approx(1.0, abs=1e-12)
        assert float(value(tuple(map(jnp.asarray, theta)))) == pytest.approx(_np_value(theta, dag, game.payoff),
                                                                              rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("dag", ["none", "line", "full"])
@pytest.mark.parametrize("name", ["climbing", "penalty", "three"])
def test_gradient_closed_form_and_finite_differences(name, dag):
    game, layout, _, grad, _ = _jitted(name, dag)
    theta = _random_theta(np.random.default_rng(2), layout)
    g = [np.asarray(x) for x in grad(tuple(map(jnp.asarray, theta)))]
    closed = _np_gradient(theta, dag, game.payoff)
    h = 1e-5
    for i, t in enumerate(theta):
        np.testing.assert_allclose(g[i], closed[i], rtol=1e-10, atol=1e-12)
        for idx in np.ndindex(t.shape):
            up, down = [x.copy() for x in theta], [x.copy() for x in theta]
            up[i][idx] += h
            down[i][idx] -= h
            fd = (_np_value(up, dag, game.payoff) - _np_value(down, dag, game.payoff)) / (2 * h)
            assert g[i][idx] == pytest.approx(fd, abs=1e-6 * max(1.0, np.abs(game.payoff).max()))


@pytest.mark.parametrize("dag", ["none", "full"])
@pytest.mark.parametrize("name", ["climbing", "three"])
def test_best_responses_by_enumerating_local_policies(name, dag):
    game, layout, _, _, evaluate = _jitted(name, dag)
    theta = _random_theta(np.random.default_rng(3), layout, scale=1.5)
    local = T.local_policies(tuple(map(jnp.asarray, theta)))
    v, br = T.matrix_best_response_values(local, game, layout)
    want = [_np_best_response(theta, dag, game.payoff, i) for i in range(game.num_agents)]
    np.testing.assert_allclose(np.asarray(br), want, rtol=1e-12)
    m = evaluate(tuple(map(jnp.asarray, theta)))
    assert float(m.nash_gap) == pytest.approx(max(want) - _np_value(theta, dag, game.payoff), abs=1e-10)
    assert float(m.poa) == pytest.approx(float(v) / game.v_opt, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# What a full DAG can represent and reach
# ---------------------------------------------------------------------------------------------


def test_full_represents_correlated_and_deterministic_joint_policies_none_cannot():
    game = T.matrix_game([[10.0, -20.0], [-20.0, 5.0]], "two")
    full, none = T.named_layout("full", 2, (2, 2)), T.named_layout("none", 2, (2, 2))
    # ½ (0, 0) + ½ (1, 1): agent 0 uniform, agent 1 copies it
    theta = (np.zeros((1, 1, 2)), np.array([[[30.0, 0.0], [0.0, 30.0]]]))
    pi = T.joint_probabilities(tuple(t[None] for t in theta), full)[0].reshape(2, 2, order="F")
    np.testing.assert_allclose(pi, [[0.5, 0.0], [0.0, 0.5]], atol=1e-12)
    # a product policy's joint table has rank 1 (determinant 0); this one has 1/4
    assert np.linalg.det(pi) == pytest.approx(0.25, abs=1e-12)
    rng = np.random.default_rng(4)
    for _ in range(5):
        prod = T.joint_probabilities(tuple(t[None] for t in _random_theta(rng, none, 3.0)), none)[0]
        assert abs(np.linalg.det(prod.reshape(2, 2, order="F"))) < 1e-12
    # the optimal deterministic joint action (0, 0): value -> max payoff, Nash-gap -> 0
    det = tuple(jnp.asarray(t) for t in (np.array([[[40.0, 0.0]]]), np.array([[[40.0, 0.0], [0.0, 40.0]]])))
    m = T.evaluate_matrix(det, game, full)
    assert float(m.poa) == pytest.approx(1.0, abs=1e-12) and float(m.nash_gap) == pytest.approx(0.0, abs=1e-12)


def test_full_climbs_out_of_the_equilibrium_that_none_stops_at():
    """Same initial joint policy (agent 1's conditionals all equal): plain exact ascent with a product policy
    settles at (1, 1) = 5, a Nash equilibrium; the full DAG reaches the optimum (0, 0) = 10."""
    game = T.matrix_game([[10.0, -20.0], [-20.0, 5.0]], "two")
    steps = jnp.asarray([0, 100, 1000, 3000], jnp.int32)
    out = {}
    for dag in ("none", "full"):
        layout = T.named_layout(dag, 2, (2, 2))
        theta = (jnp.asarray([[[0.0, 1.0]]]), jnp.asarray([[[0.0, 1.0]] * layout.num_configs[1]]))
        _, m = jax.jit(T.make_run_chunk(game, layout, 0.05))(theta, steps)
        out[dag] = np.asarray(m.poa)
    assert out["none"][0] == pytest.approx(out["full"][0], abs=1e-12)  # the same start
    assert out["none"][-1] == pytest.approx(0.5, abs=1e-2)  # E[r] -> 5 of max 10
    assert out["full"][-1] > 0.99


# ---------------------------------------------------------------------------------------------
# The run and the CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dag", ["none", "full"])
def test_vmapped_run_matches_a_numpy_ascent(dag):
    game = T.climbing_game()
    layout = T.named_layout(dag, 2, (3, 3))
    res = T.run_seeds(game, layout, seed=3, num_seeds=2, iters=6, lr=0.02, eval_every=3)
    assert list(res.iters) == [0, 3, 6]
    for b in range(2):
        theta = [t[b] for t in T.init_theta(3, 2, layout, 1)]
        values = [_np_value(theta, dag, game.payoff)]
        for it in range(6):
            g = _np_gradient(theta, dag, game.payoff)
            theta = [t + 0.02 * gt for t, gt in zip(theta, g)]
            if it % 3 == 2:
                values.append(_np_value(theta, dag, game.payoff))
        for i in range(2):
            np.testing.assert_allclose(res.theta[i][b], theta[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.metrics.value[b], values, rtol=1e-12)
        np.testing.assert_allclose(res.metrics.poa[b], np.array(values) / 11.0, rtol=1e-12)


def test_log_record_schedule():
    steps, at = T.record_schedule(1000, 10, log_records=7)
    assert at[0] == 0 and at[-1] == 1000 and np.all(np.diff(at) > 0) and steps.sum() == 1000
    np.testing.assert_array_equal(at, [0, 1, 3, 10, 32, 100, 316, 1000])


@pytest.mark.parametrize("kwargs,words", [
    (dict(game=("chess",)), ["'chess'", "coordination, climbing, penalty", "PATH.json"]),
    (dict(game=("coordination", "climbing")), ["coordination runs alone"]),
    (dict(game=("climbing", "climbing")), ["repeats"]),
    (dict(game=("nowhere/missing.json",)), ["'nowhere/missing.json'", "no such file"]),
    (dict(payoff="[[1, 2], [3]]"), ["rectangular"]),
    (dict(payoff="[1, 2, 3]"), ["(3,)", "N >= 2"]),
    (dict(payoff="[[1], [2]]"), ["(2, 1)", "agent 1 has 1 action"]),
    (dict(payoff="[[0, -1], [-2, -3]]"), ["max payoff 0", "constant"]),
    (dict(payoff="[[1, NaN], [0, 2]]"), ["(0, 1)", "finite"]),
    (dict(payoff='{"pay": [[1, 0], [0, 1]]}'), ["'payoff'", "['pay']"]),
    (dict(payoff="[[1, 0], [0, 1]", ), ["not JSON"]),
    (dict(payoff="[[1, 0], [0, 1]]", game=("climbing",)), ["one of --payoff, --game"]),
    (dict(game=("penalty",), penalty_k=5.0), ["penalty_k=5.0", "<= 0"]),
    (dict(game=("climbing",), opt_tol=0.0), ["opt_tol=0.0"]),
    (dict(game=("climbing",), log_records=-1), ["log_records=-1"]),
])
def test_config_refuses_bad_matrix_input(kwargs, words):
    with pytest.raises(ValueError) as e:
        T.TabularConfig(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_a_bad_payoff_file_is_refused_before_compiling(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_seeds", lambda *a, **k: pytest.fail("compiled despite bad input"))
    bad = tmp_path / "ragged.json"
    bad.write_text(json.dumps({"payoff": [[1, 0, 2], [0, 1]]}))
    with pytest.raises(ValueError, match="rectangular"):
        T.TabularConfig(game=(str(bad),))
    big = tmp_path / "big.json"
    big.write_text(json.dumps(np.ones((2,) * 13).tolist()))
    with pytest.raises(ValueError, match="8192 joint actions.*<= 4096"):
        T.TabularConfig(game=(str(big),))
    for argv in (["--game", "chess"], ["--game", str(bad)]):
        with pytest.raises(SystemExit) as e:
            T.main(argv + ["--out", str(tmp_path / "x.json")])
        assert e.value.code == 2
        captured = capsys.readouterr()
        msg = " ".join((captured.out + captured.err).split())
        assert ("'chess'" in msg and "climbing, penalty" in msg) if argv[1] == "chess" else "rectangular" in msg


def test_cli_runs_matrix_games_and_writes_records_and_figure(tmp_path):
    from jbn.tabular import replot

    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"name": "mine", "payoff": [[1, 0], [0, 2]]}))
    out, fig = tmp_path / "m.json", tmp_path / "m.png"
    records = T.main(["--game", "climbing", str(mine), "--dags", "none", "full", "--seeds", "4", "--iters", "40",
                      "--eval-every", "20", "--lr", "0.05", "--out", str(out), "--plot", str(fig)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(records))
    assert [(r["game"], r["dag"]) for r in records] == [("climbing", "none"), ("climbing", "full"),
                                                        ("mine", "none"), ("mine", "full")]
    for r in records:
        payoff = np.asarray(r["payoff"])
        final_poa, final_ret = np.asarray(r["final_poa"]), np.asarray(r["final_return"])
        assert r["iters"] == [0, 20, 40] and r["seeds"] == 4 and len(final_poa) == 4
        np.testing.assert_allclose(final_ret, final_poa * r["v_opt"], rtol=1e-12)
        assert r["n_optimal"] == int((final_poa >= 0.99).sum()) == round(r["optimal_fraction"][-1] * 4)
        assert sum(o["count"] for o in r["outcomes"]) == 4
        assert {tuple(a) for a in r["pure_nash"]} == _brute_force_nash(payoff)
        for o in r["outcomes"]:
            a = tuple(o["joint_action"])
            assert o["payoff"] == payoff[a] and o["pure_nash"] == (a in _brute_force_nash(payoff))
        assert r["return_mean"][-1] == pytest.approx(final_ret.mean())
    assert records[0]["v_opt"] == 11 and records[2]["v_opt"] == 2 and records[2]["opt_actions"] == [[1, 1]]
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    replot.main([str(out), str(tmp_path / "again.png")])
    assert (tmp_path / "again.png").stat().st_size > 10_000


def test_cli_inline_payoff_with_three_agents(tmp_path):
    payoff = THREE_AGENTS.payoff.tolist()
    records = T.main(["--payoff", json.dumps(payoff), "--dags", "line", "--seeds", "2", "--iters", "10",
                      "--eval-every", "5", "--out", str(tmp_path / "p.json"), "--plot", ""])
    (r,) = records
    assert r["game"] == "payoff" and r["n_agents"] == 3 and r["payoff"] == payoff
    # where each seed ends: the most probable joint action of its final policy
    layout = T.named_layout("line", 3, (2, 3, 2))
    res = T.run_seeds(T.matrix_game(payoff, "payoff"), layout, 0, 2, 10, 0.01, 5)
    pi = T.joint_probabilities(res.theta, layout)
    np.testing.assert_array_equal(r["final_joint_action"], T.joint_actions((2, 3, 2))[pi.argmax(1)])


def test_tied_init_starts_every_dag_from_the_product_policy_of_none():
    shape = (2, 3, 2)
    none = T.named_layout("none", 3, shape)
    untied = T.init_theta(9, 3, none, 1)
    start = T.joint_probabilities(untied, none)
    for t, u in zip(T.init_theta(9, 3, none, 1, tied=True), untied):
        np.testing.assert_array_equal(t, u)  # none has one configuration: tied changes nothing
    for dag in ("line", "full"):
        layout = T.named_layout(dag, 3, shape)
        tied = T.init_theta(9, 3, layout, 1, tied=True)
        np.testing.assert_allclose(T.joint_probabilities(tied, layout), start, rtol=1e-12)
        assert not np.allclose(T.joint_probabilities(T.init_theta(9, 3, layout, 1), layout), start)
