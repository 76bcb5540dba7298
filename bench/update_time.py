"""Milliseconds per PPO update (rollout + epochs) of one compiled training chunk, and the env steps/s they make: the
number to compare between two versions of the code, run alternately in separate processes (a process of each, then
again: on a 2-core CPU two processes of the same code differ by up to ~7%, so one pair decides nothing).

    python bench/update_time.py overcooked_forced_coord --num-envs 16 --torso mlp
    PYTHONPATH=/path/to/other/checkout python bench/update_time.py overcooked_forced_coord --num-envs 16 --torso mlp
    taskset -c 0 python bench/update_time.py ...   # one core: the programs' summed op time, without their overlap
    python bench/update_time.py lbf_2s-8x8-2p-2f-coop --num-envs 32 --recurrent gru --num-epochs 1   # vs 4: the
                                                   # difference is 3 epochs, the rest the rollout and the GAE

The timed chunk is compiled once and called `--rounds` times; the median and best are per update.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax

import jbn
from jbn.training import trainer as tr
from jbn.training.config import Config, resolve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env")
    p.add_argument("--dag", default="none")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--torso", default="auto", choices=["auto", "mlp", "cnn"])
    p.add_argument("--recurrent", default="none", choices=["none", "gru"])
    p.add_argument("--gru-hidden", type=int, default=None)
    p.add_argument("--num-epochs", type=int, default=None,
                   help="PPO epochs (default: the preset's); 4 against 1 splits an update into rollout and epochs")
    p.add_argument("--updates", type=int, default=4, help="updates per timed chunk")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    given = dict(hidden=args.hidden, gru_hidden=args.gru_hidden, num_epochs=args.num_epochs)
    extra = {k: v for k, v in given.items() if v is not None}
    cfg = resolve(Config(env=args.env, dag=args.dag, num_envs=args.num_envs, num_steps=args.num_steps,
                         total_steps=args.num_envs * args.num_steps * args.updates * 10,
                         updates_per_chunk=args.updates, eval_episodes=0, checkpoint=False, torso=args.torso,
                         recurrent=args.recurrent, **extra))
    trainer = tr.make_train(cfg)
    state = tr.init_runs(trainer.init, tr.run_keys(cfg))
    chunk = jax.jit(tr.over_runs(trainer.update_chunk, 1)).lower(state).compile()
    jax.block_until_ready(chunk(state))
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(chunk(state))
        times.append((time.perf_counter() - t0) / args.updates)
    med = statistics.median(times)
    print(f"{args.env} dag={args.dag} recurrent={args.recurrent} epochs={cfg.num_epochs} E={args.num_envs} "
          f"T={args.num_steps} (jbn from {os.path.dirname(jbn.__file__)}, "
          f"load {os.getloadavg()[0]:.2f}): median {med * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms per update, "
          f"{args.num_envs * args.num_steps / med:,.0f} env steps/s")


if __name__ == "__main__":
    main()
