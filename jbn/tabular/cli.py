"""The Figure-3 run: config, the loop over (N, DAG) with a progress bar, results.json and the table.

    python -m jbn.tabular --n-agents 2 3 5 --dags none line full --seeds 50 --iters 2000 --lr 0.01 \\
        --out results.json --plot fig3.png
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from envs_jax.coordination_game import DEFAULT_DIFFERENCE_BOUNDS
from jbn.tabular.exact import Mu, check_mu
from jbn.tabular.game_tables import TabularGame, coordination_game
from jbn.tabular.plot import plot_fig3
from jbn.tabular.policy import DAG_CHOICES, named_layout
from jbn.tabular.runner import RunResult, record_schedule, run_seeds


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """Exact tabular softmax BN policy gradient on the Coordination Game (paper §7.3, Figure 3)."""

    n_agents: tuple[int, ...] = (2, 3, 5)
    """Numbers of agents N; each needs a Coordination-Game difference bound (2, 3, 5, 10). N = 10 runs
    through factorised tables but costs ~20 GFLOP per seed and iteration: only a few seeds/iterations."""
    dags: tuple[str, ...] = DAG_CHOICES
    """Fixed DAGs: none (Uncorrelated), line (i-1 -> i), full (j -> i for all j < i)."""
    seeds: int = 50
    """Random initialisations per (N, DAG), all in one jit via vmap."""
    iters: int = 2000
    """Gradient-ascent iterations."""
    lr: float = 0.01
    """Learning rate η of θ <- θ + η ∇_θ V_θ(μ)."""
    mu: Mu = "uniform"
    """Initial distribution μ of the ascent's objective V_θ(μ): uniform (the paper: mean over the 2^N
    states) or sum (the authors' tabular code: sum over the states, so the gradient and the effective step
    are 2^N times larger). POA and Nash-gap are reported for uniform μ either way."""
    eval_every: int = 10
    """POA and Nash-gap are recorded at iterations 0, k, 2k, ..., iters."""
    init_scale: float = 1.0
    """θ ~ init_scale · N(0, 1) at initialisation."""
    seed: int = 0
    """Master seed; seed b of a run draws from default_rng([seed, b])."""
    out: str = "results.json"
    """Path of the results (a list of records, one per (N, DAG))."""
    plot: str = "fig3.png"
    """Path of the Figure-3 PNG ("" for none)."""

    def __post_init__(self):
        valid_n = sorted(DEFAULT_DIFFERENCE_BOUNDS)
        if not self.n_agents:
            raise ValueError(f"n_agents is empty; choose from {valid_n}")
        for n in self.n_agents:
            if n not in DEFAULT_DIFFERENCE_BOUNDS:
                raise ValueError(
                    f"n_agents={n!r} has no Coordination-Game difference bound (Algorithm 1); valid: {valid_n}"
                )
        if len(set(self.n_agents)) != len(self.n_agents):
            raise ValueError(f"n_agents={list(self.n_agents)} repeats a value")
        if not self.dags:
            raise ValueError(f"dags is empty; choose from {list(DAG_CHOICES)}")
        for d in self.dags:
            if d not in DAG_CHOICES:
                raise ValueError(f"unknown dag {d!r}; valid choices: {', '.join(DAG_CHOICES)}")
        if len(set(self.dags)) != len(self.dags):
            raise ValueError(f"dags={list(self.dags)} repeats a value")
        check_mu(self.mu)
        for name in ("seeds", "iters", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
        for name in ("lr", "init_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name}={v!r} must be a positive finite number")
        for name in ("out", "plot"):  # fail now, not after minutes of training
            path = getattr(self, name)
            folder = os.path.dirname(os.path.abspath(path))
            if path and not os.path.isdir(folder):
                raise ValueError(f"{name}={path!r}: directory {folder!r} does not exist")


def _stderr(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean over axis 0 (0 for a single seed)."""
    n = x.shape[0]
    return x.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(x.shape[1:])


def summarise(n_agents: int, dag: str, game: TabularGame, result: RunResult, mu: Mu = "uniform") -> dict:
    """One results.json record (issue 4 format, plus the μ of the ascent's objective)."""
    poa, gap = result.metrics.poa, result.metrics.nash_gap  # [B, R]
    return {
        "n_agents": n_agents,
        "dag": dag,
        "v_opt": game.v_opt,
        "iters": [int(t) for t in result.iters],
        "poa_mean": poa.mean(0).tolist(),
        "poa_stderr": _stderr(poa).tolist(),
        "nash_gap_mean": gap.mean(0).tolist(),
        "nash_gap_stderr": _stderr(gap).tolist(),
        "final_poa": poa[:, -1].tolist(),
        "final_nash_gap": gap[:, -1].tolist(),
        "mu": mu,
    }


def run(cfg: TabularConfig, console=None) -> list[dict]:
    """All (N, DAG) combinations of `cfg`, with a rich progress bar; writes cfg.out and cfg.plot."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = console or Console()
    combos = [(n, d) for n in cfg.n_agents for d in cfg.dags]
    n_records = len(record_schedule(cfg.iters, cfg.eval_every)[0])
    num_chunks = min(10, n_records)
    chunks_per_combo = math.ceil(n_records / math.ceil(n_records / num_chunks))
    records, timings = [], []
    t_start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("start", total=len(combos) * chunks_per_combo)
        for n, d in combos:
            game = coordination_game(n)
            layout = named_layout(d, n)
            tag = f"N={n} {d:<4}"
            progress.update(task, description=f"{tag} compiling")

            def on_chunk(c, it, m, tag=tag):
                text = f"{tag} iter {it:>5}/{cfg.iters}  POA {m.poa[:, -1].mean():.3f}  gap {m.nash_gap[:, -1].mean():.3g}"
                progress.update(task, advance=1, description=text)
                if not console.is_terminal:  # piped: rich draws no bar, so say it in plain lines
                    elapsed = time.perf_counter() - t_start
                    console.print(f"[{progress.tasks[0].completed:.0f}/{progress.tasks[0].total:.0f}] {text} "
                                  f"({elapsed:.0f} s)", soft_wrap=True, highlight=False)

            res = run_seeds(
                game, layout, cfg.seed, cfg.seeds, cfg.iters, cfg.lr, cfg.eval_every,
                cfg.init_scale, mu=cfg.mu, num_chunks=num_chunks, on_chunk=on_chunk,
                on_compiled=lambda tag=tag: progress.update(task, description=f"{tag} running"),
            )
            records.append(summarise(n, d, game, res, cfg.mu))
            timings.append((n, d, res.compile_s, res.run_s))
    total_s = time.perf_counter() - t_start

    with open(cfg.out, "w") as f:
        json.dump(records, f)
    if cfg.plot:
        plot_fig3(records, cfg.plot)

    title = f"{cfg.seeds} seeds x {cfg.iters} iterations, lr {cfg.lr}"
    if cfg.mu != "uniform":
        title += f", μ {cfg.mu} (effective step lr·2^N)"
    table = Table(title=title + " (mean ± stderr at the end)")
    for col in ("N", "DAG", "final POA", "final Nash-gap", "compile s", "run s"):
        table.add_column(col, justify="right")
    for r, (_, _, c_s, r_s) in zip(records, timings):
        p, g = np.asarray(r["final_poa"]), np.asarray(r["final_nash_gap"])
        sp, sg = _stderr(p[:, None])[0], _stderr(g[:, None])[0]
        table.add_row(str(r["n_agents"]), r["dag"], f"{p.mean():.4f} ± {sp:.4f}", f"{g.mean():.4f} ± {sg:.4f}",
                      f"{c_s:.1f}", f"{r_s:.1f}")
    console.print(table)
    wrote = cfg.out + (f" and {cfg.plot}" if cfg.plot else "")
    console.print(f"total {total_s:.1f} s (compile included); wrote {wrote}")
    return records


def main(argv: Sequence[str] | None = None) -> list[dict]:
    import tyro

    try:
        cfg = tyro.cli(TabularConfig, args=argv, prog="python -m jbn.tabular")
    except ValueError as e:  # from __post_init__, before anything is compiled (tyro usually reports it itself)
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return run(cfg)

