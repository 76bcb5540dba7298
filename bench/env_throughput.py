"""Raw env-steps/s of each env under one jit of vmap over E envs and lax.scan over T steps.

Random available actions; compile time excluded and reported separately.

    python bench/env_throughput.py --envs cg_2 cg_5 aloha_10 smax_3m smax_6h_vs_8z --num-envs 64 256 1024
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp

import envs_jax
from envs_jax import ArrayEnv


def make_rollout(env: ArrayEnv, num_envs: int, num_steps: int):
    def run(key):
        keys = jax.random.split(key, num_envs)
        state, ts = jax.vmap(env.reset)(keys)

        def body(carry, _):
            key, state, ts = carry
            key, ak, sk = jax.random.split(key, 3)
            logits = jnp.where(ts.avail, 0.0, -jnp.inf)
            act = jax.random.categorical(ak, logits).astype(jnp.int32)  # [E, N]
            state, ts = jax.vmap(env.step)(jax.random.split(sk, num_envs), state, act)
            return (key, state, ts), ts.reward

        _, rewards = jax.lax.scan(body, (key, state, ts), None, num_steps)
        return rewards.sum()

    return jax.jit(run)


def measure(name: str, num_envs: int, num_steps: int, repeats: int = 3):
    env = ArrayEnv(envs_jax.make(name))
    fn = make_rollout(env, num_envs, num_steps)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    compiled = fn.lower(key).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(key))  # warm-up
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1)))
        best = min(best, time.perf_counter() - t0)
    return num_envs * num_steps / best, compile_s


def compare(names: list[str], num_envs: int, num_steps: int, rounds: int = 5):
    """Slowdown of each env against names[0], timed interleaved (one call of each per round, after a
    warm-up) so that load on a shared machine hits all alike; returns {name: (median ratio, best sps)}."""
    fns = {}
    for name in names:
        fns[name] = make_rollout(ArrayEnv(envs_jax.make(name)), num_envs, num_steps).lower(jax.random.PRNGKey(0)).compile()
        jax.block_until_ready(fns[name](jax.random.PRNGKey(0)))
    times = {name: [] for name in names}
    for r in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(jax.random.PRNGKey(r + 1)))
            times[name].append(time.perf_counter() - t0)
    base = times[names[0]]
    return {name: (statistics.median(t / b for t, b in zip(ts, base)), num_envs * num_steps / min(ts))
            for name, ts in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["cg_2", "cg_5", "aloha_10", "smax_3m", "smax_6h_vs_8z"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64, 256, 1024])
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--compare", action="store_true",
                   help="time the envs interleaved and report each one's slowdown against the first")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds for --compare")
    args = p.parse_args()
    for name in args.envs:
        if name not in envs_jax.names():
            envs_jax.make(name)  # raises with the valid names
    print(f"# {platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, jax {jax.__version__}, T={args.num_steps}")
    if args.compare:
        print(f"| env | E | env-steps/s | time per step vs {args.envs[0]} (median of {args.rounds} interleaved rounds) |")
        print("|---|---|---|---|")
        for e in args.num_envs:
            for name, (ratio, sps) in compare(args.envs, e, args.num_steps, args.rounds).items():
                print(f"| {name} | {e} | {sps:,.0f} | {ratio:.2f}x |", flush=True)
        return
    print("| env | E | env-steps/s | compile s |")
    print("|---|---|---|---|")
    for name in args.envs:
        for e in args.num_envs:
            sps, c = measure(name, e, args.num_steps)
            print(f"| {name} | {e} | {sps:,.0f} | {c:.1f} |", flush=True)


if __name__ == "__main__":
    main()
