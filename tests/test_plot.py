"""jbn.plot against hand-computed means and standard errors of small synthetic run directories.

Two seeds, three updates (env_steps 100, 200, 300). Standard error = std(ddof=1) / sqrt(n); for two values
that is |a - b| / 2.
"""
import csv
import json

import numpy as np
import pytest

from jbn.results import plot

X = [100, 200, 300]


def _metrics_rows(seed, returns, density, eta, alpha):
    return [
        {"seed": seed, "update": u + 1, "env_steps": X[u], "episode_return": returns[u], "episodes": 4,
         "reward_per_step": 0.5, "dag_density": density[u], "eta": eta[u], "alpha": alpha[u],
         "loss_total": 0.1, "loss_policy": 0.0, "loss_entropy": 1.0, "sps": 1e4, "some_future_field": [1, 2]}
        for u in range(3)
    ]


def _write_run(path, config, metrics, evals=None, tail=""):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics) + tail)
    if evals is not None:
        (path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return str(path)


@pytest.fixture
def none_run(tmp_path):
    """dag none: returns seed 0 [1, 2, 3], seed 1 [3, 4, 5] -> mean [2, 3, 4], s.e. [1, 1, 1]. Seed 0 also has
    a 4th update that seed 1 lacks (a chunk cut short), and the file ends in a torn line."""
    rows = _metrics_rows(0, [1, 2, 3], [0, 0, 0], [1, 1, 1], [0.1, 0.1, 0.1])  # α > 0 but not a context run
    rows += _metrics_rows(1, [3, 4, 5], [0, 0, 0], [1, 1, 1], [0.1, 0.1, 0.1])
    rows.append({**rows[2], "update": 4, "env_steps": 400, "episode_return": 100.0})
    config = {"env": "cg_2", "dag": "none", "anneal": "6h_vs_8z", "num_seeds": 2, "seed": 0}
    return _write_run(tmp_path / "none", config, rows, tail='{"seed": 1, "update": 4, "env_st')


def _eval_rows():
    """Seeds 0, 1 at env_steps 100 and 300. Joint sampled return [10, 20] / [12, 30] -> mean [11, 25], s.e.
    [1, 5]; decentralized sampled [5, 15] / [7, 25] -> [6, 20], [1, 5]; joint greedy [11, 21] / [13, 31]
    -> [12, 26], [1, 5]. Analyses on the joint sampled rows (two agents; null = undefined)."""
    ret = {("joint", False): ([10, 20], [12, 30]), ("decentralized", False): ([5, 15], [7, 25]),
           ("joint", True): ([11, 21], [13, 31])}
    kl = ([[0.1, 0.4], [0.2, None]], [[0.3, None], [0.4, None]])  # [seed][eval][agent]
    health = ([[1.0, 2.0], [1.5, 0.5]], [[3.0, 4.0], [None, 0.7]])
    visible = ([0.5, 1.0], [None, 0.8])
    rows = []
    for seed in (0, 1):
        for e, steps in enumerate((100, 300)):
            for (policy, greedy), values in ret.items():
                row = {"update": steps // 100, "env_steps": steps, "seed": seed, "policy": policy, "greedy": greedy,
                       "return": values[seed][e], "length": 25.0, "episodes": 8}
                if policy == "joint" and not greedy:
                    row.update(kl_by_agent=kl[seed][e], parent_health_ratio_by_agent=health[seed][e],
                               visible_parent_fraction=visible[seed][e], parents_by_agent=[0, 1])
                rows.append(row)
    return rows


@pytest.fixture
def context_run(tmp_path):
    """dag context with annealing: returns seed 0 [2, 2, 2], seed 1 [4, 6, 8] -> mean [3, 4, 5], s.e. [1, 2, 3];
    density [1, .5, 0] / [.8, .5, .2] -> mean [.9, .5, .1]; η [1, .5, 0]; α [.1, .1, 1]; with eval.jsonl."""
    eta, alpha = [1.0, 0.5, 0.0], [0.1, 0.1, 1.0]
    rows = _metrics_rows(0, [2, 2, 2], [1.0, 0.5, 0.0], eta, alpha)
    rows += _metrics_rows(1, [4, 6, 8], [0.8, 0.5, 0.2], eta, alpha)
    config = {"env": "cg_2", "dag": "context", "anneal": "6h_vs_8z", "num_seeds": 2, "seed": 0}
    return _write_run(tmp_path / "context", config, rows, evals=_eval_rows())


def _lines(fig):
    return {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}


def test_curve_aligns_seeds_drops_nulls_and_smooths():
    rows = [{"seed": s, "env_steps": x, "r": v}
            for s, ys in ((0, [1, 2, 3, 9]), (1, [3, 4, None])) for x, v in zip(X + [400], ys)]
    rows.append({"seed": 1, "env_steps": 100, "other": 1.0})  # no "r": not a measurement of r
    c = plot.curve(rows, "env_steps", "r")
    np.testing.assert_array_equal(c.x, X)  # 400 only in seed 0: not a common point
    np.testing.assert_allclose(c.mean, [2, 3, 3])
    np.testing.assert_allclose(c.se, [1, 1, np.nan])  # a null leaves n = 1: no standard error
    np.testing.assert_array_equal(c.n, [2, 2, 1])
    # trailing mean over 2 updates, per seed before averaging: seed 0 [1, 1.5, 2.5], seed 1 [3, 3.5, 4]
    c2 = plot.curve(rows, "env_steps", "r", smooth=2)
    np.testing.assert_allclose(c2.mean, [2, 2.5, 3.25])
    np.testing.assert_allclose(c2.se, [1, 1, 0.75])
    np.testing.assert_array_equal(c2.n, [2, 2, 2])


def test_learning_curves_csv_and_figure(none_run, context_run, tmp_path, capsys):
    out = tmp_path / "out"
    plot.make_figures([none_run, context_run], str(out))
    printed = capsys.readouterr().out
    assert "skipped 1 unreadable line" in printed  # the torn last line
    with open(out / "learning_curves.csv") as f:
        rows = list(csv.DictReader(f))
    got = {(r["series"], int(r["x"])): (float(r["mean"]), float(r["se"]), int(r["n"])) for r in rows}
    want = {}
    for label, means, ses in (("cg_2 none", [2, 3, 4], [1, 1, 1]),
                              ("cg_2 context (anneal 6h_vs_8z)", [3, 4, 5], [1, 2, 3])):
        for x, m, se in zip(X, means, ses):
            want[(label, x)] = (m, se, 2)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], err_msg=str(k))

    runs = [plot.load_run(none_run), plot.load_run(context_run)]
    fig = plot.draw(plot.learning_curve_panels(runs, "return"))
    lines = _lines(fig)
    assert set(lines) == {"cg_2 none", "cg_2 context (anneal 6h_vs_8z)"}
    np.testing.assert_allclose(lines["cg_2 none"].get_xdata(), X)
    np.testing.assert_allclose(lines["cg_2 none"].get_ydata(), [2, 3, 4])
    np.testing.assert_allclose(lines["cg_2 context (anneal 6h_vs_8z)"].get_ydata(), [3, 4, 5])


def test_density_has_schedule_lines_only_for_an_annealing_context_run(none_run, context_run):
    runs = [plot.load_run(none_run), plot.load_run(context_run)]
    lines = _lines(plot.draw(plot.density_panels(runs)))
    ctx = "cg_2 context (anneal 6h_vs_8z)"
    assert set(lines) == {"cg_2 none", ctx, f"{ctx} η", f"{ctx} α"}
    np.testing.assert_allclose(lines[ctx].get_ydata(), [0.9, 0.5, 0.1])
    np.testing.assert_allclose(lines["cg_2 none"].get_ydata(), [0, 0, 0])
    np.testing.assert_allclose(lines[f"{ctx} η"].get_ydata(), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(lines[f"{ctx} α"].get_ydata(), [0.1, 0.1, 1.0])
    assert lines[f"{ctx} η"].get_linestyle() == "--" and lines[f"{ctx} α"].get_linestyle() == ":"


def test_eval_joint_vs_decentralized(context_run):
    panels = plot.eval_panels([plot.load_run(context_run)], "return")
    assert [p.title for p in panels] == [
        "joint vs decentralized (sampled actions)", "joint vs decentralized (greedy actions)"]
    fig = plot.draw(panels)
    sampled, greedy = ({ln.get_label(): ln for ln in ax.get_lines()} for ax in fig.axes[:2])
    lab = "cg_2 context (anneal 6h_vs_8z)"
    assert set(sampled) == {f"{lab} joint", f"{lab} decentralized"}
    assert set(greedy) == {f"{lab} joint"}
    np.testing.assert_allclose(sampled[f"{lab} joint"].get_xdata(), [100, 300])
    np.testing.assert_allclose(sampled[f"{lab} joint"].get_ydata(), [11, 25])
    np.testing.assert_allclose(sampled[f"{lab} decentralized"].get_ydata(), [6, 20])
    np.testing.assert_allclose(greedy[f"{lab} joint"].get_ydata(), [12, 26])
    np.testing.assert_allclose(panels[0].series[0].curve.se, [1, 5])


def test_analysis_one_line_per_agent_with_nan_gaps(context_run):
    runs = [plot.load_run(context_run)]
    kl = _lines(plot.draw(plot.analysis_panels(runs, "kl_by_agent", True, "KL")))
    assert set(kl) == {"agent 1", "agent 2"}
    np.testing.assert_allclose(kl["agent 1"].get_ydata(), [0.2, 0.3])
    np.testing.assert_allclose(kl["agent 2"].get_ydata(), [0.4, np.nan])  # all seeds null at 300: a gap
    health = _lines(plot.draw(plot.analysis_panels(runs, "parent_health_ratio_by_agent", True, "h")))
    np.testing.assert_allclose(health["agent 1"].get_ydata(), [2.0, 1.5])  # seed 1 null at 300: seed 0 only
    np.testing.assert_allclose(health["agent 2"].get_ydata(), [3.0, 0.6])
    vis = _lines(plot.draw(plot.analysis_panels(runs, "visible_parent_fraction", False, "v")))
    np.testing.assert_allclose(vis["cg_2 context (anneal 6h_vs_8z)"].get_ydata(), [0.5, 0.9])
    assert plot.analysis_panels(runs, "parent_distance_ratio_by_agent", True, "d") == []


def test_cli_writes_figures_and_csvs(none_run, context_run, tmp_path, capsys):
    out = tmp_path / "figs"
    plot.main([none_run, context_run, "--out", str(out), "--labels", "U", "C"])
    printed = capsys.readouterr().out.splitlines()
    stems = ["learning_curves", "dag_density", "eval_joint_vs_decentralized", "analysis_visible_parents",
             "analysis_parent_health", "analysis_kl"]
    written = {str(out / f"{s}.{ext}") for s in stems for ext in ("png", "csv")}
    assert written <= set(printed)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "csv"))
    assert "skipped analysis_parent_distance.png: no parent_distance_ratio_by_agent in eval.jsonl" in printed
    for s in stems:
        assert (out / f"{s}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "learning_curves.csv") as f:
        assert {r["series"] for r in csv.DictReader(f)} == {"U", "C"}


def test_until_draws_the_runs_as_they_stood_then(none_run, tmp_path, capsys):
    """none_run's seeds: returns [1, 2, 3] and [3, 4, 5] at 100, 200, 300 steps (seed 0 also 100.0 at 400): cut at
    250 the curve is the mean of the first two points only, [2, 3] ± 1."""
    out = tmp_path / "figs"
    plot.main([none_run, "--out", str(out), "--until", "250"])
    with open(out / "learning_curves.csv") as f:
        rows = [r for r in csv.DictReader(f)]
    assert [float(r["x"]) for r in rows] == [100.0, 200.0]
    np.testing.assert_allclose([float(r["mean"]) for r in rows], [2.0, 3.0])
    np.testing.assert_allclose([float(r["se"]) for r in rows], [1.0, 1.0])
    with pytest.raises(SystemExit) as e:
        plot.main([none_run, "--out", str(tmp_path / "o"), "--until", "50"])
    assert e.value.code == 2 and "--until 50: no metrics row at or before it" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("case", ["missing_dir", "no_metrics", "label_count"])
def test_cli_bad_input_exits_2_with_one_error_line(case, none_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv, message = {
        "missing_dir": ([str(tmp_path / "nope"), "--out", str(tmp_path / "o")], "does not exist"),
        "no_metrics": ([str(empty), "--out", str(tmp_path / "o")], "has no metrics.jsonl"),
        "label_count": ([none_run, "--out", str(tmp_path / "o"), "--labels", "a", "b"], "--labels has 2"),
    }[case]
    with pytest.raises(SystemExit) as e:
        plot.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "o").exists()


def test_win_rate_is_the_default_metric_when_a_run_logged_it(none_run, tmp_path, capsys):
    rows = [r for seed in (0, 1) for r in _metrics_rows(seed, [1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0])]
    for r, w in zip(rows, [0.0, 0.5, 1.0, 0.5, 0.5, None]):
        r["win_rate"] = w
    smax = _write_run(tmp_path / "smax", {"env": "smax_3m", "dag": "none", "anneal": "6h_vs_8z"}, rows)
    out = tmp_path / "out"
    plot.make_figures([smax, none_run], str(out))
    assert "note: cg_2 none: no win_rate in metrics.jsonl; left out of learning_curves.png" in capsys.readouterr().out
    with open(out / "learning_curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["panel"] for r in rows} == {"win rate"} and {r["series"] for r in rows} == {"smax_3m none"}
    np.testing.assert_allclose([float(r["mean"]) for r in rows], [0.25, 0.5, 1.0])
    assert [int(r["n"]) for r in rows] == [2, 2, 1]


def test_default_label_names_the_schedule_and_a_non_default_edge_prior():
    from jbn.results.plot import default_label
    assert default_label({"env": "cg_2", "dag": "none", "edge_prior": 0.9}, "x") == "cg_2 none"
    assert default_label({"env": "cg_2", "dag": "context", "anneal": "none"}, "x") == "cg_2 context"
    assert default_label({"env": "cg_2", "dag": "context", "anneal": "MMM2", "edge_prior": 0.95}, "x") == \
        "cg_2 context (anneal MMM2) edge prior 0.95"
    assert default_label({}, "fallback") == "fallback"
