"""Small, committable copies of run directories: what `jbn.plot` draws, without checkpoints or loss logs.

    python -m jbn.archive runs/study/aloha_10_none runs/study/aloha_10_context --out docs/repro/runs
    python -m jbn.plot docs/repro/runs/aloha_10_none docs/repro/runs/aloha_10_context --out docs/repro/aloha_10

Each RUN_DIR becomes OUT/<its name>/ with
  config.json, summary.json   copied as they are (summary.json only when the run finished)
  metrics.jsonl.gz            the per-update rows with the fields the figures use (METRIC_FIELDS) and the
                              training throughput `sps` (the study's wall-clock column), floats rounded to 6
                              significant digits (the loss diagnostics are left out)
  eval.jsonl.gz               every evaluation row (returns, win rates, the Fig. 5/7-10 analyses), rounded alike
  absolute.jsonl.gz           the absolute metric's rows (`--absolute-episodes`), when the run has them, as logged
                              (not rounded: `jbn.export` reads them as the run's absolute_metrics)

A run's metrics.jsonl holds ~20 loss and speed fields per seed and update (8 MB for 10 seeds x 1e6 steps of
Aloha); the archive keeps the figures' numbers in ~2% of that, so a study's data can live in git beside its
figures and every figure regenerates with one `jbn.plot` command. gzip headers carry no time stamp, so
archiving the same run twice gives the same bytes.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import sys
from typing import Annotated

import tyro

from ..cmdline.flags import output_dir_problem, parse
from .plot import PlotError, log_files, read_jsonl, skipped_note  # log_files: metrics.jsonl plus a multi-host run's

# The metrics.jsonl fields jbn.plot reads (plus episodes, the count behind each episode mean, and sps, the chunk's
# env steps/s from which a table's training wall-clock is summed), and the tags that group a sweep's runs
# (`jbn.training.sweep`: {"sweep": {name: value}}).
METRIC_FIELDS = ("seed", "update", "env_steps", "episode_return", "win_rate", "episodes", "reward_per_step",
                 "dag_density", "eta", "alpha", "sps")
SWEEP_FIELDS = ("sweep",)


class ArchiveError(Exception):
    """Bad input (a missing run dir or metrics.jsonl, an output that would overwrite its input)."""


def _round(value):
    """Floats (also inside lists and dicts) to 6 significant digits; everything else unchanged."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def _write_gz(path: str, rows) -> int:
    """rows as JSON lines into a gzip file with no time stamp in its header; returns the number of rows."""
    n = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        for row in rows:
            f.write((json.dumps(row) + "\n").encode())
            n += 1
    return n


def _rows(paths, notes: list[str]):
    """The rows of the log files `paths`, in order; a note for each file with unreadable lines (skipped)."""
    for path in paths:
        try:
            rows, problems = read_jsonl(path)
        except PlotError as e:
            raise ArchiveError(str(e)) from None
        if problems:
            notes.append(skipped_note(path, problems))
        yield from rows


def archive_run(run_dir: str, out_dir: str, echo=None) -> str:
    """Write the archive of run_dir into out_dir/<name of run_dir>/ (replacing an older archive there); echo(line):
    the notes on lines skipped as unreadable (default: stderr)."""

    run_dir = os.path.normpath(run_dir)
    if not os.path.isdir(run_dir):
        what = "is not a directory" if os.path.exists(run_dir) else "does not exist"
        raise ArchiveError(f"run dir {run_dir!r} {what}")
    if os.path.isdir(os.path.join(run_dir, "metrics.jsonl")):
        raise ArchiveError(f"{os.path.join(run_dir, 'metrics.jsonl')} is a directory, not a log file")
    metrics = [p for p in log_files(run_dir, "metrics") if not p.endswith(".gz")]
    if not metrics:
        raise ArchiveError(f"run dir {run_dir!r} has no metrics.jsonl")
    dest = os.path.join(out_dir, os.path.basename(run_dir))
    if os.path.realpath(dest) == os.path.realpath(run_dir):
        raise ArchiveError(f"--out {out_dir!r} would archive {run_dir!r} onto itself")
    notes: list[str] = []
    metric_rows = [{k: _round(r[k]) for k in METRIC_FIELDS + SWEEP_FIELDS if k in r} for r in _rows(metrics, notes)]
    evals = [p for p in log_files(run_dir, "eval") if not p.endswith(".gz")]
    eval_rows = [_round(r) for r in _rows(evals, notes)]
    absolute = [p for p in log_files(run_dir, "absolute") if not p.endswith(".gz")]
    absolute_rows = list(_rows(absolute, notes))
    try:
        os.makedirs(dest, exist_ok=True)
        for name in ("config.json", "summary.json"):
            if os.path.isfile(os.path.join(run_dir, name)):
                shutil.copyfile(os.path.join(run_dir, name), os.path.join(dest, name))
        _write_gz(os.path.join(dest, "metrics.jsonl.gz"), metric_rows)
        if evals:
            _write_gz(os.path.join(dest, "eval.jsonl.gz"), eval_rows)
        if absolute:
            _write_gz(os.path.join(dest, "absolute.jsonl.gz"), absolute_rows)
    except OSError as e:
        raise ArchiveError(f"--out {out_dir!r}: cannot write {dest} ({e.strerror or e})") from None
    for note in notes:
        (echo or (lambda line: print(line, file=sys.stderr)))(note)
    return dest


@dataclasses.dataclass
class Args:
    """Small, committable copies of run directories that `python -m jbn.plot` reads (no checkpoints)."""

    run_dirs: tyro.conf.Positional[Annotated[tuple[str, ...], tyro.conf.arg(metavar="RUN_DIR...")]]
    """run directories written by `python -m jbn.train`"""
    out: Annotated[str, tyro.conf.arg(metavar="DIR")]
    """directory that receives one archived run directory per RUN_DIR, named like it"""


def main(argv=None) -> None:
    args = parse(Args, argv, prog="python -m jbn.archive", description=__doc__.split("\n\n")[0])
    try:
        problem = output_dir_problem(args.out, "--out", "one archived run directory per RUN_DIR")
        if problem:
            raise ArchiveError(problem)
        for run_dir in args.run_dirs:
            print(archive_run(run_dir, args.out))
    except ArchiveError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
