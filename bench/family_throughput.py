"""The cost of a family adapter: raw env-steps/s through `ArrayEnv` vs the package's own env stepped the same way.

Both sides: jit of vmap over E envs and lax.scan over T steps, random available actions, the auto-reset with
ArrayEnv's key split (key, key_reset = split(step_key)); the raw side resets by hand and keeps its TimeStep in the
scan carry as ArrayEnv keeps its own, so neither side's observations can be dropped by the compiler. Timed in
interleaved rounds (adapter, raw; raw, adapter; ...) after compiling and one warm-up call each, so load on a shared
machine hits both alike (who goes first alternates); reported: the median over rounds of adapter wall time / raw
wall time, best / best, and the ratio of the median CPU times (time.process_time, all of the process's threads: on
a machine shared with other work it moves less with the load than wall time does). A call steps at least
--min-env-steps env-steps (T grows at small E), so that one call of a cheap env is not a few milliseconds of timer
noise.

    python bench/family_throughput.py --envs lbf_2s-8x8-2p-2f-coop rware_tiny-4ag matrax_Climbing-stateless \
        --num-envs 64 1024
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import envs_jax  # first: it sets XLA_FLAGS before anything (jumanji's import included) starts JAX's backend
from envs_jax import ArrayEnv

import jax
import jax.numpy as jnp
from jumanji.types import StepType


def adapter_rollout(env: ArrayEnv, num_envs: int, num_steps: int):
    def run(key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, num_envs))

        def body(carry, _):
            key, state, ts = carry
            key, ak, sk = jax.random.split(key, 3)
            act = jax.random.categorical(ak, jnp.where(ts.avail, 0.0, -jnp.inf)).astype(jnp.int32)  # [E, N]
            state, ts = jax.vmap(env.step)(jax.random.split(sk, num_envs), state, act)
            return (key, state, ts), ts.reward

        _, rewards = jax.lax.scan(body, (key, state, ts), None, num_steps)
        return rewards.sum()

    return jax.jit(run)


def raw_rollout(raw, num_envs: int, num_steps: int):
    """The package's own env: step(state, action), reset(key), the auto-reset done here."""
    num_agents, num_actions = raw.num_agents, int(raw.action_spec.num_values[0])

    def mask_of(timestep):
        if hasattr(timestep.observation, "action_mask"):
            return timestep.observation.action_mask
        return jnp.ones((num_agents, num_actions), bool)  # matrax: every action

    def step(key, state, action):
        _, key_reset = jax.random.split(key)
        new_state, timestep = raw.step(state, action)
        reset_state, reset_timestep = raw.reset(key_reset)
        last = timestep.step_type == StepType.LAST
        pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(last, x, y), a, b)
        # the reward of the step, the observation after the reset (as ArrayEnv reports them)
        return pick(reset_state, new_state), timestep.replace(observation=pick(reset_timestep.observation,
                                                                               timestep.observation))

    def run(key):
        state, ts = jax.vmap(raw.reset)(jax.random.split(key, num_envs))

        def body(carry, _):
            key, state, ts = carry
            key, ak, sk = jax.random.split(key, 3)
            act = jax.random.categorical(ak, jnp.where(jax.vmap(mask_of)(ts), 0.0, -jnp.inf)).astype(jnp.int32)
            state, ts = jax.vmap(step)(jax.random.split(sk, num_envs), state, act)
            return (key, state, ts), ts.reward

        _, rewards = jax.lax.scan(body, (key, state, ts), None, num_steps)
        return rewards.sum()

    return jax.jit(run)


def compare(name: str, num_envs: int, num_steps: int, rounds: int):
    """{'adapter': best env-steps/s, 'raw': best env-steps/s, 'ratio': median adapter time / raw time}."""
    raw = envs_jax.make(name)
    fns = {"adapter": adapter_rollout(ArrayEnv(raw), num_envs, num_steps), "raw": raw_rollout(raw, num_envs, num_steps)}
    key = jax.random.PRNGKey(0)
    fns = {k: f.lower(key).compile() for k, f in fns.items()}
    for f in fns.values():
        jax.block_until_ready(f(key))
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for r in range(rounds):
        for k, f in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):  # alternate who goes first
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(jax.random.PRNGKey(r + 1)))
            times[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    ratio = statistics.median(a / b for a, b in zip(times["adapter"], times["raw"]))
    best_ratio = min(times["adapter"]) / min(times["raw"])
    cpu_ratio = statistics.median(cpu["adapter"]) / statistics.median(cpu["raw"])
    return {k: num_envs * num_steps / min(t) for k, t in times.items()} | {
        "ratio": ratio, "best_ratio": best_ratio, "cpu_ratio": cpu_ratio}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["lbf_2s-8x8-2p-2f-coop", "rware_tiny-4ag",
                                                 "matrax_Climbing-stateless"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64, 1024])
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--min-env-steps", type=int, default=131072, help="T = max(--num-steps, this / E)")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    for name in args.envs:
        if name not in envs_jax.names():
            envs_jax.make(name)  # raises with the valid names
    print(f"# {platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, jax {jax.__version__}, "
          f"{args.rounds} interleaved rounds")
    print("| env | E | T | ArrayEnv env-steps/s | raw env-steps/s | ArrayEnv / raw wall time (median of rounds) | "
          "best / best | CPU time (median / median) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.envs:
        for e in args.num_envs:
            t = max(args.num_steps, -(-args.min_env_steps // e))
            r = compare(name, e, t, args.rounds)
            print(f"| {name} | {e} | {t} | {r['adapter']:,.0f} | {r['raw']:,.0f} | {r['ratio']:.3f} | "
                  f"{r['best_ratio']:.3f} | {r['cpu_ratio']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
