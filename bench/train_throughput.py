"""Training throughput of BN-MAPPO per DAG mode, measured against the raw env in the same run.

    python bench/train_throughput.py --env smax_6h_vs_8z --num-envs 64 --num-steps 128 --dags none context

For each mode: compile time of one update chunk, training env-steps/s, and where the time goes: the
rollout alone (env step + joint-action sampling) vs the env stepped with random actions, the remainder
being the PPO update. Compile first (`.lower().compile()`), then time with block_until_ready.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import jax
import jax.numpy as jnp

import envs_jax
from jbn import train
from jbn.config import Config, resolve

from env_throughput import make_rollout  # noqa: E402  (bench/ is the script's directory)


def _time(fn, *args, repeats=3):
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def bench_mode(env_name, dag, num_envs, num_steps, updates=2, **over):
    cfg = resolve(Config(env=env_name, dag=dag, num_envs=num_envs, num_steps=num_steps,
                         total_steps=num_envs * num_steps * updates, updates_per_chunk=updates,
                         eval_episodes=0, checkpoint=False, **over))
    init, update_chunk, policy, env = train.make_train(cfg)
    state = jax.jit(jax.vmap(init))(train.seed_keys(cfg))
    t0 = time.perf_counter()
    chunk = jax.jit(jax.vmap(update_chunk)).lower(state).compile()
    compile_s = time.perf_counter() - t0
    sec = _time(lambda s: chunk(s)[1].loss.total, state)
    train_sps = updates * num_envs * num_steps / sec

    # Rollout only: env step + sampling with the same policy (no update).
    def rollout(params, key):
        keys = jax.random.split(key, num_envs)
        es, ts = jax.vmap(env.reset)(keys)
        v_sample = jax.vmap(policy.sample, in_axes=(None, 0, 0, 0, 0, 0))

        def body(c, _):
            es, ts, key = c
            key, nk, ak, sk = jax.random.split(key, 4)
            noise = policy.sample_noise(nk, (num_envs,))
            a, lp, g = v_sample(params, ts.obs, ts.avail, ts.visible, noise, jax.random.split(ak, num_envs))
            v = policy.value(params, ts.world_state)
            es, ts = jax.vmap(env.step)(jax.random.split(sk, num_envs), es, a)
            return (es, ts, key), lp.sum() + v.sum()

        _, out = jax.lax.scan(body, (es, ts, key), None, num_steps)
        return out.sum()

    params = jax.tree.map(lambda x: x[0], state.params)
    ro = jax.jit(rollout).lower(params, jax.random.PRNGKey(0)).compile()
    ro_sec = _time(ro, params, jax.random.PRNGKey(1))
    return dict(compile_s=compile_s, train_sps=train_sps, rollout_s_per_update=ro_sec,
                update_s=sec / updates, N=env.num_agents)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["smax_6h_vs_8z"])
    p.add_argument("--dags", nargs="+", default=["none", "line", "full", "context"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64])
    p.add_argument("--num-steps", type=int, default=128)
    args = p.parse_args()
    print(f"# {platform.machine()} {jax.devices()[0].device_kind} ({len(jax.devices())} device), jax {jax.__version__}, "
          f"T={args.num_steps}")
    print("| env | N | E | mode | raw env sps | train sps | train/raw | vs none | rollout s | update s (rollout+PPO) | env-only s | compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for env_name in args.env:
        for e in args.num_envs:
            env = envs_jax.ArrayEnv(envs_jax.make(env_name))
            raw_fn = make_rollout(env, e, args.num_steps).lower(jax.random.PRNGKey(0)).compile()
            raw_s = _time(raw_fn, jax.random.PRNGKey(1))
            raw_sps = e * args.num_steps / raw_s
            base = None
            for dag in args.dags:
                r = bench_mode(env_name, dag, e, args.num_steps)
                base = base or (r["train_sps"] if dag == "none" else None)
                rel = f"{r['train_sps'] / base:.2f}" if base else "-"
                print(f"| {env_name} | {r['N']} | {e} | {dag} | {raw_sps:,.0f} | {r['train_sps']:,.0f} | "
                      f"{r['train_sps'] / raw_sps:.2f} | {rel} | {r['rollout_s_per_update']:.2f} | {r['update_s']:.2f} | "
                      f"{raw_s:.2f} | {r['compile_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
