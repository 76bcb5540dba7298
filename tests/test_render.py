"""`python -m jbn.evaluate RUN_DIR --render out.gif` beyond SMAX (jbn/evaluation/render.py): each family's scene reads
the positions the raw env state holds; MPE, LBF and RWARE episodes drawn as GIFs of one frame per step (slow: a tiny
training run each, then the CLI); every other family refused with one error before anything is compiled."""
import dataclasses
import functools
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import envs_jax
from jbn.evaluation import cli as evaluate
from jbn.evaluation.render import SCENES, check_renderable, render_episode, scene_key
from jbn.training import trainer as tr
from jbn.training.config import Config, UserError, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def _env(name):
    env = envs_jax.ArrayEnv(envs_jax.make(name))
    return env, jax.jit(env.reset)


def _reset(name, seed=0):
    """(ArrayEnv, its EnvState after a reset with one leading time axis, the family's raw env state itself)."""
    env, reset = _env(name)
    state, _ = reset(jax.random.PRNGKey(seed))
    raw = state.env_state
    return env, jax.tree.map(lambda x: np.asarray(x)[None], state), raw


# ------------------------------------------------------------------------------------------------ scenes
@pytest.mark.parametrize("seed", [0, 1])
def test_mpe_scene_is_p_pos(seed):
    env, state, raw = _reset("mpe_simple_spread", seed)
    assert scene_key(env) == "mpe"
    scene = SCENES["mpe"](env, state)
    n = env.num_agents
    p_pos = np.asarray(raw.p_pos)
    np.testing.assert_array_equal(scene.agents.xy[0], p_pos[:n])
    (landmarks,) = scene.others
    np.testing.assert_array_equal(landmarks.xy[0], p_pos[n:])
    np.testing.assert_allclose(scene.agents.size[0], 2 * np.asarray(env.env.rad)[:n])
    assert scene.agents.shown.all() and not scene.y_down
    x0, x1, y0, y1 = scene.extent  # everything in view
    assert (p_pos[:, 0] > x0).all() and (p_pos[:, 0] < x1).all() and (p_pos[:, 1] > y0).all() and (p_pos[:, 1] < y1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_lbf_scene_is_agents_and_food(seed):
    env, state, raw = _reset("lbf_2s-8x8-2p-2f-coop", seed)
    assert scene_key(env) == "lbf"
    scene = SCENES["lbf"](env, state)
    rows_cols = np.asarray(raw.agents.position)  # Jumanji's LBF: (row, col); the scene draws (x, y) = (col, row)
    np.testing.assert_array_equal(scene.agents.xy[0, :, 0], rows_cols[:, 1])
    np.testing.assert_array_equal(scene.agents.xy[0, :, 1], rows_cols[:, 0])
    np.testing.assert_array_equal(scene.agents.label[0], np.asarray(raw.agents.level))
    (food,) = scene.others
    food_rc = np.asarray(raw.food_items.position)
    np.testing.assert_array_equal(food.xy[0], np.stack([food_rc[:, 1], food_rc[:, 0]], -1))
    np.testing.assert_array_equal(food.label[0], np.asarray(raw.food_items.level))
    np.testing.assert_array_equal(food.shown[0], ~np.asarray(raw.food_items.eaten))
    assert scene.y_down and scene.extent == (-0.5, 7.5, -0.5, 7.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_rware_scene_is_agents_shelves_and_goals(seed):
    env, state, raw = _reset("rware_tiny-2ag", seed)
    assert scene_key(env) == "rware"
    scene = SCENES["rware"](env, state)
    # Jumanji's RWARE: Position(x=row, y=col), goals as (col, row)
    np.testing.assert_array_equal(scene.agents.xy[0, :, 0], np.asarray(raw.agents.position.y))
    np.testing.assert_array_equal(scene.agents.xy[0, :, 1], np.asarray(raw.agents.position.x))
    goals, shelves = scene.others
    np.testing.assert_array_equal(shelves.xy[0, :, 0], np.asarray(raw.shelves.position.y))
    np.testing.assert_array_equal(shelves.xy[0, :, 1], np.asarray(raw.shelves.position.x))
    requested = np.asarray(raw.shelves.is_requested).astype(bool)
    assert requested.any() and ((shelves.color[0] == "teal") == requested).all()
    np.testing.assert_array_equal(goals.xy[0], np.asarray(env.env.goals))
    rows, cols = env.env.grid_size
    assert scene.extent == (-0.5, cols - 0.5, -0.5, rows - 0.5)
    # every agent and shelf on a cell of the grid, and the grid's occupancy is theirs
    occupied = np.argwhere(np.asarray(raw.grid)[1] > 0)  # Jumanji's agents channel (_AGENTS = 1): (row, col)
    assert sorted(map(tuple, occupied)) == sorted((int(y), int(x)) for x, y in scene.agents.xy[0])


def test_smax_scene_is_the_units():
    env, state, raw = _reset("smax_3m")
    assert scene_key(env) == "smax"
    scene = SCENES["smax"](env, state)
    inner = raw
    while not hasattr(inner, "unit_positions"):
        inner = inner.state
    pos, n = np.asarray(inner.unit_positions), 3
    np.testing.assert_array_equal(scene.agents.xy[0], pos[:n])
    np.testing.assert_array_equal(scene.others[0].xy[0], pos[n:])
    np.testing.assert_array_equal(scene.agents.bar[0], np.ones(n, np.float32))  # full health at the start


# ------------------------------------------------------------------------------------------------ refusals
def _config_only_run(tmp_path, env):
    """A run directory with only config.json (as jbn.train writes it): enough for the checks before a compile."""
    run_dir = str(tmp_path / env)
    os.makedirs(run_dir)
    cfg = resolve(Config(env=env, dag="full", num_envs=2, num_steps=8, total_steps=16, run_dir=run_dir))
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f)
    return run_dir


@pytest.mark.parametrize("env, reason", [("matrax_Climbing-stateless", "a matrix game has no positions to draw"),
                                         ("overcooked_cramped_room", "no scene for Overcooked"),
                                         ("cg_3", "its agents have no positions to draw")])
def test_other_families_are_refused_with_one_error(tmp_path, capsys, env, reason):
    run_dir = _config_only_run(tmp_path, env)
    gif = str(tmp_path / "out.gif")
    before = sorted(os.listdir(run_dir))
    with pytest.raises(SystemExit) as e:
        evaluate.main([run_dir, "--render", gif])
    err = capsys.readouterr().err
    assert e.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert f"--render cannot draw {env}: {reason}" in lines[0]
    assert "SMAX (smax_*), MPE (mpe_*), LBF (lbf_*) and RWARE (rware_*)" in lines[0]
    assert not os.path.exists(gif) and sorted(os.listdir(run_dir)) == before  # nothing written


def test_check_renderable():
    assert check_renderable("mpe_simple_spread", "a.GIF") == "mpe"
    assert check_renderable("lbf_2s-8x8-2p-2f-coop", "a.gif") == "lbf"
    assert check_renderable("rware_tiny-2ag", "a.gif") == "rware"
    with pytest.raises(UserError, match="give a path ending in .gif"):
        check_renderable("mpe_simple_spread", "a.mp4")
    with pytest.raises(UserError, match="cannot draw sc2_3m: the real StarCraft II"):
        check_renderable("sc2_3m", "a.gif")
    with pytest.raises(UserError, match="cannot draw connector_con-5x5x3a"):
        check_renderable("connector_con-5x5x3a", "a.gif")
    with pytest.raises(UserError, match="cannot draw cleaner_clean-5x5x5a"):
        check_renderable("cleaner_clean-5x5x5a", "a.gif")


# ------------------------------------------------------------------------------------------------ GIFs
def _frames(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.n_frames


def test_render_episode_untrained_lbf(tmp_path):
    """The drawing loop on an untrained policy (no training): one frame per step of env 0's first episode."""
    cfg = resolve(Config(env="lbf_2s-8x8-2p-2f-coop", dag="full", num_envs=2, num_steps=8, total_steps=16,
                         env_kwargs=("time_limit=6",)))
    env = tr.make_env(cfg)
    policy = tr.make_policy(cfg, env)
    params = policy.init(jax.random.PRNGKey(0))
    gif = str(tmp_path / "lbf.gif")
    frames = render_episode(policy, env, params, jax.random.PRNGKey(1), gif)
    assert 1 <= frames <= 6 and _frames(gif) == frames


@pytest.mark.slow
@pytest.mark.parametrize("env, kwargs, max_len", [("mpe_simple_spread", (), 26),
                                                  ("lbf_2s-8x8-2p-2f-coop", ("time_limit=20",), 20),
                                                  ("rware_tiny-2ag", ("time_limit=20",), 20)])
def test_cli_render_gif(tmp_path, env, kwargs, max_len):
    from jbn.driver import loop

    run_dir = str(tmp_path / "run")
    loop.run(resolve(Config(env=env, dag="full", num_envs=2, num_steps=8, total_steps=16, num_epochs=1,
                            num_minibatches=1, eval_episodes=2, run_dir=run_dir, env_kwargs=kwargs)))
    gif = str(tmp_path / "ep.gif")
    proc = subprocess.run([sys.executable, "-m", "jbn.evaluate", run_dir, "--episodes", "1", "--render", gif],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.load(open(os.path.join(run_dir, "eval_1.json")))
    length = next(r["length"] for r in result["rows"] if r["policy"] == "joint" and not r["greedy"] and r["seed"] == 0)
    # the GIF is the evaluation's first episode of seed 0 (joint, sampled): one frame per step
    assert _frames(gif) == int(length) <= max_len
    if env.startswith("mpe_"):
        assert int(length) == 26  # MPE episodes end only at the time limit
    assert f"({int(length)} frames)" in proc.stdout
