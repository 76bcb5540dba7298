"""Training SPS of BN-MAPPO for --dag none, full, context on one env of each family, each at its preset E and T.

    python bench/family_train_throughput.py --updates 1 --rounds 3

A thin driver over bench/train_throughput.py's `bench_env` (every program of an env compiled first, then timed in
interleaved rounds in one process; ratios are medians of per-round ratios): E and T come from the env's family
preset (jbn.training.config), or from --num-envs/--num-steps when given (one common size for every env).
"""
from __future__ import annotations

import argparse
import platform
import time

import jax

from jbn.training.config import preset_for_env, preset_values
from train_throughput import bench_env  # noqa: E402  (bench/ is the script's directory)

ENVS = ["smax_3m", "mpe_simple_spread", "overcooked_cramped_room", "lbf_2s-8x8-2p-2f-coop", "rware_tiny-4ag",
        "connector_con-5x5x3a", "cleaner_clean-10x10x10a", "matrax_Climbing-stateless"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=ENVS)
    p.add_argument("--dags", nargs="+", default=["none", "full", "context"])
    p.add_argument("--num-envs", type=int, default=None, help="default: the family preset's")
    p.add_argument("--num-steps", type=int, default=None, help="default: the family preset's")
    p.add_argument("--updates", type=int, default=1, help="PPO updates per timed chunk")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(f"# {platform.machine()} {platform.processor() or ''} {jax.devices()[0].device_kind} "
          f"({len(jax.devices())} device), jax {jax.__version__}, {args.updates} updates per chunk, {args.rounds} rounds")
    print("| env | preset | N | E | T | mode | train sps | vs none | train/raw | raw env sps | rollout s | update s | compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for env_name in args.env:
        preset = preset_for_env(env_name)
        vals = preset_values(env_name, preset)
        e = args.num_envs or vals["num_envs"]
        t = args.num_steps or vals["num_steps"]
        t0 = time.perf_counter()
        for r in bench_env(env_name, args.dags, e, t, args.updates, args.rounds):
            print(f"| {env_name} | {preset} | {r['N']} | {e} | {t} | {r['mode']} | {r['train_sps']:,.0f} | "
                  f"{r['over_none']:.2f} | {r['train_over_raw']:.2f} | {r['raw_sps']:,.0f} | {r['rollout_s']:.2f} | "
                  f"{r['update_s']:.2f} | {r['compile_s']:.1f} |", flush=True)
        print(f"# {env_name}: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
