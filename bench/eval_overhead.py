"""Cost of the periodic evaluation (joint and decentralised, sampled and greedy, with the paper's analyses) as a
share of training time, measured in one process, interleaved.

    python bench/eval_overhead.py --env smax_6h_vs_8z --dag context --rounds 3

Both programs are compiled first (their compile times are reported), then each round times one training chunk
of `--updates` updates and one evaluation, in turn. The overhead at the trainer's default frequency (about 20
evaluations per run of `--total-steps`) is 20 × eval time / (updates per run × time per update), median over
rounds; the one-off compile of the evaluator is reported beside it as a share of the whole run.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax

from jbn import evaluation

from jbn.training import trainer as tr
from jbn.training.config import Config, resolve


def _timed(fn):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="smax_6h_vs_8z")
    p.add_argument("--dag", default="context")
    p.add_argument("--updates", type=int, default=2, help="updates per timed training chunk")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--total-steps", type=int, default=10_000_000, help="run length for the overhead estimate")
    args = p.parse_args()
    full = resolve(Config(env=args.env, dag=args.dag, total_steps=args.total_steps))
    cfg = resolve(Config(env=args.env, dag=args.dag, total_steps=full.batch_size * args.updates,
                         updates_per_chunk=args.updates, checkpoint=False))
    trainer = tr.make_train(cfg)
    state = tr.init_runs(trainer.init, tr.run_keys(cfg))
    t0 = time.perf_counter()
    chunk = jax.jit(tr.over_runs(trainer.update_chunk, 1)).lower(state).compile()
    chunk_compile = time.perf_counter() - t0
    ev = evaluation.make_evaluator(cfg, trainer.policy, trainer.env, full.eval_episodes)
    key = jax.random.PRNGKey(0)
    eval_compile = _timed(lambda: ev.run(state.params, key).returns)  # first call: compile + one run
    train_t, eval_t = [], []
    for _ in range(args.rounds):
        train_t.append(_timed(lambda: chunk(state)[1].loss.total) / args.updates)
        eval_t.append(_timed(lambda: ev.run(state.params, key).returns))
    ratio = [e / t for e, t in zip(eval_t, train_t)]
    evals = max(1, round(full.num_updates / full.eval_every))
    overhead = evals * statistics.median(ratio) / full.num_updates
    run_s = full.num_updates * statistics.median(train_t)
    print(f"# {platform.machine()} {jax.devices()[0].device_kind}, jax {jax.__version__}; {args.env} dag={args.dag}, "
          f"E={cfg.num_envs} T={cfg.num_steps}, eval {full.eval_episodes} episodes x 4 (joint/decentralised x "
          f"sampled/greedy) with analyses, {args.rounds} interleaved rounds")
    print("| update s | eval s | eval / update | evals per run | eval share of training | eval compile s "
          "| compile share of run | train chunk compile s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {min(train_t):.2f} | {min(eval_t):.2f} | {statistics.median(ratio):.2f} | {evals} | {overhead:.1%} | "
          f"{eval_compile:.1f} | {eval_compile / run_s:.1%} | {chunk_compile:.1f} |")


if __name__ == "__main__":
    main()
