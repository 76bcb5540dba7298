"""jbn.aggregate against numpy on hand-made scores: the normalisation, IQM and mean (rliable's point estimates and
their bootstrap intervals), the probability of improvement where the answer is known, performance profiles, the
outputs, and bad input. Hand-made marl-eval dicts; the end-to-end check also reads tests/data/tiny_runs/."""
import csv
import json
import os

import numpy as np
import pytest

from jbn.results import aggregate, export
from jbn.results.aggregate import AggregateError

DATA = os.path.join(os.path.dirname(__file__), "data", "tiny_runs")
REPS = 300  # enough for the interval checks here; the CLI's default is 2000


def entry(final, curve=(0.0,), absolute=None, metric="return"):
    """One run: evaluation steps whose means are `curve` then `final`, and an absolute metric when given."""
    steps = {f"step_{i}": {"step_count": 100 * (i + 1), metric: [v - 1.0, v + 1.0]}
             for i, v in enumerate([*curve, final])}
    if absolute is not None:
        steps["absolute_metrics"] = {metric: [absolute] * 4}
    return steps


def dataset(scores: dict, env="env", **kw) -> dict:
    """{algorithm: {task: [final per seed]}} -> marl-eval dict."""
    out = {env: {}}
    for algo, tasks in scores.items():
        for task, finals in tasks.items():
            runs = out[env].setdefault(task, {}).setdefault(algo, {})
            for s, v in enumerate(finals):
                runs[f"seed_{s}"] = entry(v, **kw)
    return out


def numpy_iqm(x: np.ndarray) -> float:
    """Mean of the middle half: drop the lowest and highest quarter (n // 4 each) of all run x task scores."""
    v = np.sort(x.ravel())
    k = v.size // 4
    return float(v[k:v.size - k].mean())


def test_scores_normalisation_iqm_and_mean_match_numpy():
    rng = np.random.default_rng(0)
    finals = {a: {t: list(np.round(rng.uniform(0, 10, 4), 3)) for t in ("t1", "t2")} for a in ("mappo", "bn_full")}
    data = dataset(finals, curve=(-5.0, 3.0))
    r = aggregate.aggregate(data, baseline="mappo", reps=REPS)
    t = r.table
    assert t.tasks == ("env/t1", "env/t2") and t.algorithms == ("bn_full", "mappo")
    for task in ("t1", "t2"):
        # min-max over every step mean of every run of the task: -5 is every run's first step; the max is a final
        lo, hi, how = t.bounds[f"env/{task}"]
        assert (lo, how) == (-5.0, "min-max")
        assert hi == max(max(finals[a][task]) for a in finals)
    for a in ("mappo", "bn_full"):
        lo1, hi1, _ = t.bounds["env/t1"]
        lo2, hi2, _ = t.bounds["env/t2"]
        expected = np.stack([(np.array(finals[a]["t1"]) - lo1) / (hi1 - lo1),
                             (np.array(finals[a]["t2"]) - lo2) / (hi2 - lo2)], axis=1)  # [runs, tasks]
        np.testing.assert_allclose(t.scores[a], expected)
        iqm, mean = r.aggregates[a]["iqm"], r.aggregates[a]["mean"]
        assert iqm.estimate == pytest.approx(numpy_iqm(expected))
        assert mean.estimate == pytest.approx(float(expected.mean()))
        for iv in (iqm, mean):
            assert iv.low <= iv.estimate <= iv.high
            assert expected.min() <= iv.low and iv.high <= expected.max()


def test_absolute_metric_wins_over_the_final_step_and_norm_references_apply():
    data = {"env": {"t": {"a": {"seed_0": entry(4.0, absolute=6.0), "seed_1": entry(2.0)},
                          "b": {"seed_0": entry(1.0, absolute=0.0), "seed_1": entry(3.0, absolute=5.0)}}}}
    t = aggregate.table(data, norm=["t=-10,10"])
    by = {(s.algorithm, s.run): (s.value, s.source) for s in t.rows}
    assert by == {("a", "seed_0"): (6.0, "absolute"), ("a", "seed_1"): (2.0, "final"),
                  ("b", "seed_0"): (0.0, "absolute"), ("b", "seed_1"): (5.0, "absolute")}
    assert t.bounds["env/t"] == (-10.0, 10.0, "--norm")
    np.testing.assert_allclose(t.scores["a"], [[0.8], [0.6]])
    np.testing.assert_allclose(t.scores["b"], [[0.5], [0.75]])


def test_probability_of_improvement_known_answers():
    better = {"mappo": {"t1": [1.0, 2.0, 3.0], "t2": [0.0, 1.0, 2.0]},
              "best": {"t1": [5.0, 6.0, 7.0], "t2": [4.0, 5.0, 6.0]},
              "worst": {"t1": [-3.0, -2.0, -1.0], "t2": [-4.0, -3.0, -2.5]},
              "same": {"t1": [1.0, 2.0, 3.0], "t2": [0.0, 1.0, 2.0]}}
    r = aggregate.aggregate(dataset(better), reps=REPS)  # baseline: mappo, found by default
    assert r.baseline == "mappo" and set(r.improvement) == {"best", "worst", "same"}
    assert r.improvement["best"] == (1.0, 1.0, 1.0)  # every run beats every baseline run on every task
    assert r.improvement["worst"] == (0.0, 0.0, 0.0)
    assert r.improvement["same"].estimate == 0.5  # identical scores: no improvement either way
    flipped = aggregate.aggregate(dataset(better), baseline="best", reps=REPS)
    assert flipped.improvement["mappo"].estimate == 0.0


def test_performance_profiles_count_runs_above_tau():
    data = dataset({"a": {"t": [0.0, 1.0, 2.0, 4.0]}, "b": {"t": [1.0, 1.0, 3.0, 4.0]}}, curve=())
    r = aggregate.aggregate(data, reps=REPS, norm=["env/t=0,4"])
    assert r.baseline is None and r.improvement == {}
    for a in ("a", "b"):
        p = r.profiles[a]
        assert p.tau[0] == 0.0 and p.tau[-1] == 1.0 and len(p.tau) == aggregate.PROFILE_POINTS
        np.testing.assert_allclose(p.fraction, [(r.table.scores[a] > tau).mean() for tau in p.tau])
        assert np.all(p.low <= p.fraction + 1e-12) and np.all(p.fraction <= p.high + 1e-12)


def test_the_seed_makes_intervals_repeatable_and_leaves_numpy_alone():
    data = dataset({"a": {"t": [0.0, 1.0, 2.0, 4.0]}, "mappo": {"t": [1.0, 1.5, 3.0, 2.0]}})
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    one = aggregate.aggregate(data, reps=REPS, seed=1)
    assert np.random.random() == before  # the global generator is put back
    two = aggregate.aggregate(data, reps=REPS, seed=1)
    assert one.aggregates == two.aggregates and one.improvement == two.improvement


def test_a_task_where_every_evaluation_is_equal_is_left_out():
    data = {"env": {"flat": {"a": {"seed_0": entry(1.0, curve=(1.0,))}, "b": {"seed_0": entry(1.0, curve=(1.0,))}},
                    "t": {"a": {"seed_0": entry(2.0)}, "b": {"seed_0": entry(1.0)}}}}
    t = aggregate.table(data)
    assert t.tasks == ("env/t",) and t.dropped == ("env/flat",)
    with pytest.raises(AggregateError, match="all its evaluations equal"):
        aggregate.table({"env": {"flat": data["env"]["flat"]}})


@pytest.mark.parametrize("spec,message", [
    ("t", "want TASK=MIN,MAX"), ("t=1", "want TASK=MIN,MAX"), ("t=a,b", "want TASK=MIN,MAX"),
    ("t=2,1", "MIN 2 must be below MAX 1"), ("nope=0,1", "'nope' is not a task of the input; tasks: e1/t, e2/t"),
    ("t=0,1", "'t' names several tasks"),
])
def test_bad_norm_specs(spec, message):
    data = dataset({"a": {"t": [1.0]}}, env="e1")
    data.update(dataset({"a": {"t": [2.0]}}, env="e2"))
    with pytest.raises(AggregateError, match=message.replace("(", r"\(")):
        aggregate.table(data, norm=[spec])


def test_matrices_need_every_task_and_equal_runs():
    with pytest.raises(AggregateError, match="missing: b on env/t2"):
        aggregate.table(dataset({"a": {"t1": [1.0, 2.0], "t2": [1.0, 3.0]}, "b": {"t1": [0.0, 1.0]}}))
    with pytest.raises(AggregateError, match="different numbers of runs .*env/t1: 2, env/t2: 3"):
        aggregate.table(dataset({"a": {"t1": [1.0, 2.0], "t2": [1.0, 3.0, 2.0]}}))
    with pytest.raises(AggregateError, match="--baseline 'ippo' is not an algorithm of the input; algorithms: a"):
        aggregate.aggregate(dataset({"a": {"t": [1.0, 2.0]}}), baseline="ippo")
    with pytest.raises(AggregateError, match="no evaluation has the metric 'win_rate'; its metrics: return"):
        aggregate.table(dataset({"a": {"t": [1.0, 2.0]}}), metric="win_rate")


# ---------------------------------------------------------------------------------------------------- end to end


def test_run_dirs_and_their_export_give_the_same_numbers(tmp_path, capsys):
    runs = [os.path.join(DATA, "climbing_none"), os.path.join(DATA, "climbing_context")]
    marl = tmp_path / "marl.json"
    export.main([*runs, "--marl-eval", str(marl)])
    from_dirs = aggregate.aggregate(aggregate.load(runs, warn=lambda _: None), reps=REPS)
    from_json = aggregate.aggregate(aggregate.load([str(marl)]), reps=REPS)
    assert from_dirs.aggregates == from_json.aggregates and from_dirs.improvement == from_json.improvement
    assert {s.source for s in from_dirs.table.rows} == {"absolute"}
    # the scores are the absolute metric's mean return over its 40 episodes
    absolute = [json.loads(line) for line in open(os.path.join(runs[0], "absolute.jsonl"))]
    want = sorted(np.mean(r["returns"]) for r in absolute if r["policy"] == "joint" and not r["greedy"])
    assert sorted(s.value for s in from_dirs.table.rows if s.algorithm == "mappo") == pytest.approx(want)

    out = tmp_path / "agg"
    aggregate.main([str(marl), "--out", str(out), "--reps", str(REPS)])
    printed = capsys.readouterr().out
    assert "| mappo | 2 x 1 |" in printed and "P(> mappo)" in printed
    for stem in ("aggregate", "improvement", "profiles"):
        assert (out / f"{stem}.png").stat().st_size > 0
    with open(out / "aggregate.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["algorithm"], r["statistic"]) for r in rows} == {(a, s) for a in ("mappo", "bn_context_annealed")
                                                                for s in ("iqm", "mean")}
    mappo_iqm = next(r for r in rows if r["algorithm"] == "mappo" and r["statistic"] == "iqm")
    assert float(mappo_iqm["estimate"]) == pytest.approx(from_json.aggregates["mappo"]["iqm"].estimate)
    with open(out / "scores.csv") as f:
        assert len(list(csv.DictReader(f))) == 4


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        aggregate.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: "), err
    return err[-1]


def test_cli_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert "does not exist" in _error([str(tmp_path / "nope.json"), "--out", out], capsys)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert "not readable as JSON" in _error([str(bad), "--out", out], capsys)
    bad.write_text(json.dumps({"env": {"t": {"a": {"seed_0": {"step_0": {"return": [1.0]}}}}}}))
    assert "env/t/a/seed_0/step_0: no step_count" in _error([str(bad), "--out", out], capsys)
    bad.write_text(json.dumps({"env": {"t": {"a": {"seed_0": {"step_0": {"step_count": 1, "return": "x"}}}}}}))
    assert "'return' is not a non-empty list of finite numbers" in _error([str(bad), "--out", out], capsys)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(dataset({"a": {"t": [1.0, 2.0]}})))
    assert "seed_0 of env/t/a is in both" in _error([str(good), str(good), "--out", out], capsys)
    assert "--reps 0 must be >= 1" in _error([str(good), "--out", out, "--reps", "0"], capsys)
    assert not os.path.exists(out)


def test_mava_files_are_read_with_their_own_metric_names(tmp_path):
    """Mava's JsonLogger writes one-element lists of the mean (`mean_episode_return`), a bare `elapsed_time` per step
    and capitalised env names; marl-eval (and so jbn) reads keys in lower case."""
    def mava_run(final):
        return {"step_0": {"step_count": 1000, "elapsed_time": 1.5, "mean_episode_return": [0.0]},
                "step_1": {"step_count": 2000, "elapsed_time": 3.0, "mean_episode_return": [final]},
                "absolute_metrics": {"mean_episode_return": [final + 1.0]}}

    mava = {"LevelBasedForaging": {"2s-8x8-2p-2f-coop": {"ff_mappo": {f"seed_{s}": mava_run(1.0 + s) for s in range(3)},
                                                         "ff_ippo": {f"seed_{s}": mava_run(0.5) for s in range(3)}}}}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(mava))
    r = aggregate.aggregate(aggregate.load([str(path)]), metric="mean_episode_return", baseline="ff_ippo", reps=REPS)
    assert r.table.tasks == ("levelbasedforaging/2s-8x8-2p-2f-coop",)
    assert sorted(s.value for s in r.table.rows if s.algorithm == "ff_mappo") == [2.0, 3.0, 4.0]  # absolute metric
    assert r.improvement["ff_mappo"].estimate == 1.0


def test_runs_keeps_the_first_n_runs_of_each_task_in_seed_order():
    # t2 has 3 runs; --runs 2 keeps seeds 0 and 1 of each (normalised by min-max over every evaluation of the task)
    data = dataset({"a": {"t1": [1.0, 2.0], "t2": [1.0, 3.0, 2.0]}, "b": {"t1": [0.0, 1.0], "t2": [2.0, 1.0, 3.0]}})
    t = aggregate.table(data, runs=2)
    lo1, hi1 = t.bounds["env/t1"][:2]
    lo2, hi2 = t.bounds["env/t2"][:2]
    want_a = np.array([[(1.0 - lo1) / (hi1 - lo1), (1.0 - lo2) / (hi2 - lo2)],
                       [(2.0 - lo1) / (hi1 - lo1), (3.0 - lo2) / (hi2 - lo2)]])
    np.testing.assert_allclose(t.scores["a"], want_a)
    with pytest.raises(AggregateError, match="--runs 3: algorithm a has 2 run\\(s\\) on env/t1"):
        aggregate.table(data, runs=3)
    with pytest.raises(AggregateError, match="--runs 0 must be >= 1"):
        aggregate.aggregate(data, runs=0)
