"""Training on the real StarCraft II (jbn/driver/game_stepper.py): the host-side rollout reproduces the compiled one, and
`python -m jbn.train --env sc2_<map>` runs end to end against our fake game (a fake SC2PATH install started
through pysc2's real launch path): metrics, checkpoints, resume, a game killed mid-run, a game that cannot
be relaunched, and the run's evaluation on the game."""
import dataclasses
import io
import json
import os
import shutil

import jax
import numpy as np
import pytest

from envs_jax.sc2 import env as sc2_env
from jbn.host import checkpoint as ckpt
from jbn.host import real_game as game
from jbn.driver import game_stepper
from jbn import train
from jbn.training import trainer as tr
from jbn.training.config import Config, resolve

# 2 games x 8 steps = 16 env steps per update; one epoch of one minibatch.
TINY = dict(env="sc2_3m", num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, checkpoint_every_s=0.0)


def _rows(run_dir, name="metrics.jsonl"):
    return [json.loads(line) for line in open(os.path.join(run_dir, name))]


def _console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=200)


@pytest.fixture
def fake_game(tmp_path, monkeypatch):
    """Point SC2PATH at a fake install playing sc2_3m; returns a function to rewrite its map."""
    pytest.importorskip("pysc2", reason="the StarCraft II bridge needs pysc2: pip install -e '.[sc2]'")
    from envs_jax.sc2.fake_server import fake_map, write_fake_install

    def install(**options):
        root = write_fake_install(tmp_path / "sc2", {"3m": fake_map("3m", **options)})
        monkeypatch.setenv("SC2PATH", str(root))
        return root

    return install


# ------------------------------------------------------------------------------------------------ host rollout
class HostJaxEnv:
    """A JAX env stepped from the host loop as the game is (one call per step, key split over the E envs as
    `act_and_step` splits it)."""

    def __init__(self, env, num_envs):
        self.num_envs = num_envs
        self._step = jax.jit(lambda key, s, a: jax.vmap(env.step)(jax.random.split(key, num_envs), s, a))

    def step(self, key, state, actions):
        return self._step(key, state, actions)


@pytest.mark.parametrize("dag,recurrent", [("context", "none"), ("none", "none"), ("context", "gru")])
def test_host_rollout_and_learn_equal_the_compiled_update(dag, recurrent):
    """The Python loop (one jitted act per step, the env stepped outside jit, numpy stacking) gives the compiled
    `Trainer.rollout`'s transitions and keys, and the compiled learn on it the same metrics and parameters."""
    # cg_2's episodes last 25 steps: the 30-step rollout crosses an auto-reset (done, final_world_state)
    cfg = resolve(Config(env="cg_2", dag=dag, num_envs=3, num_steps=30, num_epochs=2, total_steps=900, eval_episodes=0,
                         recurrent=recurrent, num_minibatches=3 if recurrent == "gru" else 1))
    trainer = tr.make_train(cfg)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(4))
    state_j, traj_j = jax.jit(trainer.rollout)(state)

    learner = state.replace(env_state=(), timestep=())
    act_c, learn_c = game_stepper.compile_host_update(trainer, learner, cfg.num_envs, cfg.num_steps)
    env = HostJaxEnv(trainer.env, cfg.num_envs)
    ts = game.host_timestep(state.timestep)
    learner_h, _, ts_h, traj_h = game_stepper.rollout_on_host(act_c, env, learner, state.env_state, ts, cfg.num_steps)

    np.testing.assert_array_equal(learner_h.key, state_j.key)
    assert jax.tree.structure(traj_h) == jax.tree.structure(traj_j)
    for name, a, b in zip(traj_j._fields, traj_h, traj_j):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert np.shape(x) == np.shape(y), name
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(ts_h.obs, state_j.timestep.obs)
    assert traj_h.done[24].all() and not traj_h.done[:24].any()
    _, m_j = learn_c(state_j.replace(env_state=(), timestep=()), traj_j)  # (the same compiled learn)
    new_h, m_h = learn_c(learner_h, traj_h)
    for x, y in zip(jax.tree.leaves(m_h), jax.tree.leaves(m_j)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    assert int(new_h.update) == 1


# ------------------------------------------------------------------------------------------------ runs on the game
@pytest.fixture(scope="module")
def game_run(tmp_path_factory):
    """Two updates on the fake game, evaluated on it after each (the bot's units hit hard, so episodes end as
    losses within the rollouts). Returns (cfg, summary, the fake SC2PATH)."""
    pytest.importorskip("pysc2", reason="the StarCraft II bridge needs pysc2: pip install -e '.[sc2]'")
    from envs_jax.sc2.fake_server import fake_map, write_fake_install

    tmp = tmp_path_factory.mktemp("game_run")
    root = write_fake_install(tmp / "sc2", {"3m": fake_map("3m", enemy_ai="attack", enemy_damage=20.0, gap=6.0)})
    cfg = Config(**TINY, dag="none", total_steps=32, run_dir=str(tmp / "run"), eval_episodes=1, eval_every=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SC2PATH", str(root))
        summary = train.run(cfg, console=_console())
    return cfg, summary, str(root)


def test_train_on_the_game_writes_metrics_checkpoints_and_evaluations(game_run):
    cfg, summary, _ = game_run
    run = cfg.run_dir
    saved = json.load(open(os.path.join(run, "config.json")))
    assert saved["env"] == "sc2_3m" and saved["sc2_layout"] == "smax" and saved["num_seeds"] == 1
    rows = _rows(run)
    assert [r["update"] for r in rows] == [1, 2] and [r["env_steps"] for r in rows] == [16, 32]
    assert all(np.isfinite(r["loss_total"]) and np.isfinite(r["loss_value"]) for r in rows)
    ended = [r for r in rows if r["episodes"] > 0]
    assert ended and all(r["win_rate"] == 0.0 for r in ended)  # the bot wipes the learner out
    assert ckpt.list_updates(run) == [2, 1] and summary["update"] == 2 and summary["game_restarts"] == 0
    evals = _rows(run, "eval.jsonl")  # on the game, its own games: mode none -> joint only, sampled and greedy
    assert [(r["update"], r["policy"], r["greedy"]) for r in evals] == [
        (u, "joint", g) for u in (1, 2) for g in (False, True)]
    assert summary["eval"]["joint"]["episodes_per_seed"] == 1 and evals[-1]["win_rate"] == 0.0
    spec = game.make_game("sc2_3m", "smax", None)
    target = jax.eval_shape(lambda: jax.tree.map(lambda x: x[None], tr.make_train(resolve(cfg), env=spec)
                                                 .init_learner(jax.random.PRNGKey(0))))
    params = ckpt.restore(os.path.join(ckpt.root(run), "2"), target).params  # a seed axis of 1, as any run's
    assert jax.tree.leaves(params)[0].shape[0] == 1


def test_run_on_the_game_resumes(game_run, tmp_path, monkeypatch):
    """Resumed (a copy of the run) to four updates: rows 1..4 in metrics and eval, finite losses."""
    cfg, _, root = game_run
    monkeypatch.setenv("SC2PATH", root)
    run = str(tmp_path / "run")
    shutil.copytree(cfg.run_dir, run)
    train.run(dataclasses.replace(cfg, run_dir=run, total_steps=64, resume=True), console=_console())
    rows = _rows(run)
    assert [r["update"] for r in rows] == [1, 2, 3, 4] and rows[-1]["env_steps"] == 64
    assert rows[:2] == _rows(cfg.run_dir)
    assert [r["update"] for r in _rows(run, "eval.jsonl")] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert all(np.isfinite(r["loss_total"]) for r in rows)
    assert ckpt.list_updates(run)[0] == 4


def test_evaluate_a_run_trained_on_the_game(game_run, tmp_path, monkeypatch):
    """`jbn.evaluate RUN_DIR` of a run on sc2_3m plays on the game with the run's layout."""
    from jbn.evaluation import cli as evaluate

    cfg, _, root = game_run
    monkeypatch.setenv("SC2PATH", root)
    out = evaluate.run_cli(evaluate.EvalArgs(cfg.run_dir, episodes=2, greedy=True, out=str(tmp_path / "e.json")),
                           console=_console())
    assert [(r["policy"], r["greedy"], r["episodes"]) for r in out["rows"]] == [("joint", True, 2)]  # mode none
    assert out["update"] == 2 and 1 <= out["rows"][0]["length"] <= 60 and out["rows"][0]["win_rate"] == 0.0


def test_game_killed_mid_run_is_restarted_and_the_run_goes_on(tmp_path, fake_game):
    """The fake game process exits at game loop 60 (step 8 of each game): each game restarts, the cut episode ends
    the game's row as a truncation, the training completes with every update logged."""
    fake_game(enemy_ai="passive", crash_at_loop=60)
    run = tmp_path / "run"
    console = _console()
    summary = train.run(Config(**TINY, dag="context", total_steps=48, run_dir=str(run)), console=console)
    rows = _rows(run)
    assert [r["update"] for r in rows] == [1, 2, 3] and all(np.isfinite(r["loss_total"]) for r in rows)
    assert summary["game_restarts"] >= 2  # both games died at least once
    assert "restarted" in console.file.getvalue() and "episode in flight was cut" in console.file.getvalue()
    assert sum(r["episodes"] for r in rows) >= 2  # the cut episodes (passive bot, 60-step limit: nothing else ends)
    assert all(r["win_rate"] == 0.0 for r in rows if r["episodes"])
    assert ckpt.list_updates(run)[0] == 3


def test_game_that_cannot_be_relaunched_keeps_the_completed_updates(tmp_path, fake_game, monkeypatch):
    """The first launch works, every later one fails: the game dies during update 2 or later, the env gives up
    (SC2GameCrashed), the state after the last completed update is checkpointed, and --resume finishes the run."""
    fake_game(enemy_ai="passive", crash_at_loop=100)
    launches = []
    launch = sc2_env.Pysc2Launcher.launch

    def first_only(self):
        launches.append(1)
        if len(launches) > 1:
            raise OSError("no StarCraft II (test)")
        return launch(self)

    monkeypatch.setattr(sc2_env.Pysc2Launcher, "launch", first_only)
    run = tmp_path / "run"
    cfg = Config(**{**TINY, "num_envs": 1}, dag="none", total_steps=32, run_dir=str(run))
    with pytest.raises(sc2_env.SC2GameCrashed, match="could not start an episode"):
        train.run(cfg, console=_console())
    done = [r["update"] for r in _rows(run)]
    assert done == [1] and ckpt.list_updates(run) == [1]  # 100 loops = step 13: in the rollout of update 2
    monkeypatch.setattr(sc2_env.Pysc2Launcher, "launch", launch)
    train.run(dataclasses.replace(cfg, resume=True), console=_console())
    assert [r["update"] for r in _rows(run)] == [1, 2, 3, 4]  # 1 game x 8 steps per update


def test_bad_input_is_refused_before_any_game_or_compile(tmp_path, monkeypatch):
    from jbn.training.config import UserError

    pytest.importorskip("pysc2", reason="without pysc2 the error is the missing extra")
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="num_seeds=2: training on the real StarCraft II"):
        train.run(Config(**TINY, num_seeds=2, run_dir=str(tmp_path / "a")))
    assert not (tmp_path / "a").exists()
    with pytest.raises(UserError, match="sc2_3m: StarCraft II not found at .*nowhere"):
        train.run(Config(**TINY, run_dir=str(tmp_path / "b")))
    assert not ckpt.list_updates(tmp_path / "b")


def test_a_cnn_torso_on_a_cpu_is_warned_about():
    from jbn.driver.loop import torso_note
    from jbn.training.config import Config
    assert "100x slower than --torso mlp" in torso_note(Config(torso="cnn"), "cpu")
    assert torso_note(Config(torso="cnn"), "gpu") is None
    assert torso_note(Config(torso="mlp"), "cpu") is None
