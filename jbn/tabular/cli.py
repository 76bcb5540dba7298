"""The Figure-3 run: config, the loop over (N, DAG) with a progress bar, results.json and the table; and the
same exact machinery on one-shot matrix games (Climbing, Penalty-k, any payoff table), one record per (game, DAG).

    python -m jbn.tabular --n-agents 2 3 5 --dags none line full --seeds 50 --iters 2000 --lr 0.01 \\
        --out results.json --plot fig3.png
    python -m jbn.tabular --game climbing penalty --penalty-k -100 --seeds 50 --iters 1000000 --log-records 120 \\
        --out docs/tabular_matrix.json --plot docs/tabular_matrix.png
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from envs_jax.coordination_game import DEFAULT_DIFFERENCE_BOUNDS
from jbn.tabular.exact import Mu, check_mu
from jbn.tabular.game_tables import TabularGame, coordination_game
from jbn.tabular.matrix_exact import final_outcomes
from jbn.tabular.matrix_tables import (
    MATRIX_GAMES,
    MatrixGame,
    check_game_spec,
    check_penalty_k,
    load_game,
    load_payoff_json,
    pure_nash_equilibria,
)
from jbn.tabular.plot import plot_fig3, plot_matrix
from jbn.tabular.policy import DAG_CHOICES, BNLayout, named_layout
from jbn.tabular.runner import RunResult, record_schedule, run_seeds

GAME_CHOICES = ("coordination", *MATRIX_GAMES)


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """Exact tabular softmax BN policy gradient on the Coordination Game (paper §7.3, Figure 3) or on one-shot
    matrix games."""

    game: tuple[str, ...] = ("coordination",)
    """Games: coordination (the paper's Coordination Game, N from --n-agents), or one-shot matrix games:
    climbing, penalty (k from --penalty-k), PATH.json (a joint payoff table [A_1, ..., A_N] as a nested list,
    or {"payoff": ..., "name": ...}). coordination runs alone."""
    payoff: str = ""
    """A matrix game given inline as JSON, e.g. '[[10, 0], [0, 5]]' ([A_1, ..., A_N], N agents); runs it
    instead of --game."""
    penalty_k: float = -100.0
    """The Penalty game's miscoordination payoff k <= 0 (Claus & Boutilier 1998)."""
    opt_tol: float = 0.01
    """Matrix games: a seed is at the optimum when its expected return >= (1 − opt_tol) · max payoff."""
    n_agents: tuple[int, ...] = (2, 3, 5)
    """Coordination Game: numbers of agents N; each needs a difference bound (2, 3, 5, 10). N = 10 runs
    through factorised tables but costs ~20 GFLOP per seed and iteration: only a few seeds/iterations.
    Matrix games take N from their payoff table."""
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
    log_records: int = 0
    """If > 0, record instead at iteration 0 and about this many log-spaced iterations in [1, iters]."""
    init_scale: float = 1.0
    """θ ~ init_scale · N(0, 1) at initialisation."""
    tied_init: bool = False
    """Give all parent configurations of an agent the same initial logits, so every DAG starts seed b from the
    joint policy that none starts from (a paired comparison of DAGs)."""
    seed: int = 0
    """Master seed; seed b of a run draws from default_rng([seed, b])."""
    out: str = "results.json"
    """Path of the results (a list of records, one per (N, DAG))."""
    plot: str = "fig3.png"
    """Path of the Figure-3 PNG ("" for none)."""

    def __post_init__(self):
        self._check_games()
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
        if isinstance(self.log_records, bool) or not isinstance(self.log_records, (int, np.integer)) \
                or self.log_records < 0:
            raise ValueError(f"log_records={self.log_records!r} must be an integer >= 0")
        if not (isinstance(self.opt_tol, (int, float)) and 0 < self.opt_tol < 1):
            raise ValueError(f"opt_tol={self.opt_tol!r} must be in (0, 1)")
        for name in ("out", "plot"):  # fail now, not after minutes of training
            path = getattr(self, name)
            folder = os.path.dirname(os.path.abspath(path))
            if path and not os.path.isdir(folder):
                raise ValueError(f"{name}={path!r}: directory {folder!r} does not exist")


    def _check_games(self) -> None:
        """Names, files and inline tables, loaded and checked now: a bad one fails before anything compiles."""
        if not self.game:
            raise ValueError(f"game is empty; choose from {', '.join(GAME_CHOICES)} or a PATH.json payoff table")
        for g in self.game:
            check_game_spec(g, GAME_CHOICES)
        if len(set(self.game)) != len(self.game):
            raise ValueError(f"game={list(self.game)} repeats a value")
        if "coordination" in self.game and len(self.game) > 1:
            raise ValueError(f"game={list(self.game)}: coordination runs alone (its records and figure differ "
                             "from the matrix games')")
        if self.payoff and self.game != ("coordination",):
            raise ValueError(f"payoff={self.payoff!r} and game={list(self.game)}: give one of --payoff, --game")
        check_penalty_k(self.penalty_k)
        for g in self.game:
            if g not in GAME_CHOICES:
                load_game(g)  # the file's table, checked
        if self.payoff:
            load_payoff_json(self.payoff, "--payoff")

    @property
    def is_matrix(self) -> bool:
        return bool(self.payoff) or self.game != ("coordination",)

    def matrix_games(self) -> list[MatrixGame]:
        if self.payoff:
            return [load_payoff_json(self.payoff, "payoff")]
        return [load_game(g, self.penalty_k) for g in self.game]


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


def summarise_matrix(game: MatrixGame, dag: str, result: RunResult, cfg: TabularConfig) -> dict:
    """One record of a matrix-game run: the curves of `summarise` plus the expected return, the fraction of
    seeds at the optimum, and where each seed ends (its most probable joint action)."""
    poa, gap = result.metrics.poa, result.metrics.nash_gap  # [B, R]
    ret = result.metrics.value
    at_opt = poa >= 1.0 - cfg.opt_tol
    layout = named_layout(dag, game.num_agents, game.payoff.shape)
    actions, probs = final_outcomes(result.theta, game, layout)
    nash = set(pure_nash_equilibria(game.payoff))
    outcomes = []
    for a in sorted(set(map(tuple, actions.tolist()))):
        hit = np.all(actions == a, axis=1)
        outcomes.append({
            "joint_action": list(a), "payoff": float(game.payoff[a]), "count": int(hit.sum()),
            "optimal": float(game.payoff[a]) == game.v_opt, "pure_nash": a in nash,
            "mean_prob": float(probs[hit].mean()), "max_nash_gap": float(gap[hit, -1].max()),
        })
    outcomes.sort(key=lambda o: -o["count"])
    return {
        "game": game.name,
        "payoff": game.payoff.tolist(),
        "n_agents": game.num_agents,
        "dag": dag,
        "v_opt": game.v_opt,
        "opt_actions": [list(a) for a in game.opt_actions],
        "pure_nash": [list(a) for a in sorted(nash)],
        "seeds": int(poa.shape[0]),
        "lr": cfg.lr,
        "init_scale": cfg.init_scale,
        "tied_init": cfg.tied_init,
        "opt_tol": cfg.opt_tol,
        "iters": [int(t) for t in result.iters],
        "poa_mean": poa.mean(0).tolist(),
        "poa_stderr": _stderr(poa).tolist(),
        "nash_gap_mean": gap.mean(0).tolist(),
        "nash_gap_stderr": _stderr(gap).tolist(),
        "return_mean": ret.mean(0).tolist(),
        "return_stderr": _stderr(ret).tolist(),
        "optimal_fraction": at_opt.mean(0).tolist(),
        "final_poa": poa[:, -1].tolist(),
        "final_nash_gap": gap[:, -1].tolist(),
        "final_return": ret[:, -1].tolist(),
        "n_optimal": int(at_opt[:, -1].sum()),
        "final_joint_action": actions.tolist(),
        "final_joint_prob": probs.tolist(),
        "outcomes": outcomes,
    }


class _Job(NamedTuple):
    tag: str  # the progress bar's label
    game: TabularGame | MatrixGame
    dag: str
    layout: BNLayout


def _run_jobs(cfg: TabularConfig, jobs: list[_Job], console) -> tuple[list[RunResult], float]:
    """Each job's seeds in one jit, chunked, with a rich progress bar: (results, total seconds)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    n_records = len(record_schedule(cfg.iters, cfg.eval_every, cfg.log_records)[0])
    num_chunks = min(10, n_records)
    chunks_per_combo = math.ceil(n_records / math.ceil(n_records / num_chunks))
    results = []
    t_start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("start", total=len(jobs) * chunks_per_combo)
        for tag, game, _, layout in jobs:
            progress.update(task, description=f"{tag} compiling")

            def on_chunk(c, it, m, tag=tag):
                text = f"{tag} iter {it:>5}/{cfg.iters}  POA {m.poa[:, -1].mean():.3f}  gap {m.nash_gap[:, -1].mean():.3g}"
                progress.update(task, advance=1, description=text)
                if not console.is_terminal:  # piped: rich draws no bar, so say it in plain lines
                    elapsed = time.perf_counter() - t_start
                    console.print(f"[{progress.tasks[0].completed:.0f}/{progress.tasks[0].total:.0f}] {text} "
                                  f"({elapsed:.0f} s)", soft_wrap=True, highlight=False)

            results.append(run_seeds(
                game, layout, cfg.seed, cfg.seeds, cfg.iters, cfg.lr, cfg.eval_every,
                cfg.init_scale, mu=cfg.mu, num_chunks=num_chunks, log_records=cfg.log_records,
                tied_init=cfg.tied_init, on_chunk=on_chunk,
                on_compiled=lambda tag=tag: progress.update(task, description=f"{tag} running"),
            ))
    return results, time.perf_counter() - t_start


def run(cfg: TabularConfig, console=None) -> list[dict]:
    """All (N, DAG) combinations of `cfg` (or (game, DAG) for matrix games), with a rich progress bar; writes
    cfg.out and cfg.plot."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if cfg.is_matrix:
        return run_matrix(cfg, console)
    jobs = [_Job(f"N={n} {d:<4}", coordination_game(n), d, named_layout(d, n)) for n in cfg.n_agents for d in cfg.dags]
    results, total_s = _run_jobs(cfg, jobs, console)
    records = [summarise(job.layout.num_agents, job.dag, job.game, res, cfg.mu) for job, res in zip(jobs, results)]

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
    for r, res in zip(records, results):
        p, g = np.asarray(r["final_poa"]), np.asarray(r["final_nash_gap"])
        sp, sg = _stderr(p[:, None])[0], _stderr(g[:, None])[0]
        table.add_row(str(r["n_agents"]), r["dag"], f"{p.mean():.4f} ± {sp:.4f}", f"{g.mean():.4f} ± {sg:.4f}",
                      f"{res.compile_s:.1f}", f"{res.run_s:.1f}")
    console.print(table)
    wrote = cfg.out + (f" and {cfg.plot}" if cfg.plot else "")
    console.print(f"total {total_s:.1f} s (compile included); wrote {wrote}")
    return records


def _outcome_text(r: dict, top: int = 4) -> str:
    """"(1,1)×39 NE, (0,0)×6 opt NE, ...": the most frequent final joint actions of one record."""
    parts = []
    for o in r["outcomes"][:top]:
        flags = " ".join(f for f, on in (("opt", o["optimal"]), ("NE", o["pure_nash"])) if on)
        parts.append(f"({','.join(map(str, o['joint_action']))})×{o['count']}" + (f" {flags}" if flags else ""))
    rest = sum(o["count"] for o in r["outcomes"][top:])
    return ", ".join(parts) + (f", others×{rest}" if rest else "")


def run_matrix(cfg: TabularConfig, console) -> list[dict]:
    """Every (matrix game, DAG) of `cfg`; writes cfg.out (one record per pair, `summarise_matrix`) and cfg.plot."""
    from rich.table import Table

    jobs = [_Job(f"{g.name} {d:<4}", g, d, named_layout(d, g.num_agents, g.payoff.shape))
            for g in cfg.matrix_games() for d in cfg.dags]
    results, total_s = _run_jobs(cfg, jobs, console)
    records = [summarise_matrix(job.game, job.dag, res, cfg) for job, res in zip(jobs, results)]
    with open(cfg.out, "w") as f:
        json.dump(records, f)
    if cfg.plot:
        plot_matrix(records, cfg.plot)

    table = Table(title=f"{cfg.seeds} seeds x {cfg.iters} iterations, lr {cfg.lr} (at the end; optimum: return >= "
                        f"{1 - cfg.opt_tol:g} max payoff; ends at: most probable joint action)")
    for col in ("game", "DAG", "max", "at optimum", "final return", "final Nash-gap", "ends at", "run s"):
        table.add_column(col, justify="left" if col == "ends at" else "right")
    for r, res in zip(records, results):
        ret, g = np.asarray(r["final_return"]), np.asarray(r["final_nash_gap"])
        table.add_row(r["game"], r["dag"], f"{r['v_opt']:g}", f"{r['n_optimal']}/{r['seeds']}",
                      f"{ret.mean():.3f} ± {_stderr(ret[:, None])[0]:.3f}",
                      f"{g.mean():.4f} ± {_stderr(g[:, None])[0]:.4f}", _outcome_text(r), f"{res.run_s:.1f}")
    console.print(table)
    wrote = cfg.out + (f" and {cfg.plot}" if cfg.plot else "")
    console.print(f"total {total_s:.1f} s (compile included); wrote {wrote}")
    return records


def main(argv: Sequence[str] | None = None) -> list[dict]:
    from jbn.cmdline.flags import parse  # 1e7 for integers, "did you mean", one-line errors: as every jbn CLI

    try:
        cfg = parse(TabularConfig, argv, prog="python -m jbn.tabular", description=TabularConfig.__doc__)
    except ValueError as e:  # from __post_init__, before anything is compiled (tyro usually reports it itself)
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return run(cfg)

