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
    """A run trained without the absolute metric, then resumed finished with `--absolute-episodes 24` as a user
    types it (computed then, without training); returns (run_dir, summary, absolute.jsonl's text)."""
    run_dir = tmp_path_factory.mktemp("abs") / "run"
    train.run(_tiny(run_dir))
    assert not (run_dir / "absolute.jsonl").exists()  # no file without --absolute-episodes
    train.main(["--run-dir", str(run_dir), "--resume", "--absolute-episodes", "24"])
    return run_dir, json.loads((run_dir / "summary.json").read_text()), (run_dir / "absolute.jsonl").read_text()


def test_absolute_rows_are_the_final_update_over_n_episodes(finished):
    run_dir, summary, _ = finished
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
    run_dir, _, _ = finished
    rows = _rows(run_dir / "eval.jsonl")
    assert rows
    for r in rows:
        assert len(r["returns"]) == r["episodes"] == 4
        assert r["return"] == pytest.approx(np.mean(r["returns"]), rel=1e-5)


def test_a_second_resume_does_not_compute_it_again(finished):
    run_dir, _, text = finished
    train.main(["--run-dir", str(run_dir), "--resume", "--absolute-episodes", "24"])
    assert (run_dir / "absolute.jsonl").read_text() == text


@pytest.mark.parametrize("kw, match", [
    (dict(absolute_episodes=-1), "absolute_episodes must be an integer >= 0, got -1"),
    (dict(absolute_episodes=True), "absolute_episodes must be an integer >= 0, got True"),
    (dict(absolute_episodes=10, eval_episodes=0), "--absolute-episodes 10: evaluation is off"),
])
def test_bad_absolute_episodes_are_refused(kw, match):
    with pytest.raises(UserError, match=match):
        resolve(Config(env=ENV, **kw))
