"""The protocol's absolute metric (`--absolute-episodes N`: the final parameters over N episodes, absolute.jsonl) and
the per-episode returns every evaluation row carries (`returns`, what jbn.export hands to marl-eval)."""
import json

import numpy as np
import pytest

from jbn import train
from jbn.training.config import Config, UserError, resolve

ENV = "matrax_Climbing-stateless"  # 25 steps of a 3x3 payoff table: every episode return is a sum of 25 entries
CLIMBING = np.array([[11, -30, 0], [-30, 7, 6], [0, 0, 5]])


def _rows(path):
    return [json.loads(line) for line in open(path)]


def _tiny(run_dir, **kw):
    return Config(env=ENV, dag="full", num_seeds=2, total_steps=2048, num_envs=8, num_steps=8, eval_episodes=4,
                  run_dir=str(run_dir), **kw)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("abs") / "run"
    summary = train.run(_tiny(run_dir, absolute_episodes=24))
    return run_dir, summary


def test_absolute_rows_are_the_final_update_over_n_episodes(finished):
    run_dir, summary = finished
    rows = _rows(run_dir / "absolute.jsonl")
    num_updates = max(r["update"] for r in _rows(run_dir / "metrics.jsonl"))
    # 2 seeds x (joint, decentralized) x (sampled, greedy)
    assert len(rows) == 8 and {r["seed"] for r in rows} == {0, 1}
    assert {(r["policy"], r["greedy"]) for r in rows} == {(p, g) for p in ("joint", "decentralized") for g in (0, 1)}
    for r in rows:
        assert r["update"] == num_updates and r["episodes"] == 24 and len(r["returns"]) == 24
        assert r["return"] == pytest.approx(np.mean(r["returns"]), rel=1e-5)
    # each episode return is a sum of 25 Climbing payoffs: within 25 x [min, max] and a whole number
    returns = np.concatenate([r["returns"] for r in rows])
    assert np.all(returns == np.round(returns))
    assert np.all((25 * CLIMBING.min() <= returns) & (returns <= 25 * CLIMBING.max()))
    assert summary["absolute"]["joint"]["return_mean"] == pytest.approx(
        np.mean([r["return"] for r in rows if r["policy"] == "joint" and not r["greedy"]]), rel=1e-5)


def test_every_evaluation_row_lists_its_episode_returns(finished):
    run_dir, _ = finished
    rows = _rows(run_dir / "eval.jsonl")
    assert rows
    for r in rows:
        assert len(r["returns"]) == r["episodes"] == 4
        assert r["return"] == pytest.approx(np.mean(r["returns"]), rel=1e-5)


def test_a_finished_run_resumed_with_absolute_episodes_computes_it_once(tmp_path):
    run_dir = tmp_path / "run"
    train.run(_tiny(run_dir))
    assert not (run_dir / "absolute.jsonl").exists()  # no file without --absolute-episodes
    resume = ["--run-dir", str(run_dir), "--resume", "--absolute-episodes", "12"]  # as a user types it
    train.main(resume)
    rows = _rows(run_dir / "absolute.jsonl")
    assert len(rows) == 8 and all(r["episodes"] == 12 for r in rows)
    train.main(resume)  # already there: not computed again
    assert _rows(run_dir / "absolute.jsonl") == rows


@pytest.mark.parametrize("kw, match", [
    (dict(absolute_episodes=-1), "absolute_episodes must be an integer >= 0, got -1"),
    (dict(absolute_episodes=True), "absolute_episodes must be an integer >= 0, got True"),
    (dict(absolute_episodes=10, eval_episodes=0), "--absolute-episodes 10: evaluation is off"),
])
def test_bad_absolute_episodes_are_refused(kw, match):
    with pytest.raises(UserError, match=match):
        resolve(Config(env=ENV, **kw))
