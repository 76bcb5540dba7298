"""Evaluation (jbn/evaluate.py, jbn/evaluation/render.py): joint vs decentralised execution, greedy actions against the
conditionals from `log_prob`, returns and first-episode masking on a tiny env whose return is its length, the
in-pass analyses against jbn/evaluation/analysis.py on the recorded steps, one trace per evaluator, and the CLI end to end."""
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete

import envs_jax
from jbn.evaluation import analysis, cli as evaluate
from jbn import evaluation, train
from jbn.training import trainer as tr
from jbn.host import checkpoint as ckpt
from jbn.training.config import Config, resolve
from jbn.policy.joint import BNPolicy


# ------------------------------------------------------------------------------------------------ a tiny env
@struct.dataclass
class CountdownState:
    remaining: jax.Array  # int32 [] steps left in the episode
    feat: jax.Array  # float32 [N] a random feature per agent, redrawn every step


class Countdown(MultiAgentEnv):
    """Episodes of a random length L in {1..max_steps} (drawn at reset), team reward 1 per step, so an episode's
    return is its length. Observation of agent i: (feature_i, remaining / max_steps). The last agent's action 2
    is never available."""

    def __init__(self, num_agents=3, max_steps=6):
        super().__init__(num_agents)
        self.max_steps = max_steps
        self.agents = [f"agent_{i}" for i in range(num_agents)]
        self.observation_spaces = {a: Box(-10.0, 10.0, (2,)) for a in self.agents}
        self.action_spaces = {a: Discrete(3) for a in self.agents}

    def _obs(self, s):
        rem = jnp.full((self.num_agents,), s.remaining / self.max_steps, jnp.float32)
        obs = {a: jnp.stack([s.feat[i], rem[i]]) for i, a in enumerate(self.agents)}
        obs["world_state"] = jnp.concatenate([s.feat, rem[:1]])
        return obs

    def reset(self, key):
        k1, k2 = jax.random.split(key)
        s = CountdownState(jax.random.randint(k1, (), 1, self.max_steps + 1), jax.random.normal(k2, (self.num_agents,)))
        return self._obs(s), s

    def step_env(self, key, state, actions):
        s = CountdownState(state.remaining - 1, jax.random.normal(key, (self.num_agents,)))
        done = s.remaining <= 0
        rewards = {a: jnp.float32(1.0) for a in self.agents}
        dones = {a: done for a in self.agents} | {"__all__": done}
        return self._obs(s), s, rewards, dones, {"terminated": done, "truncated": jnp.bool_(False)}

    def get_avail_actions(self, state):
        last = self.agents[-1]
        return {a: jnp.array([True, True, a != last]) for a in self.agents}


def _sharp(params, arch):
    """Parameters whose conditionals are far from uniform and move with the parents' actions."""
    actor = jax.tree.map(lambda x: x, params["actor"])
    actor["params"]["out"]["kernel"] = 100.0 * actor["params"]["out"]["kernel"]
    actor["params"]["parent_in"]["kernel"] = (500.0 if arch == "cg" else 5.0) * actor["params"]["parent_in"]["kernel"]
    return {**params, "actor": actor}


def _tiny_policy(mode, **kw):
    return BNPolicy(num_agents=3, obs_dim=2, state_dim=4, num_actions=3, mode=mode, arch="smax", hidden=16, **kw)


def _cg(mode, n=3):
    cfg = resolve(Config(env=f"cg_{n}", dag=mode, num_envs=2, num_steps=5, total_steps=40, num_minibatches=1))
    env = tr.make_env(cfg)
    return cfg, env, tr.make_policy(cfg, env)


def _seeds(policy, arch, num_seeds=2):
    """Seed-batched parameters. One init per seed, not vmap(init): a batched orthogonal init is a batched QR, and
    two batched LAPACK QRs running at once can deadlock XLA's CPU thread pool on 2 cores (jaxlib 0.10.2)."""
    init = jax.jit(lambda k: _sharp(policy.init(k), arch))
    per_seed = [init(k) for k in jax.random.split(jax.random.PRNGKey(0), num_seeds)]
    return jax.tree.map(lambda *x: jnp.stack(x), *per_seed)


_COMMON = ("return", "length", "episodes", "seed", "greedy")


# ------------------------------------------------------------------------------------------------ joint vs decentralised
def test_decentralized_is_mode_none_and_differs_for_full():
    cfg_none, env, none = _cg("none")
    cfg_full, _, full = _cg("full")
    params = _seeds(full, "cg")  # the none policy uses the same actor (its parent block is skipped)
    key = jax.random.PRNGKey(3)
    rows_none = evaluation.make_evaluator(cfg_none, none, env, 8, decentralized=True)(params, key, update=0, env_steps=0)
    joint = [r for r in rows_none if r["policy"] == "joint"]
    dec = [r for r in rows_none if r["policy"] == "decentralized"]
    assert len(joint) == len(dec) == 4  # 2 seeds x (sampled, greedy)
    assert all(r["episodes"] == 8 and r["length"] == 25.0 for r in rows_none)  # CG episodes last the horizon
    for a, b in zip(joint, dec):  # a none policy run decentralised is itself, number for number
        assert {k: a[k] for k in _COMMON} == {k: b[k] for k in _COMMON}

    rows_full = evaluation.make_evaluator(cfg_full, full, env, 8)(params, key, update=0, env_steps=0)
    dec_full = [r for r in rows_full if r["policy"] == "decentralized"]
    joint_full = [r for r in rows_full if r["policy"] == "joint"]
    # the full policy's decentralised rows are exactly the none policy's rows (same actor, same random numbers) ...
    for a, b in zip(dec_full, joint):
        assert {k: a[k] for k in _COMMON} == {k: b[k] for k in _COMMON}
    # ... and its joint rows are not: the parents' actions move the actions (sharp parent block).
    assert [r["return"] for r in joint_full] != [r["return"] for r in dec_full]
    assert all(r["dag_density"] == 1.0 and r["parents_by_agent"] == [0.0, 1.0, 2.0] for r in joint_full)
    assert "kl_by_agent" not in dec_full[0]


# ------------------------------------------------------------------------------------------------ greedy
def test_greedy_takes_the_argmax_of_each_conditional():
    mode = "context"  # a learned DAG and order: the greedy DAG is the most likely one, the actions follow its order
    pol = _tiny_policy(mode, learn_order=True)
    greedy = dataclasses.replace(pol, greedy=True)
    params = _sharp(pol.init(jax.random.PRNGKey(0)), "smax")
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, 2))
    avail = jnp.ones((3, 3), bool).at[2, 2].set(False)
    visible = jnp.ones((3, 3), bool)

    def greedy_step(key):
        k1, k2 = jax.random.split(key)
        noise = greedy.sample_noise(k1)
        actions, _, g = greedy.sample(params, obs, avail, visible, noise, k2)
        return actions, g, noise

    greedy_step = jax.jit(greedy_step)
    actions, g, noise = greedy_step(jax.random.PRNGKey(5))
    actions2, g2, _ = greedy_step(jax.random.PRNGKey(6))
    np.testing.assert_array_equal(actions, actions2)  # no randomness left, DAG included
    np.testing.assert_array_equal(g, g2)
    # Each agent's action maximises its conditional given the others' greedy actions (log_prob, one parallel pass).
    alts = jnp.stack([actions.at[i].set(b) for i in range(3) for b in range(3)])  # [agent i x action b, N]
    log_prob = jax.jit(jax.vmap(pol.log_prob, (None, None, None, None, None, 0)))
    lp = np.asarray(log_prob(params, obs, avail, visible, noise, alts)[0]).reshape(3, 3, 3)  # [i, b, agent]
    for i in range(3):
        lp_i = np.where(np.asarray(avail[i]), lp[i, :, i], -np.inf)
        assert int(actions[i]) == int(np.argmax(lp_i)), (i, lp_i)
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(noise))  # the most likely DAG: zero Gumbel noise
    assert float(g.sum()) > 0  # with edges, so the order and the parents matter
    # The sampled policy (same parameters) is not greedy everywhere: draws differ across keys.
    draw = jax.jit(jax.vmap(lambda k: pol.sample(params, obs, avail, visible, pol.sample_noise(k), k)[0]))
    assert len({tuple(a) for a in np.asarray(draw(jax.random.split(jax.random.PRNGKey(7), 20)))}) > 1


# ------------------------------------------------------------------------------------------------ returns, masking, analyses
def _tiny_out(mode, num_episodes, key, record=True):
    env = envs_jax.ArrayEnv(Countdown())
    pol = _tiny_policy(mode)
    params = _sharp(pol.init(jax.random.PRNGKey(0)), "smax")
    episodes = evaluation.make_episodes([pol], env, num_episodes, analyses=[True], record=record)
    return env, pol, params, jax.device_get(jax.jit(episodes)(params, key))


def test_returns_lengths_and_first_episode_masking():
    env, _, _, out = _tiny_out("full", 16, jax.random.PRNGKey(0), record=False)
    assert out.finished.all()
    lengths = out.lengths[0]
    assert len(set(lengths.tolist())) > 2  # episodes of several lengths ...
    np.testing.assert_array_equal(out.returns[0], lengths)  # ... and return = length (reward 1 per step)
    # The analyses count exactly the steps of each env's first episode, not the steps after the auto-reset.
    assert float(out.stats.steps[0]) == lengths.sum() < 16 * env.max_steps
    np.testing.assert_allclose(out.stats.in_degree[0], lengths.sum() * np.array([0, 1, 2]))
    np.testing.assert_allclose(out.stats.density[0], lengths.sum())
    np.testing.assert_allclose(out.stats.kl.den[0], lengths.sum())  # every agent always has a choice here
    # A family that declares no visibility and no team geometry: no such tallies, and rows without their fields.
    assert out.stats.visible_parents is None and out.stats.health is None and out.stats.distance is None
    row = evaluation.rows.analysis_fields(jax.tree.map(lambda x: x[0], out.stats))
    assert set(row) == {"kl_by_agent", "parents_by_agent", "dag_density"}


def test_cg_episodes_last_the_horizon_and_return_sums_the_recorded_rewards():
    _, env, pol = _cg("full", n=2)
    params = pol.init(jax.random.PRNGKey(0))  # near-uniform actions: the state (and the reward) keeps changing
    episodes = evaluation.make_episodes([pol], env, 5, analyses=[False], record=True)
    out = jax.device_get(jax.jit(episodes)(params, jax.random.PRNGKey(4)))
    assert env.max_steps == 25 and out.finished.all() and np.all(out.lengths == 25)
    # Env 0's return from its recorded states: Σ_t R(s_t), R from the game's exact reward table (state index Σ s_i 2^i).
    table = env.env.reward_table()
    s = np.asarray(out.record.env_state.env_state.s)  # [T, N] state before each step
    by_hand = table[(s * (2 ** np.arange(2))).sum(1)]  # [T] R(s_t)
    assert len(set(by_hand.tolist())) > 1  # rewards vary within the episode
    np.testing.assert_allclose(np.asarray(out.record.reward), by_hand)  # step by step: r_t = R(s_t)
    np.testing.assert_allclose(out.returns[0, 0], by_hand.sum(), rtol=1e-6)


@pytest.mark.parametrize("mode", ["none", "full"])
def test_in_pass_analyses_equal_analysis_functions_on_the_recorded_steps(mode):
    env, pol, params, out = _tiny_out(mode, 1, jax.random.PRNGKey(11))
    length = int(out.lengths[0, 0])
    rec = out.record
    kl, deg = [], []
    for t in range(length):  # recompute each step's observation from the recorded state
        s = jax.tree.map(lambda x: x[t], rec.env_state.env_state)
        obs = jnp.stack([v for k, v in env.env._obs(s).items() if k != "world_state"])
        avail = env.family._avail(s)
        kl.append(analysis.multimodality_kl(pol, params, obs, avail, jnp.ones((3, 3), bool), None, rec.actions[t]))
        deg.append(analysis.dag_degrees(rec.g[t], jnp.arange(3)).in_degree)
    kl, deg = np.asarray(kl), np.asarray(deg)
    np.testing.assert_allclose(out.stats.kl.num[0], kl.sum(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.stats.in_degree[0], deg.sum(0))
    row = evaluation.rows.analysis_fields(jax.tree.map(lambda x: x[0], out.stats))
    np.testing.assert_allclose(row["kl_by_agent"], kl.mean(0), rtol=1e-5, atol=1e-7)
    if mode == "none":
        assert row["kl_by_agent"] == [0.0, 0.0, 0.0] and row["dag_density"] == 0.0
    else:
        assert kl[:, 1:].min() > 1e-3  # the sharp parent block makes the KL of agents with parents clearly > 0
        assert row["dag_density"] == 1.0 and row["parents_by_agent"] == [0.0, 1.0, 2.0]


@pytest.mark.slow
def test_smax_in_pass_analyses_equal_analysis_functions_on_the_recorded_steps():
    env = envs_jax.ArrayEnv(envs_jax.make("smax_3m"))
    pol = BNPolicy(num_agents=3, obs_dim=env.obs_dim, state_dim=env.state_dim, num_actions=env.num_actions,
                   mode="full", mask_invisible_parents=True)
    params = pol.init(jax.random.PRNGKey(0))
    episodes = evaluation.make_episodes([pol], env, 1, analyses=[True], record=True)
    out = jax.device_get(jax.jit(episodes)(params, jax.random.PRNGKey(2)))
    length = int(out.lengths[0, 0])
    sums = {k: [np.zeros(3), np.zeros(3)] for k in ("vis", "health", "dist")}
    for t in range(length):
        state = jax.tree.map(lambda x: x[t], out.record.env_state)
        allies = env.family.team_geometry(state.env_state)
        g = out.record.g[t]
        for k, tally in (("vis", analysis.visible_parent_fraction(g, env.family._visible(state.env_state), allies.alive)),
                         ("health", analysis.parent_health_ratio(g, allies.health, allies.alive)),
                         ("dist", analysis.parent_distance_ratio(g, allies.positions, allies.alive))):
            sums[k][0] += np.asarray(tally.num)
            sums[k][1] += np.asarray(tally.den)
    st = jax.tree.map(lambda x: x[0], out.stats)
    for k, tally in (("vis", st.visible_parents), ("health", st.health), ("dist", st.distance)):
        np.testing.assert_allclose(tally.num, sums[k][0], rtol=1e-5)
        np.testing.assert_allclose(tally.den, sums[k][1])
    assert sums["vis"][1].sum() > 0 and sums["health"][1].sum() > 0  # the example has parents to count
    row = evaluation.rows.analysis_fields(st)
    np.testing.assert_allclose(row["visible_parent_fraction"], sums["vis"][0].sum() / sums["vis"][1].sum(), rtol=1e-6)


def _numpy_distance_ratio(pos, g):
    """Fig. 9 by hand for one step where every agent is alive: for child i with parents P (g[j, i] = 1),
    mean_{j in P} |x_i - x_j| / mean_{j != i} |x_i - x_j|; (num, den) = (ratio, 1) where P is non-empty, else (0, 0)."""
    n = len(pos)
    num, den = np.zeros(n), np.zeros(n)
    for i in range(n):
        parents = [j for j in range(n) if g[j, i] > 0.5]
        if parents:
            d = {j: float(np.hypot(*(pos[i] - pos[j]))) for j in range(n) if j != i}
            num[i] = np.mean([d[j] for j in parents]) / np.mean(list(d.values()))
            den[i] = 1.0
    return num, den


@pytest.mark.parametrize("name, kwargs", [("mpe_simple_spread", ()), ("lbf_2s-10x10-3p-3f", ("time_limit=8",))])
def test_new_families_distance_ratio_equals_numpy_from_the_recorded_positions(name, kwargs):
    """MPE and LBF declare a team geometry: the kernel's Fig. 9 tallies over env 0's first episode under the line DAG
    (i-1 -> i) equal a numpy computation from the positions read off the recorded states (MPE's p_pos, LBF's agent
    cells), and the rows carry the distance ratio but no health ratio; LBF's visible-parent fraction is the share
    of parents within the child's field of view (Chebyshev distance <= fov)."""
    cfg = resolve(Config(env=name, dag="line", num_envs=2, num_steps=8, total_steps=16, env_kwargs=kwargs))
    env = tr.make_env(cfg)
    pol = tr.make_policy(cfg, env)
    params = pol.init(jax.random.PRNGKey(0))
    episodes = evaluation.make_episodes([pol], env, 1, analyses=[True], record=True)
    out = jax.device_get(jax.jit(episodes)(params, jax.random.PRNGKey(3)))
    length = int(out.lengths[0, 0])
    raw = out.record.env_state.env_state
    pos = np.asarray(raw.p_pos)[:, :3] if name.startswith("mpe") else np.asarray(raw.agents.position, np.float64)
    line = np.eye(3, k=1)
    num, den, vis_num, vis_den = np.zeros(3), np.zeros(3), 0.0, 0.0
    for t in range(length):
        np.testing.assert_array_equal(out.record.g[t], line)
        n_t, d_t = _numpy_distance_ratio(pos[t].astype(np.float64), line)
        num, den = num + n_t, den + d_t
        if name.startswith("lbf"):  # agent i sees its parent i - 1 within the field of view
            for i in (1, 2):
                vis_num += float(np.max(np.abs(pos[t, i] - pos[t, i - 1])) <= env.env.fov)
                vis_den += 1.0
    st = jax.tree.map(lambda x: x[0], out.stats)
    assert st.health is None
    np.testing.assert_allclose(st.distance.num, num, rtol=1e-5)
    np.testing.assert_array_equal(st.distance.den, den)
    assert den[1:].min() == length and den[0] == 0  # agent 0 has no parent under the line DAG
    row = evaluation.rows.analysis_fields(st)
    assert "parent_health_ratio_by_agent" not in row
    assert row["parent_distance_ratio_by_agent"][0] is None
    np.testing.assert_allclose(row["parent_distance_ratio_by_agent"][1:], num[1:] / den[1:], rtol=1e-5)
    assert len(set(np.round(num[1:] / den[1:], 4))) > 1 or (num[1:] / den[1:] != 1).any()  # not trivially 1
    if name.startswith("lbf"):
        assert 0 < vis_num < vis_den  # some parents in view and some not (fov 2 on a 10 x 10 grid)
        np.testing.assert_allclose(row["visible_parent_fraction"], vis_num / vis_den, rtol=1e-6)
    else:
        assert st.visible_parents is None and "visible_parent_fraction" not in row


def test_evaluator_traces_once_and_rows_are_json():
    cfg, env, pol = _cg("full", n=2)
    ev = evaluation.make_evaluator(cfg, pol, env, 3)
    params = _seeds(pol, "cg")
    rows1 = ev(params, jax.random.PRNGKey(0), update=1, env_steps=10)
    rows2 = ev(params, jax.random.PRNGKey(1), update=2, env_steps=20, first_seed=5)
    assert ev.traces == 1
    assert [r["seed"] for r in rows2] == [5, 5, 5, 5, 6, 6, 6, 6]
    assert json.loads(json.dumps(rows1)) == rows1
    keys = set(rows1[0])
    assert keys == {"update", "env_steps", "seed", "policy", "greedy", "return", "length", "episodes", "returns",
                    "kl_by_agent", "parents_by_agent", "dag_density"}
    summary = evaluation.summarize(rows1, env.has_win)
    assert set(summary) == {"joint", "decentralized"}
    assert set(summary["joint"]) == {"return_mean", "return_per_seed", "length_mean", "episodes_per_seed"}


# ------------------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run") / "cg2")
    train.run(resolve(Config(env="cg_2", dag="full", num_envs=2, num_steps=5, total_steps=40, num_epochs=1,
                             num_minibatches=1, eval_episodes=0, checkpoint_every_s=0, run_dir=run_dir)))
    return run_dir


def _cli(argv, capsys):
    try:
        evaluate.main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_json(tiny_run, capsys, tmp_path):
    out = str(tmp_path / "e.json")
    code, stdout, _ = _cli([tiny_run, "--episodes", "3", "--out", out], capsys)
    assert code == 0
    result = json.load(open(out))
    newest = ckpt.list_updates(tiny_run)[0]
    assert result["checkpoint"] == newest == 4
    assert [(r["policy"], r["greedy"]) for r in result["rows"]] == [
        ("joint", False), ("joint", True), ("decentralized", False), ("decentralized", True)]
    assert all(r["episodes"] == 3 and r["update"] == 4 and r["env_steps"] == 40 for r in result["rows"])
    assert "evaluation" in stdout and "kl" in stdout


def test_cli_bad_input_exits_2(tiny_run, capsys, tmp_path):
    code, _, err = _cli([str(tmp_path / "nope")], capsys)
    assert code == 2 and err.startswith("error:") and "does not exist" in err
    code, _, err = _cli([tiny_run, "--checkpoint", "99"], capsys)
    assert code == 2 and "--checkpoint 99" in err and "available: 4, 3, 2" in err
    code, _, err = _cli([tiny_run, "--render", str(tmp_path / "x.gif")], capsys)
    assert code == 2 and "SMAX" in err
    # a config from another layout
    bad = tmp_path / "old"
    bad.mkdir()
    cfg = json.load(open(os.path.join(tiny_run, "config.json")))
    (bad / "config.json").write_text(json.dumps({**cfg, "old_field": 1}))
    code, _, err = _cli([str(bad)], capsys)
    assert code == 2 and "old_field" in err
    (bad / "config.json").write_text("{not json")
    code, _, err = _cli([str(bad)], capsys)
    assert code == 2 and "cannot read" in err


def test_cli_damaged_checkpoint(tiny_run, capsys, tmp_path):
    import shutil

    run = str(tmp_path / "copy")
    shutil.copytree(tiny_run, run)
    path = os.path.join(ckpt.root(run), "4")
    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f != ckpt.MANIFEST]
    biggest = max(files, key=os.path.getsize)
    data = bytearray(open(biggest, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(biggest, "wb").write(bytes(data))
    code, _, err = _cli([run, "--checkpoint", "4", "--episodes", "2"], capsys)
    assert code == 2 and "damaged" in err and "checksum" in err
    # without --checkpoint: the newest good one, with a warning (and --greedy: the greedy rows only)
    code, _, err = _cli([run, "--episodes", "2", "--greedy"], capsys)
    assert code == 0 and "damaged" in err
    result = json.load(open(os.path.join(run, "eval_3.json")))
    assert result["checkpoint"] == 3
    assert [(r["policy"], r["greedy"], r["update"]) for r in result["rows"]] == [("joint", True, 3),
                                                                                 ("decentralized", True, 3)]


@pytest.mark.slow
def test_cli_render_smax_gif(tmp_path, capsys):
    from PIL import Image

    run_dir = str(tmp_path / "smax")
    train.run(resolve(Config(env="smax_3m", dag="full", num_envs=2, num_steps=5, total_steps=10, num_epochs=1,
                             num_minibatches=1, eval_episodes=0, run_dir=run_dir)))
    gif = str(tmp_path / "ep.gif")
    code, _, err = _cli([run_dir, "--episodes", "1", "--render", gif], capsys)
    assert code == 0, err
    rows = json.load(open(os.path.join(run_dir, "eval_1.json")))["rows"]
    length = next(r["length"] for r in rows if r["policy"] == "joint" and not r["greedy"] and r["seed"] == 0)
    with Image.open(gif) as im:
        frames = im.n_frames
    # the GIF is exactly the evaluation's first episode of seed 0 (joint, sampled): one frame per step
    assert frames == int(length) <= envs_jax.ArrayEnv(envs_jax.make("smax_3m")).max_steps
