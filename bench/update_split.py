"""How a PPO update's time splits between the rollout and the epochs: the same training chunk compiled with
different num_epochs x num_minibatches, timed interleaved in one process (a slow patch of a shared machine hits every
variant alike). The epochs' cost is the difference; whether minibatches matter says if the update is bound by its
arithmetic or by the number of small steps.

    python bench/update_split.py --env mpe_simple_spread --num-envs 16 --dag none
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax

from jbn.training import trainer as tr
from jbn.training.config import Config, resolve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="mpe_simple_spread")
    p.add_argument("--dag", default="none")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--torso", default="auto", choices=["auto", "mlp", "cnn"],
                   help="grid observations: mlp on a CPU (auto picks the CNN, ~100x slower there)")
    p.add_argument("--variants", nargs="+", default=["4x4", "1x4", "1x1"], help="EPOCHSxMINIBATCHES")
    p.add_argument("--updates", type=int, default=4, help="updates per timed chunk")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    programs = {}
    for v in args.variants:
        epochs, minibatches = (int(x) for x in v.split("x"))
        cfg = resolve(Config(env=args.env, dag=args.dag, num_envs=args.num_envs, num_steps=args.num_steps,
                             total_steps=args.num_envs * args.num_steps * args.updates, updates_per_chunk=args.updates,
                             num_epochs=epochs, num_minibatches=minibatches, eval_episodes=0, checkpoint=False,
                             torso=args.torso))
        trainer = tr.make_train(cfg)
        state = tr.init_runs(trainer.init, tr.run_keys(cfg))
        chunk = jax.jit(tr.over_runs(trainer.update_chunk, 1)).lower(state).compile()
        jax.block_until_ready(chunk(state))
        programs[v] = (chunk, state)
    times = {v: [] for v in programs}
    for _ in range(args.rounds):
        for v, (chunk, state) in programs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(chunk(state))
            times[v].append((time.perf_counter() - t0) / args.updates)
    print(f"# {args.env} dag={args.dag} E={args.num_envs} T={args.num_steps}, {args.rounds} interleaved rounds")
    for v, ts in times.items():
        print(f"epochs x minibatches {v}: median {statistics.median(ts) * 1e3:.1f} ms, best {min(ts) * 1e3:.1f} ms "
              f"per update")


if __name__ == "__main__":
    main()
