"""What a training run shows and writes, host side only: progress, metrics.jsonl, eval.jsonl, TensorBoard.

    with RunLogger(run_dir, cfg, has_win=..., learns_dag=..., start_update=U) as log:
        log.chunk(metrics, seconds)      # after each compiled chunk: rows + progress
        log.evaluation(rows)             # periodic evaluation rows (jbn.evaluate)

On a terminal the progress is a rich bar over env steps with ETA, SPS, return, win rate, DAG density, η and α;
when stderr is not a terminal (CI, `| tee`, a log file) it is one plain line per chunk, under 80 columns.
metrics.jsonl rows are built from the fields of `jbn.training.trainer.Metrics` itself (nested NamedTuples flattened as
loss_policy, ...), so a new metric needs no change here. TensorBoard event files (tensorboardX) go to
RUN_DIR/tb/seed_<k>, one TensorBoard run per seed (RUN_DIR/tb/<sweep point>/seed_<k> in a sweep).

Every row carries its run's tags (`jbn.training.sweep.RunTag.tags`): the seed and, in a sweep, {"sweep": {name: value}}.
With several processes (multi-host) each writes only the runs it owns, to metrics.p<I>.jsonl / eval.p<I>.jsonl
(process 0 to the usual names), so no two processes append to one file; `jbn.plot` reads them all.
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ..training import sweep


def _fields(x, prefix=""):
    """(name, value) of a NamedTuple's fields, nested NamedTuples flattened to prefix_name."""
    for name, value in x._asdict().items():
        if hasattr(value, "_asdict"):
            yield from _fields(value, f"{prefix}{name}_")
        else:
            yield f"{prefix}{name}", value


def _json_number(v):
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    f = float(v)
    return f if math.isfinite(f) else None


def log_file(run_dir: str, stem: str, process: int = 0) -> str:
    """RUN_DIR/<stem>.jsonl for process 0 (and single-process runs), RUN_DIR/<stem>.p<I>.jsonl for process I."""
    return os.path.join(run_dir, f"{stem}.jsonl" if process == 0 else f"{stem}.p{process}.jsonl")


def metrics_rows(metrics, first_seed: int, has_win: bool, *, runs=None, only=None, **extra) -> list[dict]:
    """One JSON-ready dict per run and update of a chunk's metrics ([runs, K] leaves); NaN -> None.
    Envs without wins (CG, Aloha) have no win_rate field. runs: the `RunTag`s of the batch (their tags start
    each row); without them run s is seed first_seed + s. only: the run indices to write (default all)."""
    cols = {name: np.asarray(v) for name, v in _fields(metrics)}
    if not has_win:
        cols.pop("win_rate", None)
    num_runs, k = cols["update"].shape
    rows = []
    for s in range(num_runs):
        if only is not None and s not in only:
            continue
        for i in range(k):
            row = dict(runs[s].tags) if runs is not None else {"seed": first_seed + s}
            row.update({name: _json_number(a[s, i]) for name, a in cols.items()})
            rows.append({**row, **extra})
    return rows


def chunk_summary(metrics, has_win: bool) -> dict:
    """Means over seeds of the last update of a chunk (NaN-aware; NaN -> None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        last = lambda x: np.asarray(x)[:, -1]  # noqa: E731
        out = {
            "update": int(last(metrics.update)[0]),
            "env_steps": int(last(metrics.env_steps)[0]),
            "episode_return": float(np.nanmean(last(metrics.episode_return))),
            "win_rate": float(np.nanmean(last(metrics.win_rate))),
            "reward_per_step": float(np.mean(last(metrics.reward_per_step))),
            "dag_density": float(np.mean(last(metrics.dag_density))),
            "eta": float(last(metrics.eta)[0]),
            "alpha": float(last(metrics.alpha)[0]),
            "entropy": float(np.mean(last(metrics.loss.entropy))),
        }
    if not has_win:
        del out["win_rate"]
    return {k: _json_number(v) if isinstance(v, float) else v for k, v in out.items()}


def _short(n: float) -> str:
    """1234567 -> '1.23M' (env steps and SPS in a narrow line)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= 0.9995 * div:  # 999,680 -> '1M', not '1e+03k'
            return f"{n / div:.3g}{suffix}"
    return f"{n:.0f}"


def _eta_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def append_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


class RunLogger:
    """Progress, metrics.jsonl, eval.jsonl and TensorBoard of one run (see the module docstring)."""

    def __init__(self, run_dir: str, cfg, *, has_win: bool, learns_dag: bool, start_update: int = 0,
                 console: Console | None = None, runs=None, only=None, process: int = 0):
        """runs: the batch's `jbn.training.sweep.RunTag`s (default: those of cfg); only: the indices of the runs this
        process writes (default all); process: this process's index (names its files)."""
        self.run_dir, self.cfg = run_dir, cfg
        self.has_win, self.learns_dag = has_win, learns_dag
        self.console = console or Console(stderr=True)
        self.runs = list(sweep.runs(cfg) if runs is None else runs)
        self.only = set(range(len(self.runs)) if only is None else only)
        self._by_tags = {self._key(r.tags): r.index for r in self.runs}
        self.metrics_path = log_file(run_dir, "metrics", process)
        self.eval_path = log_file(run_dir, "eval", process)
        self.absolute_path = log_file(run_dir, "absolute", process)
        self.steps_per_update = cfg.batch_size
        self.total_steps = cfg.num_updates * cfg.batch_size
        self.start_steps = start_update * cfg.batch_size
        self.t_start = time.monotonic()
        self.last: dict = {}
        self.last_metrics = None  # the last chunk's metrics (every run's), for per-sweep-point summaries
        self._progress = None
        self._task = None
        self._writers = {}
        if getattr(cfg, "tensorboard", False):
            from tensorboardX import SummaryWriter

            self._writers = {r.index: SummaryWriter(os.path.join(run_dir, "tb", r.name))
                             for r in self.runs if r.index in self.only}

    # ---- context
    def __enter__(self):
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), TaskProgressColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"), TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"), console=self.console, transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.cfg.env, total=self.total_steps, completed=self.start_steps,
                                                 stats="compiled; first chunk running")
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def print(self, text: str) -> None:
        """A message above the progress bar (or a plain line); never wrapped."""
        self.console.print(text, soft_wrap=True, highlight=False)

    # ---- chunks
    def stats_text(self, s: dict) -> str:
        parts = [f"ret {s['episode_return']:.3g}" if s.get("episode_return") is not None else "ret -"]
        if self.has_win:
            parts.append(f"win {s['win_rate']:.2f}" if s.get("win_rate") is not None else "win -")
        parts.append(f"ρ {s['dag_density']:.2f}")
        if self.learns_dag:
            parts.append(f"η {s['eta']:.2f} α {s['alpha']:.2f}")
        return " ".join(parts)

    @staticmethod
    def _key(tags: dict):
        return tags.get("seed"), tuple(sorted((tags.get("sweep") or {}).items()))

    def _index(self, row) -> int | None:
        """The index of the run a row belongs to, from its tags."""
        return self._by_tags.get(self._key(row))

    def _writer(self, row):
        """The TensorBoard writer of the run a row belongs to (None without TensorBoard)."""
        return self._writers.get(self._index(row)) if self._writers else None

    def chunk(self, metrics, seconds: float) -> dict:
        """Log one chunk's metrics ([runs, K] leaves, every run's) that took `seconds`; returns its summary."""
        num_runs, k = np.asarray(metrics.update).shape
        sps = k * self.steps_per_update * num_runs / max(seconds, 1e-9)
        rows = metrics_rows(metrics, self.cfg.seed, self.has_win, runs=self.runs, only=self.only, sps=sps)
        append_jsonl(self.metrics_path, rows)
        for row in rows:
            w = self._writer(row)
            if w is not None:
                for k, v in row.items():
                    if k not in ("seed", "sweep", "update", "env_steps") and v is not None:
                        w.add_scalar(f"train/{k}", v, row["env_steps"])
        s = chunk_summary(metrics, self.has_win)
        self.last = {**s, "sps": sps}
        self.last_metrics = metrics
        stats = f"{_short(sps)} sps " + self.stats_text(s)
        if self._progress is not None:
            self._progress.update(self._task, completed=s["env_steps"], stats=stats)
        else:
            frac = s["env_steps"] / self.total_steps
            done_here = s["env_steps"] - self.start_steps
            elapsed = time.monotonic() - self.t_start
            remaining = (self.total_steps - s["env_steps"]) * elapsed / done_here if done_here > 0 else float("nan")
            self.print(f"{frac:4.0%} {_short(s['env_steps'])}/{_short(self.total_steps)} ETA "
                       f"{_eta_text(remaining)} {stats}")
        return self.last

    # ---- evaluations
    def evaluation(self, rows: list[dict]) -> None:
        """Append the evaluation rows (jbn.evaluate; every run's) of this process's runs to eval.jsonl and
        TensorBoard; print a one-line digest over all runs."""
        if not rows:
            return
        mine = [row for row in rows if self._index(row) in self.only]
        append_jsonl(self.eval_path, mine)
        for row in mine:
            w = self._writer(row)
            if w is None:
                continue
            tag = f"eval/{row.get('policy', 'joint')}_{'greedy' if row.get('greedy') else 'sampled'}"
            for k in ("return", "win_rate", "length"):
                if row.get(k) is not None:
                    w.add_scalar(f"{tag}/{k}", row[k], row["env_steps"])
        self.print(self.eval_digest(rows))

    def absolute(self, rows: list[dict]) -> None:
        """Append the absolute-metric rows (the final parameters over --absolute-episodes episodes) of this
        process's runs to absolute.jsonl; print their digest."""
        mine = [row for row in rows if self._index(row) in self.only]
        append_jsonl(self.absolute_path, mine)
        self.print(f"absolute metric over {rows[0]['episodes']} episodes: " + self.eval_digest(rows))

    def eval_digest(self, rows: list[dict]) -> str:
        """'eval @1.2M joint 1.93/0.97 dec 1.90/0.95' : mean over runs of sampled return[/win rate]."""
        out = [f"eval @{_short(rows[0]['env_steps'])}"]
        for policy, name in (("joint", "joint"), ("decentralized", "dec")):
            sel = [r for r in rows if r.get("policy") == policy and not r.get("greedy")]
            if not sel:
                continue
            text = f"{name} {np.mean([r['return'] for r in sel]):.3g}"
            if self.has_win:
                text += f"/{np.mean([r['win_rate'] for r in sel]):.2f}"
            out.append(text)
        return " ".join(out)
