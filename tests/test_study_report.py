"""The study's report (docs/repro/study/report.py) keeps wall-clock cells an earlier report measured, for runs archived
before the archive kept SPS."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STUDY = os.path.join(HERE, "..", "docs", "repro", "study")


def _report():
    sys.path.insert(0, STUDY)
    try:
        spec = importlib.util.spec_from_file_location("study_report", os.path.join(STUDY, "report.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(STUDY)


def test_previous_wall_clock_reads_measured_cells_only(tmp_path):
    (tmp_path / "tables.md").write_text(
        "### task_a (--hidden 128)\n\ntext\n\n"
        "| mode | joint return | decentralised return | Δ joint vs none | Δ dec. vs none | final ρ | train s (× none) | compile s |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| none | 1 ± 0 | 1 ± 0 | +0 [+0, +0] | +0 [+0, +0] | 0.00 | 250 (1.00) | 11 |\n"
        "| full | 2 ± 0 | 2 ± 0 | +1 [+1, +1] | +1 [+1, +1] | 1.00 | nan (nan) | 7 |\n\n"
        "### task_b\n\n"
        "| none | 3 ± 0 | 3 ± 0 | +0 [+0, +0] | +0 [+0, +0] | 0.00 | — (archived without SPS) | 3 |\n"
        "| context | 3 ± 0 | 3 ± 0 | +0 [+0, +0] | +0 [+0, +0] | 0.00 | 385 (1.54) | 25 |\n")
    cells = _report().previous_wall_clock(str(tmp_path / "tables.md"))
    assert cells == {("task_a (--hidden 128)", "none"): "250 (1.00)", ("task_b", "context"): "385 (1.54)"}
    assert _report().previous_wall_clock(str(tmp_path / "missing.md")) == {}


def test_figures_for_redraws_only_the_named_task(tmp_path, monkeypatch):
    """--figures-for TASK: jbn.plot runs for that task alone (before, every finished task's figures were rewritten);
    the aggregate is still redone over every finished task."""
    mod = _report()
    calls = []
    monkeypatch.setattr(mod.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    mod.main(["--out", str(tmp_path), "--figures-for", "smax_smacv2_5_units"])
    plots = [c for c in calls if "jbn.plot" in c]
    assert [c[c.index("--out") + 1] for c in plots] == [os.path.join(str(tmp_path), "smax_smacv2_5_units")]
    aggregates = [c for c in calls if "jbn.aggregate" in c]
    assert len(aggregates) == 2
    assert sum("smax_smacv2_5_units__none" in os.path.basename(r) for r in aggregates[0]) == 1
    assert (tmp_path / "tables.md").exists()
