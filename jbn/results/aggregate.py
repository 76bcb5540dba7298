"""Aggregate performance across tasks, with the statistics of Agarwal et al. (2021) through rliable, on the host.

    python -m jbn.aggregate INPUT... --out DIR [--metric NAME] [--baseline NAME] [--norm TASK=MIN,MAX ...]
                            [--reps 2000] [--seed 0] [--policy joint|decentralized] [--greedy]

INPUT: run directories (read as `python -m jbn.export` reads them, with the same --policy and --greedy, and named
the same way) and/or marl-eval JSON files (`jbn.export`'s, or Mava's own); all of them merge into one data set of
env/task -> algorithm -> runs (the same run of a task and algorithm twice is an error).

1. A run's score on its task: the mean of the metric's list in its absolute_metrics when it has them (the
   protocol's absolute metric), else in its final evaluation step (the step with the largest step_count).
2. Normalisation, per task (env/task): score' = (score - MIN) / (MAX - MIN). By default MIN and MAX are the
   smallest and largest evaluation of that task over every run of every algorithm and every logged step (each
   step's and the absolute metric's mean over its episodes): 0 is the worst any run ever did there (usually an
   untrained policy), 1 the best. `--norm TASK=MIN,MAX` gives the references of a task instead (TASK: env/task, or
   the task alone when no other env has it; e.g. a random policy's and the optimum's returns). A task on which every
   evaluation is equal tells the algorithms apart in no way and is left out (a note says so). `--metric` names the
   metric lists scored (default return; Mava's own files hold mean_episode_return); win_rate is on a fixed scale
   already and is not normalised unless --norm says so.
3. Across tasks, per algorithm (its scores as a runs x tasks matrix; every algorithm needs every task and the same
   number of runs on each): the interquartile mean (IQM, the mean of the middle 50% of all run x task scores) and the
   mean, with 95% stratified bootstrap confidence intervals (runs resampled within each task, --reps resamples); the
   probability of improvement P(X > baseline) (Mann-Whitney per task, averaged over tasks) of each algorithm X over
   the baseline (`--baseline`, default mappo when present) with its 95% CI; and the performance profile, the fraction
   of runs whose normalised score exceeds τ, for τ from min(0, lowest score) to max(1, highest), with 95% CIs.
   rliable (`rliable.metrics`, `rliable.library`) computes all of them; `--seed` makes the resamples repeatable.

Writes into DIR (each PNG with the CSV of its numbers) and prints the aggregate table:
  scores.csv                       env, task, algorithm, run, score, source (absolute|final), norm_min, norm_max,
                                   normalized: every run's score and how it was normalised
  aggregate.png, aggregate.csv     IQM and mean per algorithm with 95% CIs (algorithm, statistic, estimate, ci_low,
                                   ci_high, runs, tasks)
  improvement.png, improvement.csv P(algorithm > baseline) with 95% CIs (algorithm, baseline, probability, ci_low,
                                   ci_high); not written with a single algorithm or without a baseline
  profiles.png, profiles.csv       performance profiles (algorithm, tau, fraction, ci_low, ci_high)

Host side: numpy, rliable, matplotlib (Agg, through `matplotlib.figure.Figure`); no JAX. Bad input is one `error:`
line and exit code 2.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import re
import sys
from typing import Annotated, Callable, NamedTuple, Optional, Sequence

import numpy as np
import tyro

from ..cmdline.flags import output_dir_problem, parse

from . import export
from .export import ExportError, Options, Policy

CI = 0.95  # the coverage of every interval
UNNORMALISED = ("win_rate",)  # metrics on a fixed scale already (a fraction; Mava's: a percentage)
PROFILE_POINTS = 101  # thresholds τ of a performance profile


class AggregateError(Exception):
    """Bad input (paths, files, options): reported as one `error:` line, exit code 2."""


# ---------------------------------------------------------------------------------------------------- input


def load(inputs: Sequence[str], opts: Options = Options(), warn: Callable[[str], None] = print) -> dict:
    """One marl-eval dict from run directories and marl-eval JSON files (merged, keys in lower case)."""
    if not inputs:
        raise AggregateError("no input given (run directories or marl-eval JSON files)")
    data: dict = {}
    origin: dict = {}
    try:
        run_dirs = [p for p in inputs if os.path.isdir(p)]
        if run_dirs:
            data = export.build(run_dirs, opts, warn=warn, origin=origin)
        for path in inputs:
            if os.path.isdir(path):
                continue
            if not os.path.isfile(path):
                raise AggregateError(f"{path!r} does not exist (want a run directory or a marl-eval JSON file)")
            try:
                with open(path) as f:
                    raw = json.load(f)
            except (OSError, ValueError, UnicodeDecodeError) as e:
                raise AggregateError(f"{path}: not readable as JSON ({e})") from None
            export.check(raw, path)
            export.merge(data, export.flatten(raw), path, origin)
    except ExportError as e:
        raise AggregateError(str(e)) from None
    return data


# ---------------------------------------------------------------------------------------------------- scores


class Score(NamedTuple):
    """One run's score on its task (module docstring, step 1) and every evaluation mean it logged."""

    task: str  # "env/task"
    algorithm: str
    run: str
    value: float
    source: str  # "absolute" | "final"
    evaluations: tuple[float, ...]


def _mean(v) -> float:
    return float(np.mean(v)) if isinstance(v, list) else float(v)


def run_score(task: str, algorithm: str, run: str, entry: dict, metric: str) -> Score:
    """The score of one run (module docstring, step 1). AggregateError when no step has the metric."""
    steps = sorted(((m["step_count"], m) for k, m in entry.items() if not export.is_absolute(k) and metric in m),
                   key=lambda s: s[0])
    absolute = [m for k, m in entry.items() if export.is_absolute(k) and metric in m]
    if not steps and not absolute:
        present = sorted({k for m in entry.values() for k in m if k != "step_count"})
        raise AggregateError(f"{task}/{algorithm}/{run}: no evaluation has the metric {metric!r}; its metrics: "
                             f"{', '.join(present)}")
    evals = tuple(_mean(m[metric]) for _, m in steps) + tuple(_mean(m[metric]) for m in absolute)
    if absolute:
        return Score(task, algorithm, run, _mean(absolute[0][metric]), "absolute", evals)
    return Score(task, algorithm, run, _mean(steps[-1][1][metric]), "final", evals)


def scores_of(data: dict, metric: str) -> list[Score]:
    return [run_score(f"{env}/{task}", algo, run, entry, metric)
            for (env, task, algo, run), entry in export.flatten(data).items()]


def parse_norm(specs: Sequence[str], tasks: Sequence[str]) -> dict[str, tuple[float, float]]:
    """{task: (MIN, MAX)} from `--norm TASK=MIN,MAX` specs; TASK is env/task or an unambiguous task name."""
    out = {}
    for spec in specs:
        name, eq, bounds = spec.partition("=")
        parts = bounds.split(",")
        try:
            lo, hi = (float(p) for p in parts) if eq and len(parts) == 2 else (math.nan, math.nan)
        except ValueError:
            lo = hi = math.nan
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise AggregateError(f"--norm {spec!r}: want TASK=MIN,MAX with two finite numbers, e.g. "
                                 f"{tasks[0] if tasks else 'lbf/8x8-2p-2f-coop'}=0,1")
        if not lo < hi:
            raise AggregateError(f"--norm {spec!r}: MIN {lo:g} must be below MAX {hi:g}")
        key = name.strip().lower()
        matches = [t for t in tasks if t == key] or [t for t in tasks if t.partition("/")[2] == key]
        if len(matches) != 1:
            why = "names several tasks" if matches else "is not a task of the input"
            raise AggregateError(f"--norm {spec!r}: {name!r} {why}; tasks: {', '.join(tasks)}")
        if matches[0] in out:
            raise AggregateError(f"--norm gives task {matches[0]} twice")
        out[matches[0]] = (lo, hi)
    return out


@dataclasses.dataclass(frozen=True)
class Table:
    """The normalised scores as rliable takes them: algorithm -> float [runs, tasks] (tasks in `tasks` order, runs
    in each task sorted by name), with what went into them."""

    metric: str
    tasks: tuple[str, ...]
    algorithms: tuple[str, ...]
    scores: dict[str, np.ndarray]
    bounds: dict[str, tuple[float, float, str]]  # task -> (MIN, MAX, "min-max" | "--norm" | "none")
    rows: tuple[Score, ...]  # every run's raw score
    dropped: tuple[str, ...] = ()  # tasks left out: every evaluation equal


def _run_order(run: str):
    m = re.search(r"(\d+)$", run)
    return (run[: m.start()], int(m.group(1))) if m else (run, -1)


def table(data: dict, metric: str = "return", norm: Sequence[str] = (), runs: Optional[int] = None) -> Table:
    """Scores, normalised per task (module docstring, steps 1-2), as rliable's matrices; runs: keep the first `runs`
    runs (in seed order) of every algorithm on every task. AggregateError when an algorithm lacks a task or has
    unequal numbers of runs on its tasks (or fewer than `runs`)."""
    rows = scores_of(data, metric)
    tasks = sorted({s.task for s in rows})
    algorithms = sorted({s.algorithm for s in rows})
    given = parse_norm(norm, tasks)
    bounds: dict[str, tuple[float, float, str]] = {}
    dropped = []
    for task in tasks:
        if task in given:
            bounds[task] = (*given[task], "--norm")
        elif metric in UNNORMALISED:
            bounds[task] = (0.0, 1.0, "none")
        else:
            evals = [v for s in rows if s.task == task for v in s.evaluations]
            lo, hi = min(evals), max(evals)
            if hi > lo:
                bounds[task] = (lo, hi, "min-max")
            else:
                dropped.append(task)
    tasks = [t for t in tasks if t not in dropped]
    if not tasks:
        raise AggregateError(f"every task has all its evaluations equal ({', '.join(dropped)}): nothing to compare; "
                             f"give references with --norm TASK=MIN,MAX")
    missing = [f"{a} on {t}" for a in algorithms for t in tasks if not any(s.algorithm == a and s.task == t
                                                                          for s in rows)]
    if missing:
        raise AggregateError(f"every algorithm needs every task (rliable's runs x tasks matrices); missing: "
                             f"{', '.join(missing)}")
    matrices = {}
    for a in algorithms:
        per_task = []
        for t in tasks:
            lo, hi, _ = bounds[t]
            these = sorted((s for s in rows if s.algorithm == a and s.task == t), key=lambda s: _run_order(s.run))
            if runs is not None:
                if len(these) < runs:
                    raise AggregateError(f"--runs {runs}: algorithm {a} has {len(these)} run(s) on {t}")
                these = these[:runs]
            per_task.append([(s.value - lo) / (hi - lo) for s in these])
        counts = {t: len(v) for t, v in zip(tasks, per_task)}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{t}: {n}" for t, n in counts.items())
            raise AggregateError(f"algorithm {a} has different numbers of runs on its tasks ({listed}); rliable "
                                 f"needs the same number: --runs N keeps the first N of each")
        matrices[a] = np.array(per_task, dtype=np.float64).T  # [runs, tasks]
    return Table(metric, tuple(tasks), tuple(algorithms), matrices, bounds, tuple(rows), tuple(dropped))


# ---------------------------------------------------------------------------------------------------- statistics


@contextlib.contextmanager
def seeded(seed: int):
    """rliable's stratified bootstraps draw their resamples from numpy's global generator (np.random.choice), not
    from a random_state they are given (which arch 7 only warns about): seed it for repeatable intervals, and put its
    state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class Interval(NamedTuple):
    estimate: float
    low: float
    high: float


def aggregates(scores: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, dict[str, Interval]]:
    """{algorithm: {"iqm": Interval, "mean": Interval}}: point estimates and 95% stratified bootstrap CIs."""
    from rliable import library, metrics  # rliable's library loads arch and statsmodels: on first use only

    def iqm_and_mean(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    with seeded(seed):
        point, ci = library.get_interval_estimates(dict(scores), iqm_and_mean, reps=reps, confidence_interval_size=CI)
    return {a: {name: Interval(float(point[a][k]), float(ci[a][0][k]), float(ci[a][1][k]))
                for k, name in enumerate(("iqm", "mean"))} for a in scores}


def improvement(scores: dict[str, np.ndarray], baseline: str, reps: int = 2000, seed: int = 0) -> dict[str, Interval]:
    """{algorithm: P(algorithm > baseline) with its 95% CI} for every algorithm but the baseline."""
    from rliable import library, metrics

    pairs = {a: (scores[a], scores[baseline]) for a in scores if a != baseline}
    if not pairs:
        return {}
    with seeded(seed):
        point, ci = library.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=reps,
                                                   confidence_interval_size=CI)
    return {a: Interval(float(point[a]), float(np.ravel(ci[a])[0]), float(np.ravel(ci[a])[1])) for a in pairs}


class Profile(NamedTuple):
    """A performance profile: the fraction of runs scoring above each τ, float [K] each."""

    tau: np.ndarray
    fraction: np.ndarray
    low: np.ndarray
    high: np.ndarray


def profile_taus(scores: dict[str, np.ndarray]) -> np.ndarray:
    """τ from min(0, lowest score) to max(1, highest score), PROFILE_POINTS of them."""
    every = np.concatenate([s.ravel() for s in scores.values()])
    return np.linspace(min(0.0, float(every.min())), max(1.0, float(every.max())), PROFILE_POINTS)


def profiles(scores: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, Profile]:
    """{algorithm: its performance profile (score distribution over runs and tasks) with 95% CIs}."""
    from rliable import library

    taus = profile_taus(scores)
    with seeded(seed):
        point, ci = library.create_performance_profile(dict(scores), taus, reps=reps, confidence_interval_size=CI)
    return {a: Profile(taus, np.asarray(point[a], dtype=np.float64), np.asarray(ci[a][0], dtype=np.float64),
                       np.asarray(ci[a][1], dtype=np.float64)) for a in scores}


# ---------------------------------------------------------------------------------------------------- output


@dataclasses.dataclass(frozen=True)
class Result:
    table: Table
    baseline: Optional[str]
    aggregates: dict[str, dict[str, Interval]]
    improvement: dict[str, Interval]
    profiles: dict[str, Profile]


def pick_baseline(algorithms: Sequence[str], baseline: Optional[str]) -> Optional[str]:
    """The baseline of P(improvement): the one named (AggregateError when absent), else mappo when present."""
    if baseline is None:
        return "mappo" if "mappo" in algorithms else None
    if baseline.lower() not in algorithms:
        raise AggregateError(f"--baseline {baseline!r} is not an algorithm of the input; algorithms: "
                             f"{', '.join(algorithms)}")
    return baseline.lower()


def aggregate(data: dict, metric: str = "return", baseline: Optional[str] = None, norm: Sequence[str] = (),
              reps: int = 2000, seed: int = 0, runs: Optional[int] = None) -> Result:
    """Every statistic of the module docstring from a marl-eval dict (runs: `table`'s)."""
    if reps < 1:
        raise AggregateError(f"--reps {reps} must be >= 1 (bootstrap resamples; 2000 or more for reported CIs)")
    if runs is not None and runs < 1:
        raise AggregateError(f"--runs {runs} must be >= 1")
    t = table(data, metric, norm, runs)
    base = pick_baseline(t.algorithms, baseline)
    return Result(t, base, aggregates(t.scores, reps, seed),
                  improvement(t.scores, base, reps, seed) if base is not None else {}, profiles(t.scores, reps, seed))


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else repr(float(v))


def _short(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.3f}"


def text(r: Result) -> str:
    """The aggregate table (markdown) with a line on what was normalised how."""
    t = r.table
    how = {"min-max": "min-max over its evaluations", "--norm": "--norm", "none": "as it is"}
    norms = "; ".join(f"{task} {how[b[2]]} [{b[0]:.4g}, {b[1]:.4g}]" for task, b in t.bounds.items()
                      if task in t.tasks)
    lines = [f"{t.metric}: {len(t.tasks)} task(s), scores normalised per task ({norms}); 95% stratified bootstrap CIs",
             "| algorithm | runs x tasks | IQM [95% CI] | mean [95% CI] |"
             + (f" P(> {r.baseline}) [95% CI] |" if r.baseline else ""),
             "|---|---|---|---|" + ("---|" if r.baseline else "")]
    for a in t.algorithms:
        iqm, mean = r.aggregates[a]["iqm"], r.aggregates[a]["mean"]
        cells = [a, f"{t.scores[a].shape[0]} x {t.scores[a].shape[1]}",
                 f"{_short(iqm.estimate)} [{_short(iqm.low)}, {_short(iqm.high)}]",
                 f"{_short(mean.estimate)} [{_short(mean.low)}, {_short(mean.high)}]"]
        if r.baseline:
            p = r.improvement.get(a)
            cells.append("(baseline)" if p is None else f"{_short(p.estimate)} [{_short(p.low)}, {_short(p.high)}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(rows: int, cols: int, width: float, height: float, labels: Sequence[str] = (), sharey: bool = False):
    """A figure of rows x cols panels of width x height inches each, widened by the room the longest of `labels`
    (the y tick labels of the first column) takes."""
    from matplotlib.figure import Figure

    label_width = 0.075 * max((len(x) for x in labels), default=0)  # inches at the default 10-point font
    fig = Figure(figsize=(label_width + width * cols, height * rows))
    return fig, fig.subplots(rows, cols, squeeze=False, sharey=sharey)


def _intervals(ax, names: Sequence[str], intervals: Sequence[Interval], xlabel: str) -> None:
    """One horizontal bar per name from the CI's low to high end, a tick at the estimate."""
    for y, (name, iv) in enumerate(zip(names, intervals)):
        ax.barh(y, iv.high - iv.low, left=iv.low, height=0.6, color=f"C{y % 10}", alpha=0.6)
        ax.plot([iv.estimate, iv.estimate], [y - 0.3, y + 0.3], color="k", linewidth=2)
    ax.set_yticks(range(len(names)), list(names))
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)


def write_outputs(r: Result, out: str, echo: Callable[[str], None] = print) -> list[str]:
    """The CSVs and PNGs of the module docstring into `out`; the written paths."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise AggregateError(f"--out {out!r}: cannot create it ({e.strerror})") from None
    t, written = r.table, []
    norm_label = f"normalised {t.metric}"

    def save(stem: str, header: Sequence[str], rows: Sequence[Sequence], fig=None) -> None:
        path = os.path.join(out, f"{stem}.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        paths = [path]
        if fig is not None:
            fig.tight_layout()
            fig.savefig(os.path.join(out, f"{stem}.png"), dpi=120)
            paths.insert(0, os.path.join(out, f"{stem}.png"))
        for p in paths:
            echo(p)
            written.append(p)

    score_rows = []
    for s in sorted(t.rows, key=lambda s: (s.task, s.algorithm, _run_order(s.run))):
        env, _, task = s.task.partition("/")
        if s.task in t.tasks:
            lo, hi, _ = t.bounds[s.task]
            score_rows.append([env, task, s.algorithm, s.run, _fmt(s.value), s.source, _fmt(lo), _fmt(hi),
                               _fmt((s.value - lo) / (hi - lo))])
        else:
            score_rows.append([env, task, s.algorithm, s.run, _fmt(s.value), s.source, "", "", ""])
    save("scores", ["env", "task", "algorithm", "run", "score", "source", "norm_min", "norm_max", "normalized"],
         score_rows)

    names = list(t.algorithms)
    fig, axes = _figure(1, 2, 3.2, 1.4 + 0.45 * len(names), names, sharey=True)
    for ax, stat, title in zip(axes[0], ("iqm", "mean"), ("IQM", "mean")):
        _intervals(ax, names, [r.aggregates[a][stat] for a in names], f"{title} of {norm_label}")
        ax.set_title(f"{title} (95% CI)", fontsize=10)
    axes[0][1].tick_params(labelleft=False)  # the names once, on the left
    save("aggregate", ["algorithm", "statistic", "estimate", "ci_low", "ci_high", "runs", "tasks"],
         [[a, stat, _fmt(iv.estimate), _fmt(iv.low), _fmt(iv.high), t.scores[a].shape[0], t.scores[a].shape[1]]
          for a in names for stat, iv in r.aggregates[a].items()], fig)

    if r.improvement:
        others = [a for a in names if a in r.improvement]
        fig, axes = _figure(1, 1, 4.4, 1.4 + 0.45 * len(others), others)
        ax = axes[0][0]
        _intervals(ax, others, [r.improvement[a] for a in others], f"P(algorithm > {r.baseline})")
        ax.axvline(0.5, color="gray", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_title(f"probability of improvement over {r.baseline} (95% CI)", fontsize=10)
        save("improvement", ["algorithm", "baseline", "probability", "ci_low", "ci_high"],
             [[a, r.baseline, _fmt(iv.estimate), _fmt(iv.low), _fmt(iv.high)] for a, iv in r.improvement.items()], fig)
    else:
        echo("skipped improvement.png: " + ("a single algorithm" if len(names) < 2 else
                                           "no baseline (no algorithm is mappo; name one with --baseline)"))

    fig, axes = _figure(1, 1, 5.4, 3.9)
    ax = axes[0][0]
    rows = []
    for i, a in enumerate(names):
        p = r.profiles[a]
        ax.plot(p.tau, p.fraction, color=f"C{i % 10}", label=a)
        ax.fill_between(p.tau, p.low, p.high, color=f"C{i % 10}", alpha=0.2, linewidth=0)
        rows += [[a, _fmt(x), _fmt(f), _fmt(lo), _fmt(hi)] for x, f, lo, hi in zip(p.tau, p.fraction, p.low, p.high)]
    ax.set_xlabel(f"{norm_label} τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_title("performance profiles (95% CI)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save("profiles", ["algorithm", "tau", "fraction", "ci_low", "ci_high"], rows, fig)
    return written


# ---------------------------------------------------------------------------------------------------- CLI


@dataclasses.dataclass(frozen=True)
class AggregateArgs:
    inputs: tyro.conf.Positional[Annotated[tuple[str, ...], tyro.conf.arg(metavar="INPUT...")]]
    """run directories (`python -m jbn.train --run-dir`) and/or marl-eval JSON files (`python -m jbn.export`, Mava)"""
    out: Annotated[str, tyro.conf.arg(metavar="DIR")]
    """output directory for the PNGs and CSVs (created if missing)"""
    metric: str = "return"
    """the metric scored: a key of the runs' metric lists (return; win_rate, not normalised; Mava's own files:
    mean_episode_return)"""
    baseline: Optional[str] = None
    """the algorithm others are compared with in P(improvement) (default: mappo when the input has it)"""
    norm: tuple[str, ...] = ()
    """TASK=MIN,MAX references of a task's normalisation (default: min-max over the task's evaluations)"""
    reps: int = 2000
    """bootstrap resamples of every confidence interval"""
    seed: int = 0
    """seed of the bootstrap resamples"""
    runs: Optional[int] = None
    """keep the first N runs (in seed order) of every algorithm on every task, where tasks have different numbers
    of seeds (rliable needs a runs x tasks matrix; default: all, which must then be equal)"""
    policy: Policy = "joint"
    """run directories: which evaluation (as `python -m jbn.export --policy`)"""
    greedy: bool = False
    """run directories: the greedy evaluations (default: sampled actions)"""


def main(argv=None) -> None:
    args = parse(AggregateArgs, argv, prog="python -m jbn.aggregate", description=__doc__.split("\n\n")[0])
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        problem = output_dir_problem(args.out, "--out", "the figures and their CSVs (aggregate.png, ...)")
        if problem:
            raise AggregateError(problem)
        data = load(args.inputs, Options(policy=args.policy, greedy=args.greedy), warn)
        result = aggregate(data, args.metric, args.baseline, args.norm, args.reps, args.seed, args.runs)
        for task in result.table.dropped:
            warn(f"note: left out {task}: every evaluation of it is equal")
        sources = {s.source for s in result.table.rows}
        if sources == {"absolute", "final"}:
            warn("note: some runs have absolute metrics and some not; those without are scored by their final "
                 "evaluation")
        try:
            write_outputs(result, args.out)
        except OSError as e:  # a folder that cannot be written (read-only, a file in the way of a figure)
            raise AggregateError(f"--out {args.out!r}: cannot write into it ({e.strerror or e})") from None
    except AggregateError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    print(text(result))
