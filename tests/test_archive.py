"""jbn.archive: the archived run draws the same figures as the run (CSV numbers equal up to the rounding to six
significant digits), drops what the figures do not use, and gives the same bytes when archived twice."""
import csv
import gzip
import json

import numpy as np
import pytest

from jbn.results import archive, plot


def _run(tmp_path):
    """A synthetic context run: two seeds, five updates, loss fields, a torn last line, and eval rows."""
    rng = np.random.default_rng(0)
    path = tmp_path / "runs" / "cg_2_context"
    path.mkdir(parents=True)
    rows = [
        {"seed": s, "update": u, "env_steps": 800 * u, "episode_return": float(rng.normal()),
         "win_rate": float(rng.uniform()), "episodes": 4, "reward_per_step": float(rng.normal()),
         "dag_density": float(rng.uniform()), "eta": 1.0, "alpha": 0.1 * u, "loss_total": float(rng.normal()),
         "loss_policy": 0.1, "sps": 12345.678}
        for s in (0, 1) for u in range(1, 6)
    ]
    evals = [
        {"update": u, "env_steps": 800 * u, "seed": s, "policy": p, "greedy": g, "return": float(rng.normal()),
         "win_rate": float(rng.uniform()), "episodes": 8, "kl_by_agent": [0.0, float(rng.uniform())],
         "visible_parent_fraction": float(rng.uniform()), "parent_health_ratio_by_agent": [None, 1 / 3]}
        for s in (0, 1) for u in (2, 5) for p in ("joint", "decentralized") for g in (False, True)
    ]
    (path / "config.json").write_text(json.dumps({"env": "cg_2", "dag": "context", "anneal": "6h_vs_8z"}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"seed": 1, "upd')
    (path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return str(path), rows


def _csvs(out):
    return {p.name: list(csv.DictReader(open(p))) for p in sorted(out.glob("*.csv"))}


def test_archived_run_draws_the_same_figures(tmp_path):
    run, rows = _run(tmp_path)
    dest = archive.archive_run(run, str(tmp_path / "archive"))
    assert sorted(p.name for p in (tmp_path / "archive" / "cg_2_context").iterdir()) == [
        "config.json", "eval.jsonl.gz", "metrics.jsonl.gz"]
    kept = [json.loads(line) for line in gzip.open(f"{dest}/metrics.jsonl.gz", "rt")]
    assert len(kept) == len(rows) and "loss_total" not in kept[0] and "loss_policy" not in kept[0]
    assert kept[0]["sps"] == pytest.approx(12345.7)  # kept, rounded: the study's tables sum wall-clock from it
    assert kept[3]["episode_return"] == pytest.approx(rows[3]["episode_return"], rel=1e-5)

    plot.make_figures([run], str(tmp_path / "fig_run"))
    plot.make_figures([dest], str(tmp_path / "fig_archive"))
    a, b = _csvs(tmp_path / "fig_run"), _csvs(tmp_path / "fig_archive")
    assert a.keys() == b.keys() and "learning_curves.csv" in a and "analysis_kl.csv" in a
    for name in a:
        assert len(a[name]) == len(b[name]) > 0, name
        for ra, rb in zip(a[name], b[name]):
            assert (ra["panel"], ra["series"], ra["x"], ra["n"]) == (rb["panel"], rb["series"], rb["x"], rb["n"])
            for k in ("mean", "se"):
                if ra[k]:
                    assert float(rb[k]) == pytest.approx(float(ra[k]), rel=1e-5, abs=1e-9), (name, k)


def test_archiving_twice_gives_the_same_bytes(tmp_path):
    run, _ = _run(tmp_path)
    first = archive.archive_run(run, str(tmp_path / "a"))
    second = archive.archive_run(run, str(tmp_path / "b"))
    for name in ("metrics.jsonl.gz", "eval.jsonl.gz", "config.json"):
        assert open(f"{first}/{name}", "rb").read() == open(f"{second}/{name}", "rb").read()


def test_bad_input_exits_2_naming_the_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        archive.main([str(tmp_path / "missing"), "--out", str(tmp_path / "a")])
    assert e.value.code == 2
    assert "missing" in capsys.readouterr().err
    run, _ = _run(tmp_path)
    with pytest.raises(archive.ArchiveError, match="onto itself"):
        archive.archive_run(run, str(tmp_path / "runs"))


def test_the_absolute_metric_is_archived_as_logged(tmp_path):
    run, _ = _run(tmp_path)
    absolute = [{"update": 5, "env_steps": 4000, "seed": s, "policy": "joint", "greedy": False, "episodes": 3,
                 "return": 1.0 / 3 + s, "returns": [0.123456789 + s, 0.5 + s, 0.376543211 + s]} for s in (0, 1)]
    with open(f"{run}/absolute.jsonl", "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in absolute))
    dest = archive.archive_run(run, str(tmp_path / "archive"))
    assert [json.loads(line) for line in gzip.open(f"{dest}/absolute.jsonl.gz", "rt")] == absolute  # not rounded
