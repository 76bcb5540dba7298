"""Throughput of a batch of runs (seeds x sweep points) vs its size and vs the number of (forced) devices.

    python bench/sweep_scaling.py --env cg_2 --dag context --runs 1 2 4 8 16 --devices 1 2 4 --rounds 3

For each device count D (a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=D, since the device
count is fixed when XLA starts) and each batch size R (R seeds; a sweep of R points runs the same program, its
values being leaves), the chunk program `python -m jbn.train` runs (jbn.host.placement: runs axis = D / data-parallel) is
compiled, run once to warm up, then timed `--rounds` times; the best round counts. Also one run data-parallel over
the D devices. Reported per configuration: compile seconds, seconds per PPO update of the whole batch, env-steps/s
(every run's env steps) and run-updates/s (R / seconds per update: how many runs advance one update per second).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(args) -> None:
    """In a process with `args.devices` forced devices: time each batch size; one JSON line per configuration."""
    import jax

    from jbn.host import placement as place
    from jbn.training import sweep
    from jbn.training import trainer as tr
    from jbn.training.config import Config, resolve

    (devices,) = args.devices
    assert jax.device_count() == devices, jax.devices()
    configs = [(r, 1) for r in args.runs if r % devices == 0] + [(1, devices)] * (devices > 1)
    for num_runs, data in configs:
        cfg = resolve(Config(env=args.env, dag=args.dag, num_seeds=num_runs, data_parallel=data,
                             num_envs=args.num_envs, updates_per_chunk=args.updates, eval_episodes=0,
                             checkpoint=False, total_steps=None))
        cfg = resolve(Config(**{**cfg.__dict__, "total_steps": cfg.batch_size * args.updates * 10}))
        pl = place.make(cfg, num_runs)
        trainer = tr.make_train(cfg, mesh=pl.mesh if pl else None)
        state = tr.init_runs(trainer.init, tr.run_keys(cfg), sweep.run_hypers(cfg))
        kw = {}
        if pl is not None:
            shardings = pl.state_shardings(state)
            state = pl.put(state, shardings)
            kw = dict(in_shardings=(shardings,), out_shardings=(shardings, pl.runs_sharding()))
        fn = jax.jit(tr.over_runs(trainer.update_chunk, num_runs, place.RUNS if pl else None), **kw)
        t0 = time.perf_counter()
        compiled = fn.lower(state).compile()
        compile_s = time.perf_counter() - t0
        state, m = compiled(state)
        jax.block_until_ready(m)
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            state, m = compiled(state)
            jax.block_until_ready(m)
            times.append(time.perf_counter() - t0)
        per_update = min(times) / args.updates
        print(json.dumps({"devices": devices, "data_parallel": data, "runs": num_runs, "compile_s": compile_s,
                          "s_per_update": per_update, "env_steps_per_s": num_runs * cfg.batch_size / per_update,
                          "run_updates_per_s": num_runs / per_update, "num_envs": cfg.num_envs,
                          "num_steps": cfg.num_steps}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="cg_2")
    p.add_argument("--dag", default="context")
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--updates", type=int, default=5, help="PPO updates per timed chunk")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    rows = []
    for d in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}", JAX_PLATFORMS="cpu",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        argv = [sys.executable, __file__, "--worker", "--env", args.env, "--dag", args.dag, "--runs",
                *map(str, args.runs), "--devices", str(d), "--updates", str(args.updates), "--rounds", str(args.rounds)]
        if args.num_envs:
            argv += ["--num-envs", str(args.num_envs)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        rows += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.env} {args.dag}, "
          f"E={rows[0]['num_envs']} T={rows[0]['num_steps']}, {args.updates} updates per chunk, best of {args.rounds}")
    print("| devices | data-parallel | runs | compile s | s / update | env-steps/s | run-updates/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['devices']} | {r['data_parallel']} | {r['runs']} | {r['compile_s']:.1f} | {r['s_per_update']:.3f} "
              f"| {r['env_steps_per_s']:,.0f} | {r['run_updates_per_s']:.1f} |")


if __name__ == "__main__":
    main()
