"""Figures of training runs (paper Fig. 4, 6, 7-10) from their run directories, on the host.

    python -m jbn.plot runs/cg_2_none_* runs/cg_2_full_* runs/cg_2_context_* --out figs
    python -m jbn.plot RUN_DIR... --out DIR [--metric return|win_rate|reward_per_step] [--smooth K] [--labels A B ...]
                       [--until STEPS]

Reads each run's `config.json`, `metrics.jsonl` and, if present, `eval.jsonl` (README "Run directories"; or their
gzipped copies in a run archived by `python -m jbn.archive`); writes
into DIR one PNG per figure and beside it a CSV (`panel,series,x,mean,se,n`) with exactly the plotted numbers:

  learning_curves.png               Fig. 4 top / Fig. 6: --metric vs env steps, one line per run
  dag_density.png                   Fig. 4 bottom / Fig. 6 black lines: ρ(G) per run; η (dashed), α (dotted)
                                    for context runs whose density penalty acts (α > 0 somewhere)
  eval_joint_vs_decentralized.png   Fig. 6: eval return (win rate) of the joint policy (solid) and its
                                    decentralised execution (dashed); one panel per sampling (sampled, greedy)
  analysis_visible_parents.png      Fig. 7: share of the chosen parents the child can see, one line per run
  analysis_parent_health.png        Fig. 8: parent / ally health ratio, one line per agent, one panel per run
  analysis_parent_distance.png      Fig. 9: parent / ally distance ratio, likewise
  analysis_kl.png                   Fig. 10: KL(BN policy ‖ same policy with an empty DAG), likewise

The analyses come from the joint, sampled rows of eval.jsonl. A figure whose data no run has is skipped with
one printed line. Every line is the mean over seeds, the band ± one standard error (std(ddof=1)/√n).

A sweep (`python -m jbn.train --sweep ...`) is one run directory whose rows carry {"sweep": {name: value}}: each
sweep point becomes its own line, labelled like `cg_2 full lr=5e-4 ent_coef=0.01`, the mean ± s.e. over its seeds.
The logs of a multi-host run (metrics.p<I>.jsonl, eval.p<I>.jsonl beside metrics.jsonl) are read together.

Seeds are aligned on equal env_steps (per seed): a point is drawn only where every seed of the run logged one
(a seed cut short by a torn last chunk does not make the mean jump); a null there (no episode ended, an
undefined ratio) drops that seed out of the point, and `n` in the CSV counts the seeds that remain (no value:
a gap). `--smooth K` (default 1 = the logged values) is a trailing moving average over each seed's last K
updates of metrics.jsonl, taken before averaging over seeds (learning curves and DAG density; η and α are
schedules and eval rows are drawn as logged). `--until STEPS` draws the runs as they stood at STEPS env steps
per seed (rows logged later are left out), so a long run and a short one share an axis.

Host side only: numpy and matplotlib (Agg, through `matplotlib.figure.Figure`; no pyplot state, no jax).
The data part (`load_run`, `curve`, the `*_panels` builders) returns plain arrays and can be tested without
matplotlib; `draw(panels)` turns them into a Figure and `write_csv(panels)` writes the same numbers.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import math
import os
import sys
from typing import Annotated, Callable, Literal, NamedTuple, Optional, Sequence

import numpy as np
import tyro

from ..policy.dag_modes import is_learned
from ..cmdline.flags import output_dir_problem, parse
from ..training.labels import format_value, point_label  # noqa: F401  (re-exported)

Metric = Literal["return", "win_rate", "reward_per_step"]
METRIC_KEYS: dict[str, str] = {"return": "episode_return", "win_rate": "win_rate", "reward_per_step": "reward_per_step"}
METRIC_LABELS: dict[str, str] = {"return": "episode return", "win_rate": "win rate",
                                 "reward_per_step": "reward per step"}
X_KEY = "env_steps"
X_LABEL = "env steps (per seed)"

# (file stem, eval.jsonl key, per agent?, y label, title)
ANALYSES: tuple[tuple[str, str, bool, str, str], ...] = (
    ("analysis_visible_parents", "visible_parent_fraction", False, "visible share of parents",
     "Fig. 7: visible parents"),
    ("analysis_parent_health", "parent_health_ratio_by_agent", True, "parent health / ally health",
     "Fig. 8: parent health ratio"),
    ("analysis_parent_distance", "parent_distance_ratio_by_agent", True, "parent distance / ally distance",
     "Fig. 9: parent distance ratio"),
    ("analysis_kl", "kl_by_agent", True, "KL(BN ‖ empty DAG)", "Fig. 10: multi-modality (KL)"),
)


class PlotError(Exception):
    """Bad input (run directory, files, options): reported as one `error:` line, exit code 2."""


# ---------------------------------------------------------------------------------------------------- data


def read_jsonl(path: str) -> tuple[list[dict], list[str]]:
    """The JSON objects of a .jsonl file (or .jsonl.gz), one per line, and what was wrong with each line left out
    ("line 7: not JSON (a write cut short?)", "line 3: not UTF-8 text"): a torn write or junk is skipped, never
    fatal. PlotError when the path is not a readable file (a directory, a damaged gzip, no permission)."""
    if os.path.isdir(path):
        raise PlotError(f"{path} is a directory, not a log file")
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise PlotError(f"{path}: not readable ({getattr(e, 'strerror', None) or e})") from None
    rows, problems = [], []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problems.append(f"line {n}: not UTF-8 text")
            continue
        except ValueError:
            problems.append(f"line {n}: not JSON (a write cut short?)")
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            problems.append(f"line {n}: JSON {type(row).__name__}, not a row")
    return rows, problems


def skipped_note(path: str, problems: Sequence[str]) -> str:
    """The one line that says which lines of a log were skipped and why (at most three named)."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return f"note: {path}: skipped {len(problems)} unreadable line(s) ({shown})"


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory as read from disk.

    config: config.json ({} when absent); metrics: rows of metrics.jsonl; evals: rows of eval.jsonl ([] when
    absent); label: the name its lines carry; notes: what was tolerated while reading (printed by the CLI);
    absolutes: rows of absolute.jsonl (the absolute metric, `--absolute-episodes`; [] when absent).
    """

    path: str
    config: dict
    metrics: list[dict]
    evals: list[dict]
    label: str
    notes: tuple[str, ...] = ()
    absolutes: list[dict] = dataclasses.field(default_factory=list)

    @property
    def has_win_rate(self) -> bool:
        return any("win_rate" in r for r in self.metrics)

    @property
    def shows_schedule(self) -> bool:
        """η and α belong on the density figure: a context run (or one of unknown mode) whose penalty acts."""
        if not is_learned(self.config.get("dag", "context")):
            return False
        return any(isinstance(r.get("alpha"), (int, float)) and r["alpha"] > 0 for r in self.metrics)


def _point_key(row: dict) -> tuple:
    return tuple((row.get("sweep") or {}).items())


def split_sweep(run: Run) -> list[Run]:
    """A run directory of a sweep as one Run per sweep point (in the order of its rows; labels gain the point);
    a run without a sweep as itself."""
    keys = list(dict.fromkeys(_point_key(r) for r in run.metrics))
    if keys == [()]:
        return [run]
    return [dataclasses.replace(run, label=f"{run.label} {point_label(dict(key))}",
                                metrics=[r for r in run.metrics if _point_key(r) == key],
                                evals=[r for r in run.evals if _point_key(r) == key],
                                absolutes=[r for r in run.absolutes if _point_key(r) == key]) for key in keys]


def log_files(path: str, stem: str) -> list[str]:
    """RUN_DIR/<stem>.jsonl and, from a multi-host run, RUN_DIR/<stem>.p<I>.jsonl (process order); an archived run
    (`python -m jbn.archive`) has the single gzipped RUN_DIR/<stem>.jsonl.gz instead."""
    import glob
    import re

    extra = [p for p in glob.glob(os.path.join(path, f"{stem}.p*.jsonl"))
             if re.fullmatch(rf"{stem}\.p\d+\.jsonl", os.path.basename(p))]
    extra.sort(key=lambda p: int(os.path.basename(p)[len(stem) + 2:-len(".jsonl")]))
    main = os.path.join(path, f"{stem}.jsonl")  # a directory in its place is returned: read_jsonl names it
    if not os.path.exists(main) and not extra and os.path.isfile(main + ".gz"):
        return [main + ".gz"]
    return ([main] if os.path.exists(main) else []) + extra


def default_label(config: dict, fallback: str) -> str:
    """'<env> <dag>', plus 'gru' for a recurrent run, the annealing schedule for a context run that anneals and its
    initial edge probability where it is not 0.5; `fallback` without a config."""
    env, dag = config.get("env"), config.get("dag")
    if env is None or dag is None:
        return fallback
    label = f"{env} {dag}" + (" gru" if config.get("recurrent") == "gru" else "")
    anneal = config.get("anneal")
    if is_learned(dag) and anneal not in (None, "none"):
        label += f" (anneal {anneal})"
    if is_learned(dag) and config.get("edge_prior", 0.5) != 0.5:
        label += f" edge prior {config['edge_prior']:g}"
    return label


def read_config(config_path: str, error: type[Exception] = PlotError) -> dict:
    """A run's config.json as a dict ({} when absent); `error` with one line when it cannot be read as an object."""
    if not os.path.exists(config_path):
        return {}
    try:
        with open(config_path, "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise error(f"{config_path}: not readable ({e.strerror or e})") from None
    except ValueError as e:  # UnicodeDecodeError included
        raise error(f"{config_path}: not readable as JSON ({e})") from None
    if not isinstance(config, dict):
        raise error(f"{config_path}: not a JSON object")
    return config


def load_run(path: str, label: Optional[str] = None) -> Run:
    """Read a run directory. Raises PlotError when it or its metrics.jsonl is missing or holds no row."""
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.exists(path) else "does not exist"
        raise PlotError(f"run dir {path!r} {what}")
    metrics_paths = log_files(path, "metrics")
    if not metrics_paths:
        raise PlotError(f"run dir {path!r} has no metrics.jsonl")
    notes = []
    config_path = os.path.join(path, "config.json")
    config = read_config(config_path)
    if not os.path.exists(config_path):
        notes.append(f"note: {path}: no config.json; labelled by its directory name")
    metrics, evals, absolutes = [], [], []
    for rows, paths in ((metrics, metrics_paths), (evals, log_files(path, "eval")),
                        (absolutes, log_files(path, "absolute"))):
        for file in paths:
            read, problems = read_jsonl(file)
            rows.extend(read)
            if problems:
                notes.append(skipped_note(file, problems))
    if not metrics:
        raise PlotError(f"{metrics_paths[0]} holds no readable row")
    fallback = os.path.basename(os.path.normpath(path))
    return Run(path=path, config=config, metrics=metrics, evals=evals,
               label=label if label is not None else default_label(config, fallback), notes=tuple(notes),
               absolutes=absolutes)


class Curve(NamedTuple):
    """Mean over seeds at each x. x, mean, se: float [X]; n: int [X] (seeds with a finite value there)."""

    x: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    n: np.ndarray

    @property
    def has_data(self) -> bool:
        return bool(np.isfinite(self.mean).any())


def number(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def trailing_mean(y: np.ndarray, k: int) -> np.ndarray:
    """Mean of the finite values among y[i-k+1 .. i] for each i (fewer at the start); NaN where none is finite."""
    y = np.asarray(y, dtype=np.float64)
    if k <= 1 or y.size == 0:
        return y
    finite = np.isfinite(y)
    csum = np.concatenate([[0.0], np.cumsum(np.where(finite, y, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(finite)])
    hi = np.arange(1, y.size + 1)
    lo = np.maximum(hi - k, 0)
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), np.nan)


def curve(rows: Sequence[dict], x: str = X_KEY, y: str = "episode_return", smooth: int = 1,
          agent: Optional[int] = None) -> Curve:
    """Mean ± standard error over seeds of `y` against `x` (module docstring: alignment and smoothing).

    rows: dicts with "seed", `x` and `y`; rows without `y` are not measurements and are ignored, a null `y`
    is a measurement without a value (NaN). agent: take element `agent` of a per-agent list `y`.
    """
    by_seed: dict[object, dict[float, float]] = {}
    for r in rows:
        if y not in r or "seed" not in r or not isinstance(r.get(x), (int, float)):
            continue
        v = r[y]
        if agent is not None:
            v = v[agent] if isinstance(v, list) and agent < len(v) else None
        by_seed.setdefault(r["seed"], {})[r[x]] = number(v)  # a repeated x: the last row wins
    if not by_seed:
        empty = np.zeros(0)
        return Curve(empty, empty, empty, np.zeros(0, dtype=np.int64))
    series = []
    for points in by_seed.values():
        xs = sorted(points)
        series.append(dict(zip(xs, trailing_mean(np.array([points[v] for v in xs]), smooth))))
    common = sorted(set.intersection(*(set(s) for s in series)))
    ys = np.array([[s[v] for v in common] for s in series], dtype=np.float64).reshape(len(series), len(common))
    finite = np.isfinite(ys)
    n = finite.sum(axis=0)
    total = np.where(finite, ys, 0.0).sum(axis=0)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    sq = np.where(finite, (ys - mean) ** 2, 0.0).sum(axis=0)
    se = np.where(n > 1, np.sqrt(sq / np.maximum(n - 1, 1)) / np.sqrt(np.maximum(n, 1)), np.nan)
    return Curve(np.array(common, dtype=np.float64), mean, se, n.astype(np.int64))


# ---------------------------------------------------------------------------------------------------- figures as data


class Series(NamedTuple):
    """One line: its curve and how it is drawn (matplotlib colour and line style; band = shade ± s.e.)."""

    label: str
    curve: Curve
    color: str
    style: str = "-"
    band: bool = True
    marker: Optional[str] = None


class Panel(NamedTuple):
    title: str
    ylabel: str
    series: tuple[Series, ...]


def _color(i: int) -> str:
    return f"C{i % 10}"


def default_metric(runs: Sequence[Run]) -> Metric:
    """win_rate when any run logged it (SMAX), else return."""
    return "win_rate" if any(run.has_win_rate for run in runs) else "return"


def learning_curve_panels(runs: Sequence[Run], metric: Metric, smooth: int = 1) -> list[Panel]:
    """Fig. 4 top / Fig. 6: one series per run (colour C<i> for the i-th run) of metrics.jsonl's `metric`."""
    key = METRIC_KEYS[metric]
    series = []
    for i, run in enumerate(runs):
        c = curve(run.metrics, X_KEY, key, smooth)
        if c.has_data:
            series.append(Series(run.label, c, _color(i)))
    return [Panel(METRIC_LABELS[metric], METRIC_LABELS[metric], tuple(series))] if series else []


def density_panels(runs: Sequence[Run], smooth: int = 1) -> list[Panel]:
    """Fig. 4 bottom / Fig. 6 black lines: ρ(G) per run; η (dashed) and α (dotted) where `shows_schedule`."""
    series = []
    for i, run in enumerate(runs):
        c = curve(run.metrics, X_KEY, "dag_density", smooth)
        if not c.has_data:
            continue
        series.append(Series(run.label, c, _color(i)))
        if run.shows_schedule:
            for key, sym, style in (("eta", "η", "--"), ("alpha", "α", ":")):
                s = curve(run.metrics, X_KEY, key)
                if s.has_data:
                    series.append(Series(f"{run.label} {sym}", s, _color(i), style, band=False))
    return [Panel("DAG density ρ(G)", "DAG density ρ(G); η, α", tuple(series))] if series else []


def _eval_rows(run: Run, policy: str, greedy: bool) -> list[dict]:
    return [r for r in run.evals if r.get("policy") == policy and bool(r.get("greedy", False)) == greedy]


def eval_panels(runs: Sequence[Run], metric: Metric) -> list[Panel]:
    """Fig. 6: joint (solid) vs decentralised (dashed) eval curves per run; one panel per sampling present.

    eval.jsonl has return and, on SMAX, win_rate; `metric` win_rate uses win_rate, any other metric return.
    """
    key, ylabel = ("win_rate", "eval win rate") if metric == "win_rate" else ("return", "eval return")
    panels = []
    for greedy, name in ((False, "sampled actions"), (True, "greedy actions")):
        series = []
        for i, run in enumerate(runs):
            for policy, style in (("joint", "-"), ("decentralized", "--")):
                c = curve(_eval_rows(run, policy, greedy), X_KEY, key)
                if c.has_data:
                    series.append(Series(f"{run.label} {policy}", c, _color(i), style, marker="o"))
        if series:
            panels.append(Panel(f"joint vs decentralized ({name})", ylabel, tuple(series)))
    return panels


def analysis_panels(runs: Sequence[Run], key: str, per_agent: bool, ylabel: str) -> list[Panel]:
    """Fig. 7-10 from the joint, sampled eval rows. Per agent: one panel per run, one series per agent
    ("agent 1" .. "agent N", 1-based as in the paper). Otherwise one panel, one series per run."""
    if not per_agent:
        series = []
        for i, run in enumerate(runs):
            c = curve(_eval_rows(run, "joint", False), X_KEY, key)
            if c.has_data:
                series.append(Series(run.label, c, _color(i), marker="o"))
        return [Panel(ylabel, ylabel, tuple(series))] if series else []
    panels = []
    for run in runs:
        rows = _eval_rows(run, "joint", False)
        num_agents = max((len(r[key]) for r in rows if isinstance(r.get(key), list)), default=0)
        series = []
        for a in range(num_agents):
            c = curve(rows, X_KEY, key, agent=a)
            if c.has_data:
                series.append(Series(f"agent {a + 1}", c, _color(a), "-" if a < 10 else "--", marker="o"))
        if series:
            panels.append(Panel(run.label, ylabel, tuple(series)))
    return panels


# ---------------------------------------------------------------------------------------------------- drawing, CSV


def draw(panels: Sequence[Panel], title: str = "", xlabel: str = X_LABEL):
    """A matplotlib Figure (Agg canvas, not registered with pyplot): one subplot per panel, up to 3 a row.
    Each series is one Line2D (label = series label, y = mean) and, if banded, a shaded mean ± s.e."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    cols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.4 * cols, 3.9 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for s in panel.series:
            c = s.curve
            ax.plot(c.x, c.mean, linestyle=s.style, color=s.color, label=s.label, marker=s.marker, markersize=3)
            if s.band:
                ax.fill_between(c.x, c.mean - c.se, c.mean + c.se, color=s.color, alpha=0.2, linewidth=0)
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 200k, 1M: no run-together tick labels
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _fmt(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def write_csv(path: str, panels: Sequence[Panel]) -> None:
    """The plotted numbers, one row per point: panel, series, x, mean, se, n ("nan" where undefined)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["panel", "series", "x", "mean", "se", "n"])
        for panel in panels:
            for s in panel.series:
                c = s.curve
                for x, m, se, n in zip(c.x, c.mean, c.se, c.n):
                    w.writerow([panel.title, s.label, _fmt(x), _fmt(m), _fmt(se), int(n)])


# ---------------------------------------------------------------------------------------------------- CLI


def truncate(run: Run, until: float) -> Run:
    """The run as it stood at `until` env steps per seed: rows logged later are dropped."""
    keep = lambda rows: [r for r in rows if isinstance(r.get("env_steps"), (int, float)) and r["env_steps"] <= until]  # noqa: E731
    return dataclasses.replace(run, metrics=keep(run.metrics), evals=keep(run.evals), absolutes=keep(run.absolutes))


def load_runs_until(run_dirs: Sequence[str], labels: Optional[Sequence[str]], until: Optional[float]) -> list[Run]:
    """load_run of every directory, cut at `until` env steps per seed when given (PlotError when nothing is left)."""
    if until is not None and not until > 0:
        raise PlotError(f"--until {until} must be > 0 (env steps per seed)")
    runs = [load_run(d, None if labels is None else labels[i]) for i, d in enumerate(run_dirs)]
    if until is not None:
        runs = [truncate(r, until) for r in runs]
        empty = [r.path for r in runs if not r.metrics]
        if empty:
            raise PlotError(f"--until {until:g}: no metrics row at or before it in {', '.join(empty)}")
    return runs


def make_figures(run_dirs: Sequence[str], out: str, metric: Optional[Metric] = None, smooth: int = 1,
                 labels: Optional[Sequence[str]] = None, echo: Callable[[str], None] = print,
                 ylim: Optional[Sequence[float]] = None, until: Optional[float] = None) -> list[str]:
    """Read the runs, write every figure that has data (PNG + CSV) into `out`; the written paths.

    Raises PlotError on bad input before anything is written.
    """
    if not run_dirs:
        raise PlotError("no run directory given")
    if smooth < 1:
        raise PlotError(f"--smooth {smooth} must be >= 1 (1 = no smoothing)")
    if ylim is not None and (len(ylim) != 2 or not ylim[0] < ylim[1]):
        raise PlotError(f"--ylim needs LOW HIGH with LOW < HIGH, got {list(ylim)}")
    if labels is not None:
        if len(labels) != len(run_dirs):
            raise PlotError(f"--labels has {len(labels)} label(s) for {len(run_dirs)} run dir(s)")
        if len(set(labels)) != len(labels):
            raise PlotError(f"--labels must be distinct, got {list(labels)}")
    runs = load_runs_until(run_dirs, labels, until)
    if labels is None:  # the same env and dag twice: tell them apart by directory name
        counts = {}
        for run in runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        runs = [dataclasses.replace(r, label=f"{r.label} [{os.path.basename(os.path.normpath(r.path))}]")
                if counts[r.label] > 1 else r for r in runs]
    if metric is None:
        metric = default_metric(runs)
    elif metric == "win_rate" and not any(r.has_win_rate for r in runs):
        raise PlotError("--metric win_rate: no run logged win_rate (SMAX only); use --metric return")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise PlotError(f"--out {out!r}: cannot create it ({e.strerror})") from None
    for run in runs:
        for note in run.notes:
            echo(note)
        if metric == "win_rate" and not run.has_win_rate:
            echo(f"note: {run.label}: no win_rate in metrics.jsonl; left out of learning_curves.png")
    runs = [point for run in runs for point in split_sweep(run)]  # a sweep: one line per point

    have_evals = any(run.evals for run in runs)
    figures = [
        ("learning_curves", "learning curves (Fig. 4 top, Fig. 6)", learning_curve_panels(runs, metric, smooth),
         f"no run has a finite {METRIC_KEYS[metric]}"),
        ("dag_density", "DAG density (Fig. 4 bottom, Fig. 6); dashed η, dotted α", density_panels(runs, smooth),
         "no run has a finite dag_density"),
        ("eval_joint_vs_decentralized", "evaluation: joint vs decentralized (Fig. 6)", eval_panels(runs, metric),
         "no eval.jsonl rows" if not have_evals else "no eval rows with a value"),
    ]
    for stem, key, per_agent, ylabel, title in ANALYSES:
        figures.append((stem, title, analysis_panels(runs, key, per_agent, ylabel),
                        "no eval.jsonl rows" if not have_evals else f"no {key} in eval.jsonl"))
    written = []
    for stem, title, panels, why_not in figures:
        if not panels:
            echo(f"skipped {stem}.png: {why_not}")
            continue
        png, table = os.path.join(out, f"{stem}.png"), os.path.join(out, f"{stem}.csv")
        fig = draw(panels, title)
        if ylim is not None and stem in ("learning_curves", "eval_joint_vs_decentralized"):
            for ax in fig.axes:
                ax.set_ylim(*ylim)
        fig.savefig(png, dpi=120)
        write_csv(table, panels)
        for path in (png, table):
            echo(path)
            written.append(path)
    return written


@dataclasses.dataclass(frozen=True)
class PlotArgs:
    run_dirs: tyro.conf.Positional[Annotated[tuple[str, ...], tyro.conf.arg(metavar="RUN_DIR...")]]
    """run directories written by `python -m jbn.train` (config.json, metrics.jsonl, optional eval.jsonl)"""
    out: Annotated[str, tyro.conf.arg(metavar="DIR")]
    """output directory for the PNGs and their CSVs (created if missing)"""
    metric: Optional[Metric] = None
    """learning-curve quantity; default win_rate when a run logged it (SMAX), else return"""
    smooth: int = 1
    """trailing moving average over K updates of each seed's metrics.jsonl curves; 1 = as logged"""
    labels: Optional[tuple[str, ...]] = None
    """one label per run dir, in order (default '<env> <dag>' plus the annealing schedule of a context run)"""
    ylim: Optional[tuple[float, float]] = None
    """LOW HIGH: y range of the learning-curve and evaluation figures (the CSVs keep every point)"""
    until: Optional[float] = None
    """draw every run as it stood at this many env steps per seed (rows logged later are left out)"""


def main(argv=None) -> None:
    args = parse(PlotArgs, argv, prog="python -m jbn.plot", description=__doc__.split("\n\n")[0])
    try:
        problem = output_dir_problem(args.out, "--out", "the figures and their CSVs (learning_curves.png, ...)")
        if problem:
            raise PlotError(problem)
        try:
            make_figures(args.run_dirs, args.out, args.metric, args.smooth, args.labels, ylim=args.ylim,
                         until=args.until)
        except OSError as e:  # a folder that cannot be written (read-only, a directory where a figure goes)
            raise PlotError(f"--out {args.out!r}: cannot write into it ({e.strerror or e})") from None
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
