"""Recurrent BN-MAPPO (`--recurrent gru`): the GRU against a numpy GRU, resets at episode ends, the update's replay
against the rollout, the sampled joint distribution against exact enumeration, and runs that resume bit for bit."""
import dataclasses
import itertools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jbn import train
from jbn.training import trainer as tr
from jbn.training.config import Config, UserError, resolve
from jbn.policy.joint import BNPolicy, Memory

M = 5  # GRU width of the unit tests


def _policy(n=3, a=3, d=4, s=6, mode="full", **kw):
    return BNPolicy(num_agents=n, obs_dim=d, state_dim=s, num_actions=a, mode=mode, gru_width=M, **kw)


def _noisy(params, key, scale=0.3):
    """Random biases (initialised at 0) so that every term of the GRU's equations matters."""
    leaves, tree = jax.tree.flatten_with_path(params)
    keys = jax.random.split(key, len(leaves))
    out = [x + scale * jax.random.normal(k, x.shape) if "bias" in jax.tree_util.keystr(p) else x
           for (p, x), k in zip(leaves, keys)]
    return jax.tree.unflatten(tree, out)


def _np(tree):
    return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _gru_numpy(p, h, x):
    """Cho et al.'s GRU in PyTorch's form (the reset gate scales the recurrent term after its bias), written gate by
    gate from the (r, z, n) thirds of the input and recurrent kernels."""
    wi, bi, wh, bh = p["wi"]["kernel"], p["wi"]["bias"], p["wh"]["kernel"], p["wh"]["bias"]
    m = h.shape[-1]
    g = lambda w, b, k: (w[:, k * m:(k + 1) * m], b[k * m:(k + 1) * m])  # noqa: E731
    (w_ir, b_ir), (w_iz, b_iz), (w_in, b_in) = g(wi, bi, 0), g(wi, bi, 1), g(wi, bi, 2)
    (w_hr, b_hr), (w_hz, b_hz), (w_hn, b_hn) = g(wh, bh, 0), g(wh, bh, 1), g(wh, bh, 2)
    r = _sigmoid(x @ w_ir + b_ir + h @ w_hr + b_hr)
    z = _sigmoid(x @ w_iz + b_iz + h @ w_hz + b_hz)
    n = np.tanh(x @ w_in + b_in + r * (h @ w_hn + b_hn))
    return (1.0 - z) * n + z * h


def test_our_gru_is_flax_gru_cell_with_its_input_projection_hoisted():
    """The same map as flax.linen.GRUCell given the same weights (GRUCell has no b_hr, b_hz: set to 0 here)."""
    import flax.linen as nn

    from jbn.policy.networks import GRU

    x, h = jax.random.normal(jax.random.PRNGKey(0), (7, 3)), jax.random.normal(jax.random.PRNGKey(1), (7, M))
    ours = _noisy(GRU(M).init(jax.random.PRNGKey(2), h, jnp.zeros((7, 3 * M)), method="step"), jax.random.PRNGKey(3))
    ours["params"]["wi"] = GRU(M).init(jax.random.PRNGKey(4), x, method="inputs")["params"]["wi"]
    p = ours["params"]
    p["wh"]["bias"] = p["wh"]["bias"].at[:2 * M].set(0.0)
    split = lambda w: jnp.split(w, 3, axis=-1)  # noqa: E731
    (ir, iz, in_), (bir, biz, bin_) = split(p["wi"]["kernel"]), split(p["wi"]["bias"])
    hr, hz, hn = split(p["wh"]["kernel"])
    flax_p = {"params": {"ir": {"kernel": ir, "bias": bir}, "iz": {"kernel": iz, "bias": biz},
                         "in": {"kernel": in_, "bias": bin_}, "hr": {"kernel": hr}, "hz": {"kernel": hz},
                         "hn": {"kernel": hn, "bias": split(p["wh"]["bias"])[2]}}}
    want, _ = nn.GRUCell(M).apply(flax_p, h, x)
    gru = GRU(M)
    got = gru.apply(ours, h, gru.apply(ours, x, method="inputs"), method="step")
    np.testing.assert_allclose(got, want, atol=1e-6)


def _dense(p, x):
    return x @ p["kernel"] + p["bias"]


def test_gru_step_equals_a_numpy_gru():
    n, d, s = 3, 4, 6
    pol = _policy(n=n, d=d, s=s)
    params = _noisy(pol.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    k = jax.random.split(jax.random.PRNGKey(2), 4)
    memory = Memory(actor=jax.random.normal(k[0], (n, M)), critic=jax.random.normal(k[1], (M,)))
    obs, ws = jax.random.normal(k[2], (n, d)), jax.random.normal(k[3], (s,))
    got = pol.step_memory(params, memory, obs, ws)

    pa, pc = _np(params["actor"]["params"]), _np(params["critic"]["params"])
    for i in range(n):
        x = np.maximum(_dense(pa["embed"], np.concatenate([np.asarray(obs[i]), np.eye(n)[i]])), 0.0)
        np.testing.assert_allclose(got.actor[i], _gru_numpy(pa["gru"], np.asarray(memory.actor[i]), x), atol=1e-5)
    x = np.maximum(_dense(pc["embed"], np.asarray(ws)), 0.0)
    h = _gru_numpy(pc["gru"], np.asarray(memory.critic), x)
    np.testing.assert_allclose(got.critic, h, atol=1e-5)
    # the critic reads its GRU state: Base(h) - FC(1)
    b = pc["base"]
    v = _dense(pc["out"], np.maximum(_dense(b["Dense_1"], np.maximum(_dense(b["Dense_0"], h), 0.0)), 0.0))[0]
    np.testing.assert_allclose(pol.value(params, ws, got), v, atol=1e-5)


def test_the_gru_sequence_and_its_gradient_equal_the_gru_unrolled_step_by_step():
    """networks.gru_sequence (the replay's scan) and its gradient against a Python loop over the steps, the GRU
    written out gate by gate and the state zeroed after each episode end; batch shape [B, N] with done [T, B]."""
    from jbn.policy.networks import gru_sequence

    t_len, b, n, m = 6, 3, 2, M
    k = jax.random.split(jax.random.PRNGKey(7), 6)
    kernel, bias = 0.5 * jax.random.normal(k[0], (m, 3 * m)), 0.3 * jax.random.normal(k[1], (3 * m,))
    gates, h0 = jax.random.normal(k[2], (t_len, b, n, 3 * m)), jax.random.normal(k[3], (b, n, m))
    done = jnp.array([[0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]], bool)
    weights = jax.random.normal(k[4], (t_len, b, n, m))

    def unrolled(kernel, bias, gates, h):
        third = lambda x, i: x[..., i * m:(i + 1) * m]  # noqa: E731
        outs = []
        for t in range(t_len):
            rec = h @ kernel + bias
            r = jax.nn.sigmoid(third(gates[t], 0) + third(rec, 0))
            z = jax.nn.sigmoid(third(gates[t], 1) + third(rec, 1))
            c = jnp.tanh(third(gates[t], 2) + r * third(rec, 2))
            outs.append((1 - z) * c + z * h)
            h = jnp.where(done[t][:, None, None], 0.0, outs[-1])
        return jnp.stack(outs)

    def loss(f):
        return lambda *args: jnp.sum(jnp.sin(f(*args)) * weights)

    args = (kernel, bias, gates, h0)
    np.testing.assert_allclose(gru_sequence(*args, done), unrolled(*args), atol=1e-6)
    got = jax.grad(loss(lambda *a: gru_sequence(*a, done)), argnums=(0, 1, 2, 3))(*args)
    want = jax.grad(loss(unrolled), argnums=(0, 1, 2, 3))(*args)
    for name, g, w in zip(("kernel", "bias", "gates", "h0"), got, want):
        assert float(jnp.abs(w).max()) > 1e-3, name  # every gradient is exercised
        np.testing.assert_allclose(g, w, atol=1e-5, err_msg=name)
    # no gradient crosses an episode end: the loss after a reset does not depend on the states before it
    g_h0 = jax.grad(lambda h: jnp.sum(gru_sequence(kernel, bias, gates, h, done)[1:] * weights[1:]))(h0)
    np.testing.assert_array_equal(g_h0[2], 0.0)  # env 2's episode ended at step 0


def _exact_joint(params, h, avail, g, a):
    """π(a) = Π_i softmax(head(h_i, G[:, i] ⊙ onehot(a)))[a_i] by enumeration, the smax head in numpy reading the
    agent's GRU state h_i: FC(Concat(h_i, a^P)) - ReLU - FC - ReLU - FC(A)."""
    p = _np(params["actor"]["params"])
    n = h.shape[0]
    w0 = np.concatenate([p["own_in"]["kernel"], p["parent_in"]["kernel"]], 0)
    probs = {}
    for joint in itertools.product(range(a), repeat=n):
        onehot = np.eye(a)[list(joint)]
        prob = 1.0
        for i in range(n):
            x = np.concatenate([h[i], (np.asarray(g)[:, i, None] * onehot).reshape(-1)])
            y = np.maximum(x @ w0 + p["own_in"]["bias"], 0.0)
            y = np.maximum(_dense(p["mid"], y), 0.0)
            logits = np.where(avail[i], _dense(p["out"], y), -np.inf)
            e = np.exp(logits - logits.max())
            prob *= (e / e.sum())[joint[i]]
        probs[joint] = prob
    return probs


def test_a_recurrent_bn_policy_samples_the_joint_distribution_it_claims():
    n, a, d = 3, 2, 4
    pol = _policy(n=n, a=a, d=d, mode="full")
    params = _noisy(pol.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    actor = params["actor"]["params"]
    actor["out"]["kernel"] = 50.0 * actor["out"]["kernel"]  # conditionals far from uniform
    actor["parent_in"]["kernel"] = 5.0 * actor["parent_in"]["kernel"]  # parents' actions matter
    obs = jax.random.normal(jax.random.PRNGKey(5), (n, d))
    memory = pol.step_memory(params, Memory(jax.random.normal(jax.random.PRNGKey(7), (n, M)), jnp.zeros((M,))),
                          obs, jnp.zeros((6,)))
    avail, visible = jnp.ones((n, a), bool), jnp.ones((n, n), bool)
    from jbn.policy import dag as dag_lib
    exact = _exact_joint(params, np.asarray(memory.actor, np.float64), np.asarray(avail), dag_lib.fixed_dag("full", n), a)
    num = 40000
    keys = jax.random.split(jax.random.PRNGKey(6), num)
    sample = jax.vmap(pol.sample, (None, None, None, None, None, 0, None))
    acts, logp, _ = jax.jit(sample)(params, obs, avail, visible, None, keys, memory)
    idx = np.asarray(acts) @ (a ** np.arange(n))
    counts = np.bincount(idx, minlength=a**n)
    expected = np.array([exact[tuple((k // a**i) % a for i in range(n))] for k in range(a**n)]) * num
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # the teacher-forced pass gives the sampled log-probs, and they are the enumeration's
    lp = jax.vmap(pol.log_prob, (None, None, None, None, None, 0, None))(params, obs, avail, visible, None, acts[:50],
                                                                          memory)[0]
    np.testing.assert_allclose(lp, logp[:50], atol=1e-5)
    np.testing.assert_allclose(np.asarray(logp[:50]).sum(-1),
                               [np.log(exact[tuple(int(x) for x in row)]) for row in np.asarray(acts[:50])], atol=1e-4)
    # with the memory changed the distribution changes: the GRU state is the actor's input
    other = Memory(memory.actor[::-1], memory.critic)
    lp_other = jax.vmap(pol.log_prob, (None, None, None, None, None, 0, None))(params, obs, avail, visible, None,
                                                                                acts[:50], other)[0]
    assert not np.allclose(lp_other, lp, atol=1e-3)


@pytest.fixture(scope="module")
def cg_rollout():
    """Two rollouts of 30 steps on cg_2 (episodes of 25 steps: each crosses a reset) under a recurrent context policy."""
    cfg = resolve(Config(env="cg_2", dag="context", recurrent="gru", gru_hidden=M, num_envs=4, num_steps=30,
                         num_epochs=1, num_minibatches=2, total_steps=240, eval_episodes=0))
    trainer = tr.make_train(cfg)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(3))
    rollout = jax.jit(trainer.rollout)
    state1, traj1 = rollout(state)
    state2, traj2 = rollout(state1)
    return trainer, state, state1, traj1, traj2


def test_memory_starts_at_zero_is_kept_between_rollouts_and_resets_after_an_episode(cg_rollout):
    trainer, state, state1, traj1, traj2 = cg_rollout
    assert np.all(np.asarray(traj1.done[24])) and not np.asarray(traj1.done[:24]).any()
    for leaf in traj1.memory:
        assert np.all(np.asarray(leaf[0]) == 0)  # the run's first step
        assert np.all(np.asarray(leaf[25]) == 0)  # the step after the episode's end
        assert np.abs(np.asarray(leaf[24])).min() > 0 and np.abs(np.asarray(leaf[29])).min() > 0
    # the next rollout starts from where this one stopped (not from zeros)
    for a, b in zip(state1.memory, traj2.memory):
        np.testing.assert_array_equal(a, b[0])
        assert np.abs(np.asarray(b[0])).min() > 0


def test_the_replay_gives_the_rollout_memory_log_probs_and_values(cg_rollout):
    trainer, state, _, traj, _ = cg_rollout
    pol, params = trainer.policy, state.params
    start = jax.tree.map(lambda x: x[0], traj.memory)
    states = jax.jit(pol.replay)(params, start, traj.obs, traj.world_state, traj.done)
    forgotten = pol.reset_memory(states, traj.done)
    for a, b in zip(forgotten, traj.memory):  # the state each step started from is the previous step's, reset at done
        np.testing.assert_allclose(a[:-1], b[1:], atol=1e-6)
    lp = jax.vmap(jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0, 0)), (None, 0, 0, 0, 0, 0, 0))
    logp, _, _ = jax.jit(lp)(params, traj.obs, traj.avail, traj.visible, traj.noise, traj.actions, states)
    np.testing.assert_allclose(logp, traj.logp, atol=1e-5)
    np.testing.assert_allclose(pol.value(params, traj.world_state, states), traj.value_n, atol=1e-5)
    # the check has teeth: replayed from zeros (no memory of the first steps), step 10's log-probs differ
    zeros = jax.tree.map(jnp.zeros_like, start)
    cold = jax.tree.map(lambda x: x[10:], (traj.obs, traj.world_state, traj.done))
    states_cold = pol.replay(params, zeros, *cold)
    logp_cold = lp(params, traj.obs[10:], traj.avail[10:], traj.visible[10:], jax.tree.map(lambda x: x[10:], traj.noise),
                   traj.actions[10:], states_cold)[0]
    assert not np.allclose(logp_cold[0], traj.logp[10], atol=1e-4)
    # ... and after the episode's end the past no longer matters
    np.testing.assert_allclose(logp_cold[25 - 10:], traj.logp[25:], atol=1e-5)


def test_the_update_backpropagates_through_time_within_episodes_only(cg_rollout):
    """The replayed log-prob of step 10 depends on the observations of steps 0..10 (gradient non-zero) and not on
    later ones; step 27's not on step 20's (an episode ended at step 24 in between). One learn step moves the GRUs'
    recurrent kernels, and its loss is finite."""
    trainer, state, state1, traj, _ = cg_rollout
    pol, params = trainer.policy, state.params
    start = jax.tree.map(lambda x: x[0], traj.memory)
    lp = jax.vmap(jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0, 0)), (None, 0, 0, 0, 0, 0, 0))

    def logp_at(obs, t):
        states = pol.replay(params, start, obs, traj.world_state, traj.done)
        return lp(params, obs, traj.avail, traj.visible, traj.noise, traj.actions, states)[0][t].sum()

    g10 = np.abs(np.asarray(jax.grad(logp_at)(traj.obs, 10))).sum(axis=(1, 2, 3))  # per step
    assert (g10[:10] > 0).all() and (g10[11:] == 0).all()
    g27 = np.abs(np.asarray(jax.grad(logp_at)(traj.obs, 27))).sum(axis=(1, 2, 3))
    assert (g27[:25] == 0).all() and (g27[25:28] > 0).all()

    new, metrics = jax.jit(trainer.learn)(state1, traj)
    for net in ("actor", "critic"):
        before = state1.params[net]["params"]["gru"]["wh"]["kernel"]
        after = new.params[net]["params"]["gru"]["wh"]["kernel"]
        assert not np.allclose(before, after), net
    assert np.isfinite(float(metrics.loss.total))


def test_recurrent_config_errors_name_the_value(tmp_path):
    with pytest.raises(UserError, match=r"recurrent.*'lstm'.*none, gru"):
        resolve(Config(env="cg_2", recurrent="lstm"))
    with pytest.raises(UserError, match=r"--gru-hidden 32: only a recurrent policy has a GRU"):
        resolve(Config(env="cg_2", gru_hidden=32))
    with pytest.raises(UserError, match=r"gru_hidden must be a positive integer, got 0"):
        resolve(Config(env="cg_2", recurrent="gru", gru_hidden=0))
    with pytest.raises(UserError, match=r"minibatches split the envs.*num_minibatches = 3 does not divide num_envs = 32"):
        resolve(Config(env="cg_2", recurrent="gru", num_minibatches=3, num_steps=24))
    assert resolve(Config(env="cg_2", recurrent="gru")).gru_hidden == 64
    assert resolve(Config(env="cg_2")).gru_hidden is None


def test_with_dag_input_memory_the_dag_nets_read_the_gru_states_and_train_them():
    """--dag-input memory: the edge and perm nets read memory.actor [N, M] (recomputed here with the nets applied to
    the states directly), the observation no longer matters to G, and the density penalty's gradient reaches the
    actor's GRU (it does not with the default, the nets reading obs)."""
    from jbn.policy import dag as dag_lib

    n, d = 3, 4
    reads = _policy(n=n, d=d, mode="context", dag_reads_memory=True)
    params = _noisy(reads.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert params["edge"]["params"]["Dense_1"]["kernel"].shape == (n * M, 64)  # its first layer reads [N, M]
    k = jax.random.split(jax.random.PRNGKey(2), 4)
    memory = Memory(actor=jax.random.normal(k[0], (n, M)), critic=jax.random.normal(k[1], (M,)))
    obs, visible = jax.random.normal(k[2], (n, d)), jnp.ones((n, n), bool)
    noise = reads.sample_noise(k[3])
    g, _, order = reads.dag(params, obs, visible, noise, memory=memory)
    want_g, want_order = dag_lib.sample_dag(
        "context", n, noise, reads.edge_net.apply(params["edge"], memory.actor),
        reads.perm_net.apply(params["perm"], memory.actor), True, reads.tau, reads.sinkhorn_iters)
    np.testing.assert_allclose(g, want_g, atol=1e-6)
    np.testing.assert_array_equal(order, want_order)
    np.testing.assert_array_equal(reads.dag(params, obs + 1.0, visible, noise, memory=memory)[0], g)

    def penalty_grad(pol, params):
        def penalty(p):
            m = pol.step_memory(p, memory, obs, jnp.ones((6,)))
            return jnp.sum(pol.dag(p, obs, visible, noise, memory=m)[0])
        return jax.grad(penalty)(params)["actor"]["params"]["gru"]["wh"]["kernel"]

    assert float(jnp.abs(penalty_grad(reads, params)).max()) > 1e-4
    plain = _policy(n=n, d=d, mode="context")
    plain_params = _noisy(plain.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    np.testing.assert_array_equal(penalty_grad(plain, plain_params), 0.0)


@pytest.mark.slow
def test_dag_input_memory_trains_end_to_end(tmp_path):
    run = tmp_path / "run"
    train.run(Config(**{**TINY, "dag_input": "memory"}, total_steps=80, run_dir=str(run)))
    rows = _rows(run)
    assert len(rows) == 2 and all(np.isfinite(r["loss_total"]) for r in rows)
    assert json.load(open(run / "config.json"))["dag_input"] == "memory"


def test_dag_input_memory_is_refused_where_it_cannot_act():
    with pytest.raises(UserError, match=r"--dag-input memory: .*GRU states \(--recurrent gru\), and recurrent is 'none'"):
        resolve(Config(env="cg_2", dag="context", dag_input="memory"))
    with pytest.raises(UserError, match=r"--dag-input memory: .*and dag is 'none'"):
        resolve(Config(env="cg_2", dag="none", recurrent="gru", dag_input="memory"))
    with pytest.raises(UserError, match=r"dag_input.*'state'.*obs, memory"):
        resolve(Config(env="cg_2", dag="context", recurrent="gru", dag_input="state"))


TINY = dict(env="cg_2", dag="context", recurrent="gru", gru_hidden=8, num_envs=4, num_steps=10, num_epochs=2,
            num_minibatches=2, eval_episodes=2, eval_every=0, checkpoint_every_s=0.0)


def _rows(run_dir, name="metrics.jsonl"):
    """The logged rows without their wall-clock fields."""
    return [{k: v for k, v in json.loads(line).items() if k != "sps"} for line in open(os.path.join(run_dir, name))]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_recurrent_run_resumes_bit_for_bit_evaluates_and_refuses_a_changed_recurrent(tmp_path):
    """2 seeds, 12 updates straight vs 6 then --resume: the same metrics bit for bit (the GRU states are part of the
    checkpoint); both policies evaluated; resuming as feed-forward is refused."""
    full, part = tmp_path / "full", tmp_path / "part"
    cfg = Config(**TINY, num_seeds=2, total_steps=480, updates_per_chunk=3)
    train.run(dataclasses.replace(cfg, run_dir=str(full)))
    train.run(dataclasses.replace(cfg, run_dir=str(part), total_steps=240))
    train.run(dataclasses.replace(cfg, run_dir=str(part), resume=True))
    a, b = _rows(full), _rows(part)
    assert [r["update"] for r in b if r["seed"] == 0] == list(range(1, 13))
    assert a == b
    policies = {(r["policy"], r["greedy"]) for r in _rows(full, "eval.jsonl")}
    assert policies == {("joint", False), ("joint", True), ("decentralized", False), ("decentralized", True)}
    with pytest.raises(UserError, match=r"recurrent: run has 'gru', now 'none'"):
        train.run(Config(**{**TINY, "recurrent": "none", "gru_hidden": None}, num_seeds=2, total_steps=480,
                         run_dir=str(part), resume=True))
