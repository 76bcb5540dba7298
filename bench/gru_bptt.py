"""The GRU replay's gradient: networks.gru_sequence (hand-written BPTT) against the autodiff of the same scan.

    python bench/gru_bptt.py --rows 96 192 384 --rounds 5

One minibatch's actor GRU at the SMAX preset: T = 128 steps, M = 64, rows = envs per minibatch x agents (64 envs / 4
minibatches x 6 agents = 96 on smax_6h_vs_8z). Both gradients (kernel, bias, input gates, first state) are compiled
first, then timed in turn for `--rounds` rounds (interleaved, so a noisy machine hits both alike). Reported: the best
time of each and the median of the per-round ratios, and the largest relative difference of the two gradients.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from jbn.networks import gru_cell, reset_where, gru_sequence


def autodiff_sequence(kernel, bias, gates, h0, done):
    """The same states as gru_sequence, differentiated by jax.grad through the scan."""
    def step(h, xs):
        gates_t, done_t = xs
        out = gru_cell(kernel, bias, h, gates_t)[0]
        return reset_where(done_t, out), out
    return jax.lax.scan(step, h0, (gates, done))[1]


def _time(fn, args, reps=5):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", type=int, default=[96, 192, 384])
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--memory", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    t, m = a.steps, a.memory
    print(f"# {platform.machine()} {jax.devices()[0].platform} ({jax.device_count()} device), jax {jax.__version__}, "
          f"T={t}, M={m}, {a.rounds} rounds")
    print("| rows | autodiff ms | by hand ms | by hand / autodiff | max rel. diff |")
    print("|---|---|---|---|---|")
    for b in a.rows:
        k = jax.random.split(jax.random.PRNGKey(0), 6)
        args = (0.2 * jax.random.normal(k[0], (m, 3 * m)), 0.1 * jax.random.normal(k[1], (3 * m,)),
                jax.random.normal(k[2], (t, b, 3 * m)), 0.5 * jax.random.normal(k[3], (b, m)))
        done = jax.random.bernoulli(k[4], 0.02, (t, b))
        weights = jax.random.normal(k[5], (t, b, m))

        def grad_of(seq):
            return jax.jit(jax.grad(lambda *x: jnp.sum(jnp.sin(seq(*x, done)) * weights), argnums=(0, 1, 2, 3)))

        auto, hand = grad_of(autodiff_sequence), grad_of(gru_sequence)
        ga, gh = auto(*args), hand(*args)
        diff = max(float(jnp.abs(x - y).max() / jnp.abs(x).max()) for x, y in zip(ga, gh))
        times = {"auto": [], "hand": []}
        for _ in range(a.rounds):
            times["auto"].append(_time(auto, args))
            times["hand"].append(_time(hand, args))
        ratio = statistics.median(h / x for h, x in zip(times["hand"], times["auto"]))
        print(f"| {b} | {min(times['auto']) * 1e3:.1f} | {min(times['hand']) * 1e3:.1f} | {ratio:.2f} | {diff:.1e} |",
              flush=True)


if __name__ == "__main__":
    main()
