"""Evaluation on the real StarCraft II (jbn/evaluation/on_real_game.py, `python -m jbn.evaluate RUN_DIR --env sc2_<map>`): which
episodes count, a SMAX-trained policy played on the fake game through the `smax` layout, and the errors for
envs the policy cannot play."""
import io
import json
import os

import jax
import numpy as np
import pytest
from rich.console import Console

from envs_jax import TimeStep
from jbn.evaluation import cli as evaluate
from jbn import evaluation, train
from jbn.evaluation import on_real_game as game_eval
from jbn.training.config import Config, UserError
from jbn.policy.joint import BNPolicy

NEEDS_PYSC2 = "the StarCraft II bridge needs pysc2: pip install -e '.[sc2]'"


# ------------------------------------------------------------------------------------------------ which episodes
class _Game:
    restarts = 0


class ScriptedGames:
    """E host-side 'games' of 1 agent: game i's episodes last lengths[i] steps and return their length; episode
    `crash_episode` of game 0 ends in a crash (its restart counter goes up)."""

    has_win, num_agents = True, 1

    def __init__(self, lengths, crash_episode=None):
        self.lengths, self.num_envs = np.array(lengths), len(lengths)
        self.envs = [_Game() for _ in lengths]
        self.crash_episode = crash_episode
        self.episodes = np.zeros(self.num_envs, int)

    def _ts(self, t, done, ret=None):
        E = self.num_envs
        return TimeStep(obs=np.zeros((E, 1, 2)), world_state=np.zeros((E, 3)), avail=np.ones((E, 1, 2), bool),
                        visible=np.ones((E, 1, 1), bool), reward=np.ones(E), done=done, terminated=done,
                        truncated=np.zeros(E, bool), final_world_state=np.zeros((E, 3)),
                        episode_return=t.astype(float) if ret is None else ret,
                        episode_length=t, won=done & (self.lengths % 2 == 0))

    def reset(self, key=None):
        self.t = np.zeros(self.num_envs, int)
        return None, self._ts(self.t, np.zeros(self.num_envs, bool))

    def step(self, key, state, actions):
        assert actions.shape == (self.num_envs, 1)
        t = self.t + 1
        done = t >= self.lengths
        ret = t.astype(float)
        if self.crash_episode is not None and done[0] and self.episodes[0] == self.crash_episode:
            self.envs[0].restarts += 1
            ret[0] = -1.0  # the cut episode's return
        self.episodes += done
        self.t = np.where(done, 0, t)
        return None, self._ts(t, done, ret)


def _act(params, obs, avail, visible, world_state, memory, key):
    return np.zeros(obs.shape[:2], np.int32), memory


_POLICY = BNPolicy(num_agents=1, obs_dim=2, state_dim=3, num_actions=2, mode="none")  # feed-forward: no memory


def test_each_game_plays_a_fixed_share_of_the_episodes():
    """Game 0's episodes last 2 steps, game 1's 5: with 4 episodes each game plays 2, so the mean length is 3.5 (the
    first 4 episodes to end would give 2.75); a crashed episode is replaced by the game's next one."""
    out = game_eval.play_episodes(_POLICY, _act, ScriptedGames([2, 5]), None, 4, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.sort(out["length"]), [2, 2, 5, 5])
    assert out["return"].mean() == 3.5 and out["won"].sum() == 2
    out = game_eval.play_episodes(_POLICY, _act, ScriptedGames([2, 5, 3]), None, 5, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.sort(out["length"]), [2, 2, 3, 5, 5])  # quotas 2, 2, 1
    games = ScriptedGames([2, 5], crash_episode=0)
    out = game_eval.play_episodes(_POLICY, _act, games, None, 4, jax.random.PRNGKey(0))
    assert len(out["return"]) == 4 and -1.0 not in out["return"] and out["return"].mean() == 3.5


# ------------------------------------------------------------------------------------------------ a SMAX policy on the game
@pytest.fixture(scope="module")
def smax_run(tmp_path_factory):
    """One PPO update of the context DAG on smax_3m (the fake game plays SMAC's 3m)."""
    run = tmp_path_factory.mktemp("smax_run")
    train.run(Config(env="smax_3m", num_envs=2, num_steps=8, total_steps=16, num_epochs=1, num_minibatches=1,
                     eval_episodes=0, run_dir=str(run)), console=Console(file=io.StringIO()))
    return str(run)


@pytest.fixture
def fake_3m(tmp_path, monkeypatch):
    """The fake game's 3m: a passive bot and harmless learners, so every episode runs to SMAC's limit of 60 steps
    and returns 0 without a win."""
    pytest.importorskip("pysc2", reason=NEEDS_PYSC2)
    from envs_jax.sc2.fake_server import fake_map, write_fake_install

    root = write_fake_install(tmp_path / "sc2", {"3m": fake_map("3m", enemy_ai="passive", ally_damage=0.0)})
    monkeypatch.setenv("SC2PATH", str(root))


def test_smax_policy_plays_the_game_unchanged(smax_run, fake_3m, tmp_path):
    console, err = Console(file=io.StringIO(), width=200), Console(file=io.StringIO(), width=200)
    out_path = str(tmp_path / "eval.json")
    out = evaluate.run_cli(evaluate.EvalArgs(smax_run, env="sc2_3m", episodes=3, sc2_games=2, out=out_path),
                           console=console, err=err)
    rows = out["rows"]
    assert [(r["policy"], r["greedy"]) for r in rows] == [("joint", False), ("joint", True),
                                                         ("decentralized", False), ("decentralized", True)]
    for r in rows:
        assert r["episodes"] == 3 and r["length"] == 60.0 and r["return"] == 0.0 and r["win_rate"] == 0.0
    saved = json.load(open(out_path))
    assert saved["env"] == "sc2_3m" and saved["rows"] == rows
    assert "on sc2_3m" in err.file.getvalue()  # what is evaluated: stderr; the table: stdout
    assert "decentralized" in console.file.getvalue()
    assert evaluation.summarize(rows, True)["joint"]["length_mean"] == 60.0


def test_envs_the_policy_cannot_play_are_refused(smax_run, tmp_path):
    def refused(env, match):
        with pytest.raises(UserError, match=match):
            evaluate.run_cli(evaluate.EvalArgs(smax_run, env=env))

    refused("sc2_MMM2", r"trained on smax_3m and plays only smax_3m or sc2_3m \(smax_3m: 3 marine vs 3 marine; "
                        r"sc2_MMM2: 2 marauder \+ 7 marine \+ 1 medivac vs 3 marauder \+ 8 marine \+ 1 medivac\)")
    refused("sc2_3mm", "Did you mean 'sc2_3m'")
    refused("cg_2", "plays only smax_3m or sc2_3m")
    with pytest.raises(UserError, match="--sc2-games must be >= 1"):
        evaluate.run_cli(evaluate.EvalArgs(smax_run, env="sc2_3m", sc2_games=0))
    with pytest.raises(UserError, match="--render cannot draw sc2_3m: the real StarCraft II"):
        evaluate.run_cli(evaluate.EvalArgs(smax_run, env="sc2_3m", render=str(tmp_path / "x.gif")))
    assert not any(n.startswith("eval_") for n in os.listdir(smax_run))


def test_missing_game_is_refused_before_compiling(smax_run, tmp_path, monkeypatch):
    pytest.importorskip("pysc2", reason=NEEDS_PYSC2)
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="sc2_3m: StarCraft II not found at .*nowhere"):
        evaluate.run_cli(evaluate.EvalArgs(smax_run, env="sc2_3m"))
