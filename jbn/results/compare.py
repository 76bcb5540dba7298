"""Paired comparison of runs trained on the same seeds: is B better than A, or within noise?

    python -m jbn.compare BASE_RUN OTHER_RUN... [--metric return|win_rate|reward_per_step] [--last K] [--until STEPS]
                          [--json OUT]

Every run is reduced to one number per seed for each of three quantities:

  final    the training metric (metrics.jsonl) averaged over the seed's last K logged updates (default 10)
  mean     the training metric averaged over all the seed's logged updates: the area under the learning curve
           divided by its length, i.e. learning speed and final level together
  eval     the last evaluation of the joint policy with sampled actions (eval.jsonl: return, or win rate with
           --metric win_rate); absent when the run has no evaluation
  absolute the absolute metric of the joint policy with sampled actions (absolute.jsonl: the final parameters over
           --absolute-episodes episodes, the evaluation protocol's score); a column only when a run has one

and each quantity is reported as mean ± standard error over seeds (std(ddof=1)/√n). Every other run is then
compared with the first (BASE) on the seeds both ran (the `seed` field of the rows; `--seed 0 --num-seeds n`
runs seeds 0..n-1): the mean of the per-seed differences (other − base) ± its standard error and the two-sided
p-value of the paired t-test. Pairing removes the seed-to-seed spread that the two runs share (the same env
and initialisation keys), which is why runs on the same seeds can tell apart smaller differences than two
independent groups. When every per-seed difference is exactly 0 the runs are identical on those seeds (p is
reported as 1). A sweep run splits into one entry per sweep point, as in `python -m jbn.plot`. `--until STEPS`
compares runs of different lengths at an equal budget: rows past STEPS env steps (per seed) are ignored.

Host side only (numpy, scipy.stats); reads the same files as `python -m jbn.plot`, archived runs included.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import Annotated, Optional, Sequence

import numpy as np
import tyro

from ..cmdline.flags import output_problem, parse
from .plot import METRIC_KEYS, Metric, PlotError, Run, default_metric, load_runs_until, number, split_sweep

QUANTITIES = ("final", "mean", "eval", "absolute")


def _finite(v) -> bool:
    return math.isfinite(number(v))


def per_seed(run: Run, metric: Metric, last: int) -> dict[str, dict[int, float]]:
    """quantity -> {seed: value} (module docstring); a seed without a finite value is left out."""
    key = METRIC_KEYS[metric]
    series: dict[int, dict[float, float]] = {}
    for r in run.metrics:
        if "seed" in r and isinstance(r.get("env_steps"), (int, float)) and _finite(r.get(key)):
            series.setdefault(r["seed"], {})[r["env_steps"]] = float(r[key])  # a repeated step: the last row wins
    out = {q: {} for q in QUANTITIES}
    for seed, points in series.items():
        ys = [points[x] for x in sorted(points)]
        out["final"][seed] = float(np.mean(ys[-last:]))
        out["mean"][seed] = float(np.mean(ys))
    eval_key = "win_rate" if metric == "win_rate" else "return"
    for quantity, rows in (("eval", run.evals), ("absolute", run.absolutes)):
        latest: dict[int, tuple[float, float]] = {}
        for r in rows:
            if (r.get("policy") == "joint" and not r.get("greedy", False) and "seed" in r
                    and isinstance(r.get("env_steps"), (int, float)) and _finite(r.get(eval_key))):
                if r["seed"] not in latest or r["env_steps"] >= latest[r["seed"]][0]:
                    latest[r["seed"]] = (r["env_steps"], float(r[eval_key]))
        out[quantity] = {seed: v for seed, (_, v) in latest.items()}
    return out


def mean_se(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, standard error std(ddof=1)/√n, n); se is NaN for n < 2, both NaN for n = 0."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se, int(v.size)


def paired(base: dict[int, float], other: dict[int, float]) -> Optional[dict]:
    """Paired difference other − base on the common seeds: mean, se, n, t and the two-sided p-value; None when
    fewer than 2 seeds are common."""
    from scipy import stats

    seeds = sorted(set(base) & set(other))
    if len(seeds) < 2:
        return None
    d = np.array([other[s] - base[s] for s in seeds], dtype=np.float64)
    mean, se, n = mean_se(d)
    if not np.any(d != 0):
        return dict(mean=0.0, se=0.0, n=n, t=0.0, p=1.0, identical=True)
    if se == 0:  # every seed differs by the same nonzero amount: no spread, certainly different
        return dict(mean=mean, se=0.0, n=n, t=math.copysign(math.inf, mean), p=0.0, identical=False)
    t = mean / se
    return dict(mean=mean, se=se, n=n, t=t, p=float(2 * stats.t.sf(abs(t), df=n - 1)), identical=False)


@dataclasses.dataclass
class Entry:
    label: str
    seeds: int
    stats: dict  # quantity -> {"mean", "se", "n"} or None
    vs_base: dict  # quantity -> paired dict or None (the base itself: {})


def compare(run_dirs: Sequence[str], metric: Optional[Metric] = None, last: int = 10,
            labels: Optional[Sequence[str]] = None, until: Optional[float] = None,
            echo=None) -> tuple[Metric, list[Entry]]:
    """Load the runs and compare each with the first. Raises PlotError on bad input. echo(line): the notes on what
    was tolerated while reading (lines skipped as unreadable); default: not shown."""
    if len(run_dirs) < 2:
        raise PlotError(f"give a base run and at least one run to compare with it, got {len(run_dirs)} run dir(s)")
    if last < 1:
        raise PlotError(f"--last {last} must be >= 1 (updates averaged at the end of each seed)")
    if labels is not None and len(labels) != len(run_dirs):
        raise PlotError(f"--labels has {len(labels)} label(s) for {len(run_dirs)} run dir(s)")
    runs = load_runs_until(run_dirs, labels, until)
    for run in runs:
        for note in run.notes:
            if echo is not None:
                echo(note)
    envs = {r.path: r.config.get("env") for r in runs}
    if len({e for e in envs.values() if e is not None}) > 1:
        raise PlotError("the runs were trained on different envs (" + ", ".join(f"{p}: {e}" for p, e in envs.items())
                        + "): a paired per-seed comparison needs one env; compare each env's runs on their own "
                        "(python -m jbn.aggregate compares across tasks)")
    if labels is None:  # the default '<env> <dag>' of runs that differ in another option: add the directory
        runs = [dataclasses.replace(r, label=f"{r.label} [{os.path.basename(os.path.normpath(r.path))}]") for r in runs]
    if metric is None:
        metric = default_metric(runs)
    elif metric == "win_rate" and not any(r.has_win_rate for r in runs):
        raise PlotError("--metric win_rate: no run logged win_rate (SMAX only); use --metric return")
    points = [p for run in runs for p in split_sweep(run)]
    values = [per_seed(p, metric, last) for p in points]
    entries = []
    for point, v in zip(points, values):
        stats = {}
        for q in QUANTITIES:
            m, se, n = mean_se(list(v[q].values()))
            stats[q] = dict(mean=m, se=se, n=n) if n else None
        vs = {} if point is points[0] else {q: paired(values[0][q], v[q]) for q in QUANTITIES}
        entries.append(Entry(point.label, len(v["final"]), stats, vs))
    return metric, entries


def _num(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def table(metric: Metric, entries: Sequence[Entry], last: int) -> str:
    """The comparison as a markdown table."""
    shown = [q for q in QUANTITIES if q != "absolute" or any(e.stats.get(q) for e in entries)]
    head = (f"| run | seeds | final (last {last} updates) | Δ final vs base (p) | mean over training | "
            f"Δ mean (p) | eval, joint sampled | Δ eval (p) |"
            + (" absolute metric, joint sampled | Δ absolute (p) |" if "absolute" in shown else ""))
    lines = [f"metric: {metric}; Δ = paired mean difference (run − base) ± s.e. over common seeds, "
             f"p = two-sided paired t-test", head, "|" + "---|" * (2 + 2 * len(shown))]
    for e in entries:
        cells = [e.label, str(e.seeds)]
        for q in shown:
            s = e.stats[q]
            cells.append("—" if s is None else f"{_num(s['mean'])} ± {_num(s['se'])}")
            if not e.vs_base:
                cells.append("(base)")
                continue
            d = e.vs_base[q]
            if d is None:
                cells.append("— (< 2 common seeds)")
            elif d["identical"]:
                cells.append(f"identical on {d['n']} seeds")
            else:
                cells.append(f"{'+' if d['mean'] >= 0 else ''}{_num(d['mean'])} ± {_num(d['se'])} (p {d['p']:.2g}, "
                             f"n {d['n']})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    run_dirs: tyro.conf.Positional[Annotated[tuple[str, ...], tyro.conf.arg(metavar="BASE_RUN OTHER_RUN...")]]
    """run directories (`python -m jbn.train --run-dir`, or archived); the first is the base"""
    metric: Optional[Metric] = None
    """training metric; default win_rate when a run logged it (SMAX), else return"""
    last: int = 10
    """the final value of a seed: the mean over its last K logged updates"""
    labels: Optional[tuple[str, ...]] = None
    """one label per run dir, in order (default '<env> <dag> [<directory>]')"""
    until: Optional[float] = None
    """compare at this budget: ignore rows logged after STEPS env steps per seed"""
    json: Optional[str] = None
    """also write the numbers to this JSON file"""


def write_json(path: str, metric: Metric, last: int, until: Optional[float], entries: Sequence[Entry]) -> None:
    try:
        with open(path, "w") as f:
            json.dump({"metric": metric, "last": last, "until": until, "runs": [dataclasses.asdict(e) for e in entries]},
                      f, indent=1)
    except OSError as e:
        raise PlotError(f"--json {path!r}: cannot write it ({e.strerror or e})") from None


def main(argv=None) -> None:
    """The table goes to stdout; notes and errors to stderr."""
    args = parse(CompareArgs, argv, prog="python -m jbn.compare", description=__doc__.split("\n\n")[0])
    try:
        problem = output_problem(args.json, "--json") if args.json else None
        if problem:
            raise PlotError(problem)
        metric, entries = compare(args.run_dirs, args.metric, args.last, args.labels, args.until,
                                  echo=lambda line: print(line, file=sys.stderr))
        if args.until is not None:
            print(f"at {args.until:g} env steps per seed")
        print(table(metric, entries, args.last))
        if args.json:
            write_json(args.json, metric, args.last, args.until, entries)
            print(f"wrote {args.json}", file=sys.stderr)
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
