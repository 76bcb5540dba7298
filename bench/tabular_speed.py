"""Speed of the tabular BN policy gradient (the jbn/tabular/ package, issue 4).

1. vmap vs Python loop: the same compiled single-seed program (gradient ascent + POA/Nash-gap records over
   the whole schedule) run for `loop_seeds` seeds one after another, against one vmapped call over `seeds`
   seeds. Compile is timed separately (`.lower(...).compile()`), runs with `jax.block_until_ready`.
   The loop time is extrapolated linearly to `seeds` seeds (each call is the same program on new data).
2. `--full-run`: the whole default CLI run (all (N, DAG), 50 seeds, 2000 iterations), wall time with
   compile included, per combination and in total.

    python bench/tabular_speed.py                      # vmap vs loop, N = 5 full and N = 3 line
    python bench/tabular_speed.py --full-run           # plus the full default run
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

from jbn import tabular as T  # noqa: E402


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    cases: tuple[str, ...] = ("5:full", "3:line")
    """(N:dag) combinations for vmap vs loop."""
    seeds: int = 50
    """Seeds in the vmapped call."""
    loop_seeds: int = 3
    """Seeds actually run in the Python loop (extrapolated to `seeds`)."""
    iters: int = 2000
    lr: float = 0.01
    eval_every: int = 10
    full_run: bool = False
    """Also time the full default CLI run (9 combinations x 50 seeds x 2000 iterations)."""


def _timed_compile(fn, *args):
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def vmap_vs_loop(n: int, dag: str, cfg: BenchConfig) -> dict:
    game, layout = T.coordination_game(n), T.named_layout(dag, n)
    steps, _ = T.record_schedule(cfg.iters, cfg.eval_every)
    steps = jnp.asarray(steps)
    run_chunk = T.make_run_chunk(game, layout, cfg.lr)
    with jax.enable_x64(True):
        theta = tuple(jnp.asarray(t) for t in T.init_theta(0, cfg.seeds, layout, game.num_states))
        batched, c_vmap = _timed_compile(jax.vmap(run_chunk, in_axes=(0, None)), theta, steps)
        t0 = time.perf_counter()
        _, m_vmap = jax.block_until_ready(batched(theta, steps))
        t_vmap = time.perf_counter() - t0

        one = tuple(t[0] for t in theta)
        single, c_single = _timed_compile(run_chunk, one, steps)
        t0 = time.perf_counter()
        for b in range(cfg.loop_seeds):
            _, m_b = jax.block_until_ready(single(tuple(t[b] for t in theta), steps))
            np.testing.assert_allclose(m_b.poa, m_vmap.poa[b], rtol=1e-9)  # same curves
        t_loop = (time.perf_counter() - t0) / cfg.loop_seeds * cfg.seeds
    return dict(n=n, dag=dag, compile_vmap=c_vmap, compile_single=c_single, t_vmap=t_vmap, t_loop=t_loop)


def full_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = T.TabularConfig(out=f"{tmp}/results.json", plot=f"{tmp}/fig3.png")
        t0 = time.perf_counter()
        T.run(cfg)
        return time.perf_counter() - t0


def main(cfg: BenchConfig) -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
          f"devices {jax.devices()}")
    rows = []
    for case in cfg.cases:
        n, dag = case.split(":")
        r = vmap_vs_loop(int(n), dag, cfg)
        rows.append(r)
        print(f"N={r['n']} {r['dag']}: vmap {cfg.seeds} seeds {r['t_vmap']:.2f} s (compile {r['compile_vmap']:.2f} s); "
              f"python loop {cfg.loop_seeds} seeds -> {cfg.seeds}: {r['t_loop']:.2f} s (compile "
              f"{r['compile_single']:.2f} s); speed-up {r['t_loop'] / r['t_vmap']:.1f}x", flush=True)
    print("\n| N | DAG | vmap, 50 seeds (s) | Python loop, 50 seeds (s, extrapolated) | speed-up |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['dag']} | {r['t_vmap']:.2f} | {r['t_loop']:.1f} | {r['t_loop'] / r['t_vmap']:.1f}x |")
    if cfg.full_run:
        total = full_run()
        print(f"\nfull default run (9 combos x 50 seeds x {T.TabularConfig.iters} iters): {total:.1f} s incl. compile")


if __name__ == "__main__":
    main(tyro.cli(BenchConfig))
