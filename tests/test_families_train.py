"""The env families through the trainer (issue 30): presets from the anchors' configs, --env-kwargs, your own env by
`package.module:factory`, the shaped reward's anneal, bad input refused before anything is created."""
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from jbn.training.config import Config, UserError, parse_env_kwargs, resolve
from jbn.training.trainer import make_env, make_train, shaping_weight

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN_ENV = "examples.same_colour:make"


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "jbn.train", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


# ------------------------------------------------------------------------------------------------------ presets
# The anchors' values, written here from their config files (not read from jbn): JaxMARL's
# mappo_homogenous_rnn_mpe.yaml, ippo_ff_overcooked.yaml; Mava's system/ppo/ff_mappo.yaml + arch/anakin.yaml
# (16 envs x update_batch_size 2, 1000 updates of 128 steps).
ANCHORS = {
    "mpe_simple_spread": dict(preset="mpe", lr=2e-3, num_envs=16, num_steps=128, num_epochs=4, num_minibatches=4,
                              total_steps=10_000_000, gamma=0.99, ent_coef=0.01),
    "overcooked_coord_ring": dict(preset="overcooked", lr=2.5e-4, num_envs=16, num_steps=128, num_epochs=4,
                                  num_minibatches=4, total_steps=5_000_000, reward_shaping_horizon=2_500_000),
    "lbf_2s-8x8-2p-2f-coop": dict(preset="lbf", lr=2.5e-4, num_envs=32, num_steps=128, num_epochs=4,
                                  num_minibatches=2, total_steps=4_096_000, reward_shaping_horizon=0),
    "rware_tiny-4ag": dict(preset="rware", lr=2.5e-4, num_envs=32, num_epochs=4, num_minibatches=2),
    "matrax_Penalty-100-stateless": dict(preset="matrax", lr=2.5e-4, num_envs=32, num_minibatches=2),
    "cleaner_clean-10x10x10a": dict(preset="cleaner", lr=2.5e-4),
    "connector_con-5x5x3a": dict(preset="connector", lr=2.5e-4),
    OWN_ENV: dict(preset="custom", lr=2.5e-4, num_envs=32),
    "smax_3m": dict(preset="smax", lr=5e-4, num_envs=64, reward_shaping_horizon=0),
}


@pytest.mark.parametrize("env", sorted(ANCHORS))
def test_each_family_gets_its_anchors_preset(env):
    cfg = resolve(Config(env=env, dag="none"))
    for name, value in ANCHORS[env].items():
        assert getattr(cfg, name) == value, (env, name)


def test_env_kwargs_are_parsed_as_json_or_words():
    assert parse_env_kwargs(("num_agents=4", "ratio=0.5", "flag=true", "layout=coord_ring", 'name="x"')) == \
        {"num_agents": 4, "ratio": 0.5, "flag": True, "layout": "coord_ring", "name": "x"}
    for bad in (("num_agents",), ("=3",), ("a=1", "a=2"), ("two words=1",)):
        with pytest.raises(UserError, match="env_kwargs"):
            parse_env_kwargs(bad)


@pytest.mark.parametrize("env, kwargs, match", [
    ("lbf_8x8-2p-2f-coop", ("nope=1",), "nope"),  # unknown key
    ("mpe_simple_spread", ("num_agents=\"four\"",), "num_agents"),  # wrong type
    ("examples.same_colour:nope", (), "nope"),  # no such factory
    ("examples.no_such_module:make", (), "no_such_module"),  # no such module
    ("smax_3m", ("num_agents=3",), "num_agents"),
    ("mpe_simple_spread", ("num_agents=0",), "env kwarg num_agents=0 must be >= 1"),  # was "max() arg is an empty"
    ("smax_3m", ("max_steps=0",), "env kwarg max_steps=0 must be >= 1"),  # trained on, before
    ("overcooked_forced_coord", ("max_steps=-5",), "env kwarg max_steps=-5 must be >= 1"),
    ("rware_tiny-4ag", ("num_agents=0",), "env kwarg num_agents=0 must be >= 1"),
    ("mpe_simple_sprad", (), "Did you mean 'mpe_simple_spread'"),  # an unknown name is not mapped to a family
])
def test_bad_envs_and_kwargs_are_refused_before_compiling(env, kwargs, match):
    with pytest.raises(UserError, match=match):
        resolve(Config(env=env, env_kwargs=kwargs))


def test_a_factory_module_that_is_not_found_says_where_it_was_looked_for(tmp_path, monkeypatch):
    """The README's own-env command run from another folder, and a module whose own import is missing."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=re.escape(f"no module named 'nowhere_pkg' in the current directory "
                                                  f"{str(tmp_path)!r} or on the Python path: run from the folder "
                                                  f"that holds nowhere_pkg/ or nowhere_pkg.py")):
        resolve(Config(env="nowhere_pkg.envs:make"))
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep_xyz\ndef make():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match="it imports 'not_installed_dep_xyz', which is not installed"):
        resolve(Config(env="needs_dep:make"))


def test_reward_shaping_horizon_is_refused_where_nothing_is_shaped():
    with pytest.raises(UserError, match="no shaped reward"):
        resolve(Config(env="lbf_8x8-2p-2f-coop", reward_shaping_horizon=1000))


# ------------------------------------------------------------------------------------------------ shaping
def test_the_shaped_reward_is_annealed_linearly_to_zero_over_the_horizon():
    """JaxMARL's anneal: weight 1 - (env steps done) / horizon, clipped to [0, 1]; per-seed env steps done before
    update u are u * num_envs * num_steps (16 * 128 = 2048 here, horizon 8192 = 4 updates)."""
    cfg = resolve(Config(env="overcooked_cramped_room", dag="none", total_steps=16384, reward_shaping_horizon=8192))
    env = make_env(cfg)
    got = [float(shaping_weight(cfg, env, jnp.int32(u))) for u in range(6)]
    np.testing.assert_allclose(got, [1.0, 0.75, 0.5, 0.25, 0.0, 0.0])
    assert shaping_weight(resolve(Config(env="lbf_8x8-2p-2f-coop")), make_env(resolve(Config(env="lbf_8x8-2p-2f-coop"))),
                          jnp.int32(0)) is None


def test_the_rollout_rewards_sparse_plus_weighted_shaped_and_returns_count_the_sparse_only():
    """The trainer's rollout on Overcooked: each step's training reward is the env's sparse reward plus the weight
    times the sum of the agents' shaped rewards (read from the raw env's infos, stepped beside it with the same keys
    and actions), while the episode return counts the sparse reward alone."""
    cfg = resolve(Config(env="overcooked_cramped_room", dag="none", num_envs=2, num_steps=64, total_steps=4 * 128,
                         reward_shaping_horizon=256, eval_episodes=0))
    trainer = make_train(cfg)
    state = trainer.init(jax.random.PRNGKey(3))
    state = state.replace(update=jnp.int32(1))  # 128 of 256 steps done: weight 0.5
    _, traj = jax.jit(trainer.rollout)(state)
    raw = trainer.env.env
    env_state = jax.tree.map(lambda x: x, state.env_state.env_state)
    # replay the same steps on the raw env: the env keys of jbn's rollout convention
    from jbn.training.rollout import step_keys
    key = jax.random.split(state.key)[1]
    sparse, shaped = [], []
    for t in range(cfg.num_steps):
        key, _, env_key = step_keys(key)
        keys = jax.random.split(env_key, cfg.num_envs)
        actions = np.asarray(traj.actions[t])
        rows_r, rows_s, new_states = [], [], []
        for e in range(cfg.num_envs):
            k, _ = jax.random.split(keys[e])
            st = jax.tree.map(lambda x: x[e], env_state)
            _, st2, rew, done, info = raw.step_env(k, st, {a: jnp.int32(actions[e, i]) for i, a in enumerate(raw.agents)})
            rows_r.append(float(rew[raw.agents[0]]))
            rows_s.append(float(sum(info["shaped_reward"][a] for a in raw.agents)))
            new_states.append(st2)
        sparse.append(rows_r)
        shaped.append(rows_s)
        # Overcooked's episodes (400 steps) do not end within 64 steps: no reset to follow
        env_state = jax.tree.map(lambda *xs: jnp.stack(xs), *new_states)
    sparse, shaped = np.array(sparse), np.array(shaped)
    assert shaped.sum() > 0, "no shaped event in the rollout: pick another key"
    np.testing.assert_allclose(np.asarray(traj.reward), sparse + 0.5 * shaped, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ your own env
def test_your_own_env_trains_from_the_cli_with_its_kwargs_and_resumes(tmp_path):
    run = tmp_path / "own"
    base = ["--env", OWN_ENV, "--env-kwargs", "num_agents=2", "--env-kwargs", "num_colours=3", "--dag", "full",
            "--num-envs", "4", "--num-steps", "10", "--num-epochs", "1", "--num-minibatches", "1",
            "--eval-episodes", "2", "--updates-per-chunk", "2", "--checkpoint-every-s", "0", "--run-dir", str(run)]
    r = _cli(*base, "--total-steps", "80")
    assert r.returncode == 0, r.stderr[-2000:]
    saved = json.loads((run / "config.json").read_text())
    assert saved["env"] == OWN_ENV and saved["env_kwargs"] == ["num_agents=2", "num_colours=3"]
    assert saved["preset"] == "custom"
    r = _cli("--run-dir", str(run), "--resume", "--total-steps", "120", "--updates-per-chunk", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert [row["update"] for row in rows] == [1, 2, 3]
    r = _cli("--run-dir", str(run), "--resume", "--env-kwargs", "num_agents=3")
    assert r.returncode == 2 and "env_kwargs" in r.stderr


@pytest.mark.parametrize("args, match", [
    (["--env", "examples.same_colour:nope"], "nope"),
    (["--env", OWN_ENV, "--env-kwargs", "num_agents=1"], "num_agents"),
    (["--env", OWN_ENV, "--env-kwargs", "colours=3"], "colours"),
    (["--env", "lbf_8x8-2p-2f-coop", "--env-kwargs", "grid_size=\"big\""], "grid_size"),
])
def test_bad_envs_on_the_cli_are_one_error_line_and_nothing_is_created(tmp_path, args, match):
    run = tmp_path / "never"
    r = _cli(*args, "--run-dir", str(run))
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], r.stderr
    assert not run.exists()


# ------------------------------------------------------------------------------------------------ family rules
def test_env_rules_override_a_familys_rules_and_bad_rules_are_refused():
    """--env-rules team_reward=mean on MPE: the team reward of a step is the mean of the agents' rewards (computed
    here from the raw env's step) instead of MPE's default sum; max_steps sets the episode limit of your own env."""
    cfg = resolve(Config(env="mpe_simple_spread", env_rules=("team_reward=mean",)))
    env = make_env(cfg)
    assert env.family.rules["team_reward"] == "mean"
    state, _ = env.reset(jax.random.PRNGKey(0))
    actions = jnp.array([1, 2, 3], jnp.int32)
    _, ts = env.step(jax.random.PRNGKey(1), state, actions)
    raw = env.env
    k, _ = jax.random.split(jax.random.PRNGKey(1))
    _, _, rew, _, _ = raw.step_env(k, state.env_state, {a: actions[i] for i, a in enumerate(raw.agents)})
    np.testing.assert_allclose(float(ts.reward), np.mean([float(rew[a]) for a in raw.agents]), rtol=1e-6)
    for rules, match in [(("team_reward=median",), "median"), (("teamreward=sum",), "teamreward"),
                         (("max_steps=\"ten\"",), "max_steps")]:
        with pytest.raises(UserError, match=match):
            resolve(Config(env="mpe_simple_spread", env_rules=rules))


# ------------------------------------------------------------------------------------------------ the CNN torso
def _np_conv_same(x, kernel, bias):
    """3x3 'SAME' convolution (cross-correlation, as flax/XLA compute it) by explicit loops: x [H, W, C], kernel
    [3, 3, C, F], bias [F] -> [H, W, F]."""
    h, w, _ = x.shape
    kh, kw = kernel.shape[:2]
    xp = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.einsum("abc,abcf->f", xp[i:i + kh, j:j + kw], kernel) + bias
    return out


def test_the_cnn_torso_equals_a_numpy_convolution_network():
    from jbn.policy.torso import ConvTorso
    torso = ConvTorso(hidden=8, channels=4)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, 5)))  # two grids [3, 4, 5]
    params = torso.init(jax.random.PRNGKey(1), x)["params"]
    p = jax.tree.map(np.asarray, params)
    got = np.asarray(torso.apply({"params": params}, x))
    for b in range(2):
        h = np.maximum(_np_conv_same(x[b], p["Conv_0"]["kernel"], p["Conv_0"]["bias"]), 0)
        h = np.maximum(_np_conv_same(h, p["Conv_1"]["kernel"], p["Conv_1"]["bias"]), 0)
        want = np.maximum(h.reshape(-1) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"], 0)
        np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5)


def test_torso_auto_picks_cnn_for_grids_and_refuses_cnn_for_vectors():
    assert resolve(Config(env="overcooked_cramped_room", dag="none")).torso == "cnn"
    assert resolve(Config(env="connector_con-5x5x3a", dag="none", torso="mlp")).torso == "mlp"
    assert resolve(Config(env="lbf_8x8-2p-2f-coop", dag="none")).torso == "mlp"
    with pytest.raises(UserError, match="grid observations"):
        resolve(Config(env="lbf_8x8-2p-2f-coop", torso="cnn"))
    cnn = make_env(resolve(Config(env="overcooked_cramped_room")))
    mlp = make_env(resolve(Config(env="overcooked_cramped_room", torso="mlp")))
    assert cnn.obs_shape == (4, 5, 26) and cnn.state_shape == (4, 5, 52)
    assert mlp.obs_shape == (4 * 5 * 26,) and mlp.state_shape == (4 * 5 * 52,)


@pytest.mark.parametrize("recurrent", ["none", "gru"])
def test_a_cnn_policy_samples_and_scores_the_same_joint_action(recurrent):
    """On grid observations (Connector, a learned context DAG): the log-probs recorded while sampling in topological
    order equal the one-pass teacher-forced log-probs, and the critic reads the grid world state."""
    cfg = resolve(Config(env="connector_con-5x5x3a", dag="context", recurrent=recurrent, num_envs=2, num_steps=4,
                         num_minibatches=1, total_steps=64, eval_episodes=0))
    trainer = make_train(cfg)
    policy, env = trainer.policy, trainer.env
    assert policy.torso == "cnn" and "conv" in str(jax.tree_util.tree_structure(trainer.init(jax.random.PRNGKey(0)).params))
    state = trainer.init(jax.random.PRNGKey(0))
    _, traj = jax.jit(trainer.rollout)(state)
    t = 2
    obs, avail, vis = traj.obs[t], traj.avail[t], traj.visible[t]
    memory = None if traj.memory is None else jax.tree.map(lambda m: m[t], traj.memory)
    if memory is not None:
        memory = jax.vmap(policy.step_memory, in_axes=(None, 0, 0, 0))(state.params, memory, obs, traj.world_state[t])
    logp, _, _ = jax.vmap(policy.log_prob, in_axes=(None, 0, 0, 0, 0, 0, 0))(
        state.params, obs, avail, vis, jax.tree.map(lambda x: x[t], traj.noise), traj.actions[t], memory)
    np.testing.assert_allclose(np.asarray(logp), np.asarray(traj.logp[t]), rtol=1e-5, atol=1e-5)
