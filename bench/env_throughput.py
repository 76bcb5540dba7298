"""Raw env-steps/s of each env under one jit of vmap over E envs and lax.scan over T steps.

Random available actions; compile time excluded and reported separately.

    python bench/env_throughput.py --envs cg_2 cg_5 aloha_10 smax_3m smax_6h_vs_8z --num-envs 64 256 1024

`--adapter`: the cost of `ArrayEnv` against the package's own env stepped the same way (jit of vmap of the raw
`env.step`, its dict actions sampled from `get_avail_actions` where the env has masks, else uniformly in each agent's
own space, its observations carried so that neither side can drop them), and against the ArrayEnv of the last
commit (`git show HEAD:envs_jax/wrappers.py`) where that one can step the env (envs with obs['world_state']):

    python bench/env_throughput.py --adapter --envs smax_3m mpe_simple_spread overcooked_cramped_room --num-envs 64 1024
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
import types

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


def make_raw_rollout(env, num_envs: int, num_steps: int):
    """The package's own env under the same jit(vmap(step)) scan: jaxmarl's auto-resetting `env.step`."""
    from jaxmarl.environments.multi_agent_env import MultiAgentEnv

    agents = list(env.agents)
    sizes = jnp.array([env.action_spaces[a].n for a in agents])
    A = int(sizes.max())
    has_avail = type(env).get_avail_actions is not MultiAgentEnv.get_avail_actions

    def avail_of(state):  # bool [N, A]
        if not has_avail:
            return jnp.arange(A)[None, :] < sizes[:, None]
        av = env.get_avail_actions(state)
        return jnp.stack([jnp.pad(av[a].astype(bool), (0, A - av[a].shape[-1])) for a in agents])

    def run(key):
        obs, state = jax.vmap(env.reset)(jax.random.split(key, num_envs))

        def body(carry, _):
            key, state, obs = carry
            key, ak, sk = jax.random.split(key, 3)
            logits = jnp.where(jax.vmap(avail_of)(state), 0.0, -jnp.inf)
            act = jax.random.categorical(ak, logits).astype(jnp.int32)  # [E, N]
            obs, state, rewards, _, _ = jax.vmap(env.step)(
                jax.random.split(sk, num_envs), state, {a: act[:, i] for i, a in enumerate(agents)})
            return (key, state, obs), rewards[agents[0]]

        _, rewards = jax.lax.scan(body, (key, state, obs), None, num_steps)
        return rewards.sum()

    return jax.jit(run)


def head_array_env_class():
    """`ArrayEnv` as the last commit has it (None where git cannot show it)."""
    try:
        src = subprocess.run(["git", "show", "HEAD:envs_jax/wrappers.py"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = sys.modules["wrappers_at_head"] = types.ModuleType("wrappers_at_head")  # dataclasses look it up
    exec(compile(src, "HEAD:envs_jax/wrappers.py", "exec"), module.__dict__)
    return module.ArrayEnv


def adapter_cost(name: str, num_envs: int, num_steps: int, rounds: int):
    """{variant: (median time ratio vs raw, ratio of the best times, best env-steps/s)}, variants timed interleaved
    in one process (on a shared machine the median of the per-round ratios and the ratio of the best times bracket
    the cost; both are reported)."""
    builders = {"raw": lambda: make_raw_rollout(envs_jax.make(name), num_envs, num_steps),
                "ArrayEnv": lambda: make_rollout(ArrayEnv(envs_jax.make(name)), num_envs, num_steps)}
    head = head_array_env_class()
    if head is not None:
        raw = envs_jax.make(name)
        obs, _ = jax.eval_shape(raw.reset, jax.random.PRNGKey(0))
        if "world_state" in obs:
            builders["ArrayEnv@HEAD"] = lambda: make_rollout(head(envs_jax.make(name)), num_envs, num_steps)
    fns = {}
    for variant, build in builders.items():
        fns[variant] = build().lower(jax.random.PRNGKey(0)).compile()
        jax.block_until_ready(fns[variant](jax.random.PRNGKey(0)))
    times = {v: [] for v in fns}
    for r in range(rounds):
        for v, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(jax.random.PRNGKey(r + 1)))
            times[v].append(time.perf_counter() - t0)
    base = times["raw"]
    return {v: (statistics.median(t / b for t, b in zip(ts, base)), min(ts) / min(base), num_envs * num_steps / min(ts))
            for v, ts in times.items()}


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
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds for --compare and --adapter")
    p.add_argument("--adapter", action="store_true",
                   help="time ArrayEnv against the raw env (and ArrayEnv at HEAD), interleaved, per env")
    args = p.parse_args()
    for name in args.envs:
        if name not in envs_jax.names():
            envs_jax.make(name)  # raises with the valid names
    print(f"# {platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, jax {jax.__version__}, T={args.num_steps}")
    if args.adapter:
        print(f"| env | E | variant | best env-steps/s | time per step vs raw: median of {args.rounds} interleaved "
              f"rounds | best vs best |")
        print("|---|---|---|---|---|---|")
        for name in args.envs:
            for e in args.num_envs:
                for v, (ratio, best_ratio, sps) in adapter_cost(name, e, args.num_steps, args.rounds).items():
                    print(f"| {name} | {e} | {v} | {sps:,.0f} | {ratio:.3f}x | {best_ratio:.3f}x |", flush=True)
        return
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
