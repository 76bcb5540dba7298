"""Gradient ascent θ <- θ + lr ∇_θ V_θ(μ) (Eq. 2) from random inits: one jitted chunk of recorded points,
vmapped over seeds, called from a host loop. The game is the Coordination Game's Markov tables
(`TabularGame`: `exact.value_mu`, `nash.evaluate`) or a one-shot matrix game (`MatrixGame`:
`matrix_exact.matrix_value`, `matrix_exact.evaluate_matrix`); `objective` is the one place that tells them apart.

The run keeps all seeds of one (N, DAG) in one jit (vmap over seeds, lax.scan over recorded points) and uses
float64 (`jax.enable_x64` as a context, so nothing global changes for other modules): Nash-gaps near
convergence are small differences of values ≈ 60.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jbn.tabular.exact import Mu, check_mu, value_mu
from jbn.tabular.game_tables import TabularGame
from jbn.tabular.matrix_exact import evaluate_matrix, matrix_value
from jbn.tabular.matrix_tables import MatrixGame
from jbn.tabular.nash import Metrics, evaluate
from jbn.tabular.policy import BNLayout, Theta, init_theta


def objective(game: TabularGame | MatrixGame) -> tuple[Callable, Callable]:
    """(V(θ, game, layout, mu), metrics(θ, game, layout)) of the game's kind."""
    if isinstance(game, MatrixGame):
        return matrix_value, evaluate_matrix
    return value_mu, evaluate


def make_run_chunk(game: TabularGame | MatrixGame, layout: BNLayout, lr: float, mu: Mu = "uniform") -> Callable:
    """Single-seed `run_chunk(theta, steps) -> (theta, Metrics [R])`.

    steps: int32 [R]; record r first takes steps[r] gradient-ascent steps θ <- θ + lr ∇_θ V_θ(μ) (Eq. 2,
    exact gradient by autodiff; μ uniform, or summed over states with mu="sum", see `exact.value_mu`),
    then records the metrics (always μ uniform). steps[r] = 0 records without moving (used for iteration 0
    and to pad the last chunk, so one compiled chunk serves every call).
    """
    check_mu(mu)
    value_fn, evaluate_fn = objective(game)
    grad_v = jax.grad(value_fn)

    def ascent_step(_, theta):
        g = grad_v(theta, game, layout, mu)
        return jax.tree.map(lambda t, gt: t + lr * gt, theta, g)

    def record(theta, n_steps):
        theta = jax.lax.fori_loop(0, n_steps, ascent_step, theta)
        return theta, evaluate_fn(theta, game, layout)

    def run_chunk(theta, steps):
        return jax.lax.scan(record, theta, steps)

    return run_chunk


def record_schedule(iters: int, eval_every: int, log_records: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(steps before each record [R], iteration of each record [R]): 0, k, 2k, ..., iters; or, with
    log_records > 0, 0 and about that many log-spaced iterations from 1 to iters (for runs of 10^5+ iterations
    whose dynamics happen at every scale)."""
    if log_records > 0:
        at = np.unique(np.round(np.geomspace(1, iters, log_records)).astype(np.int64))
        steps = np.diff(np.concatenate([[0, 0], at])).astype(np.int32)
        return steps, np.cumsum(steps)
    steps = [0] + [eval_every] * (iters // eval_every) + ([iters % eval_every] if iters % eval_every else [])
    steps = np.asarray(steps, np.int32)
    return steps, np.cumsum(steps)


class RunResult(NamedTuple):
    iters: np.ndarray  # int [R]
    metrics: Metrics  # each float64 [B, R]
    theta: Theta  # final, each [B, S, C_i, A_i]
    compile_s: float
    run_s: float


def run_seeds(
    game: TabularGame | MatrixGame,
    layout: BNLayout,
    seed: int,
    num_seeds: int,
    iters: int,
    lr: float,
    eval_every: int,
    init_scale: float = 1.0,
    mu: Mu = "uniform",
    num_chunks: int = 10,
    log_records: int = 0,
    tied_init: bool = False,
    on_chunk: Callable[[int, int, Metrics], None] | None = None,
    on_compiled: Callable[[], None] | None = None,
) -> RunResult:
    """Gradient ascent from independent random inits (`init_theta`), all seeds in one jit via vmap.

    The host loop runs `num_chunks` calls of one compiled chunk (same shapes every call), so progress can
    be shown between chunks; nothing inside the jit prints. Float64 throughout (x64 as a context).
    """
    steps, rec_iters = record_schedule(iters, eval_every, log_records)
    per_chunk = math.ceil(len(steps) / max(1, min(num_chunks, len(steps))))
    padded = np.zeros(per_chunk * math.ceil(len(steps) / per_chunk), np.int32)
    padded[: len(steps)] = steps
    with jax.enable_x64(True):
        theta = tuple(jnp.asarray(t) for t in init_theta(seed, num_seeds, layout, game.num_states, init_scale,
                                                             tied=tied_init))
        batched = jax.jit(jax.vmap(make_run_chunk(game, layout, lr, mu), in_axes=(0, None)))
        t0 = time.perf_counter()
        compiled = batched.lower(theta, jnp.asarray(padded[:per_chunk])).compile()
        compile_s = time.perf_counter() - t0
        if on_compiled is not None:
            on_compiled()
        t0 = time.perf_counter()
        chunks = []
        for c in range(len(padded) // per_chunk):
            theta, m = compiled(theta, jnp.asarray(padded[c * per_chunk : (c + 1) * per_chunk]))
            m = jax.tree.map(np.asarray, jax.block_until_ready(m))
            chunks.append(m)
            if on_chunk is not None:
                done = min((c + 1) * per_chunk, len(steps))
                on_chunk(c, int(rec_iters[done - 1]), m)
        run_s = time.perf_counter() - t0
        theta = jax.tree.map(np.asarray, theta)
    # drop the padded records at the end of the last chunk
    metrics = Metrics(
        *(np.concatenate([getattr(m, f) for m in chunks], axis=1)[:, : len(steps)] for f in Metrics._fields)
    )
    return RunResult(iters=rec_iters, metrics=metrics, theta=theta, compile_s=compile_s, run_s=run_s)
