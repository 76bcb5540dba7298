"""Training throughput of BN-MAPPO per DAG mode, measured against the raw env in the same run.

    python bench/train_throughput.py --env smax_6h_vs_8z --num-envs 64 --num-steps 128 --dags none context
    python bench/train_throughput.py --dags none context --recurrent none gru     # GRU vs feed-forward
    python bench/train_throughput.py --dags none context --deterministic          # the cost of --deterministic
    python bench/train_throughput.py --env rware_tiny-4ag --num-envs 32 --hidden 128 --dags none full context

For each (env, E): the raw env rollout (random actions) and one compiled update chunk per DAG mode are
compiled first; then, for each of `--rounds` rounds, every program is timed once in turn (interleaved,
so a slow patch of a shared machine hits all of them alike). Reported: the best time of each program and
the median over rounds of the per-round ratios (train / raw, mode / none, mode / full, and with `--recurrent none gru`
each GRU program against its feed-forward twin, "vs ff"; with `--deterministic` each program compiled with the
run's deterministic XLA options against its plain twin, "vs plain"). Also where the time goes: the
rollout alone (env step + joint-action sampling + critic, no update) per mode. Compile = one chunk,
`.lower().compile()`. The chunk is what `python -m jbn.train` runs (`tr.over_runs`, one seed).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax

import envs_jax
from jbn.training import trainer as tr
from jbn.training.config import Config, compiler_options, resolve
from jbn.training.rollout import act_and_step, step_keys

from env_throughput import make_rollout  # noqa: E402  (bench/ is the script's directory)


def _once(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def build_mode(env_name, dag, num_envs, num_steps, updates, **over):
    """Compiled (chunk, rollout) programs of one DAG mode, their inputs and the chunk's compile time."""
    cfg = resolve(Config(env=env_name, dag=dag, num_envs=num_envs, num_steps=num_steps,
                         total_steps=num_envs * num_steps * updates, updates_per_chunk=updates,
                         eval_episodes=0, checkpoint=False, **over))
    trainer = tr.make_train(cfg)
    init, update_chunk, policy, env = trainer.init, trainer.update_chunk, trainer.policy, trainer.env
    state = tr.init_runs(init, tr.run_keys(cfg))
    t0 = time.perf_counter()
    chunk = jax.jit(tr.over_runs(update_chunk, cfg.num_seeds)).lower(state).compile(compiler_options(cfg))
    compile_s = time.perf_counter() - t0

    # Rollout only: env step + sampling + critic with the same policy (no update).
    def rollout(params, key):
        es, ts = jax.vmap(env.reset)(jax.random.split(key, num_envs))

        def body(c, _):
            es, ts, memory, key = c
            key, act_key, env_key = step_keys(key)
            es, next_ts, act = act_and_step(policy, env, params, es, ts, act_key, env_key, memory)
            v = policy.value(params, ts.world_state, act.memory)
            return (es, next_ts, policy.reset_memory(act.memory, next_ts.done), key), act.logp.sum() + v.sum()

        _, out = jax.lax.scan(body, (es, ts, policy.initial_memory((num_envs,)), key), None, num_steps)
        return out.sum()

    params = jax.tree.map(lambda x: x[0], state.params)
    ro = jax.jit(rollout).lower(params, jax.random.PRNGKey(0)).compile(compiler_options(cfg))
    return dict(
        chunk=lambda: chunk(state)[1].loss.total,
        rollout=lambda: ro(params, jax.random.PRNGKey(1)),
        compile_s=compile_s, N=env.num_agents,
    )


def _modes(dags, sinkhorn_iters=(None,), recurrents=("none",), deterministic=False):
    """(label, dag, config overrides): context once per Sinkhorn iteration count L ('context' for the first, then
    'context L=K'); each once per recurrent choice (' gru' appended to the label); with `deterministic`, each also
    compiled with the deterministic XLA options (' det' appended)."""
    if deterministic:
        plain = _modes(dags, sinkhorn_iters, recurrents)
        return plain + [(label + " det", dag, dict(over, deterministic=True)) for label, dag, over in plain]
    out = []
    for rec in recurrents:
        tag, extra = ("", {}) if rec == "none" else (f" {rec}", dict(recurrent=rec))
        for dag in dags:
            if dag != "context":
                out.append((dag + tag, dag, dict(extra)))
                continue
            for i, k in enumerate(sinkhorn_iters):
                given = {} if k is None else dict(sinkhorn_iters=k)  # None: the default (and none with a fixed order)
                out.append(("context" + ("" if i == 0 else f" L={k}") + tag, dag, dict(**given, **extra)))
    return out


def _twin(label, tag):
    """The label of the same program without `tag` (' gru': its feed-forward twin; ' det': its plain twin)."""
    return label.replace(tag, "", 1) if tag in label else None


def bench_env(env_name, dags, num_envs, num_steps, updates, rounds, warmup=True, sinkhorn_iters=(None,),
              recurrents=("none",), deterministic=False, hidden=None):
    env = envs_jax.ArrayEnv(envs_jax.make(env_name))
    raw_fn = make_rollout(env, num_envs, num_steps).lower(jax.random.PRNGKey(0)).compile()
    progs = {"raw": lambda: raw_fn(jax.random.PRNGKey(1))}
    info = {}
    modes = _modes(dags, sinkhorn_iters, recurrents, deterministic)
    for label, dag, over in modes:
        m = build_mode(env_name, dag, num_envs, num_steps, updates, **over, **({} if hidden is None else dict(hidden=hidden)))
        progs[label], progs[label + "/rollout"] = m["chunk"], m["rollout"]
        info[label] = m
    if warmup:
        for fn in progs.values():
            jax.block_until_ready(fn())
    times = {k: [] for k in progs}
    for _ in range(rounds):
        for k, fn in progs.items():
            times[k].append(_once(fn))
    steps = num_envs * num_steps
    rows = []

    def ratio(base, dag):
        if base not in times:
            return float("nan")
        return statistics.median(times[base][r] / times[dag][r] for r in range(rounds))

    for dag, _, _ in modes:
        per_update = [t / updates for t in times[dag]]
        rows.append(dict(
            env=env_name, N=info[dag]["N"], E=num_envs, mode=dag,
            raw_sps=steps / min(times["raw"]), train_sps=steps / min(per_update),
            train_over_raw=statistics.median(times["raw"][r] / per_update[r] for r in range(rounds)),
            over_none=ratio("none", dag), over_full=ratio("full", dag),
            over_ff=ratio(_twin(dag, " gru"), dag), over_plain=ratio(_twin(dag, " det"), dag),
            rollout_s=min(times[dag + "/rollout"]), update_s=min(per_update), env_s=min(times["raw"]),
            compile_s=info[dag]["compile_s"],
        ))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["smax_6h_vs_8z"])
    p.add_argument("--dags", nargs="+", default=["none", "line", "full", "context"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64])
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--updates", type=int, default=2, help="PPO updates per timed chunk")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median of ratios)")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed first call (for very large E)")
    p.add_argument("--sinkhorn-iters", nargs="+", type=int, default=[None],
                   help="context mode: one program per Sinkhorn iteration count L (rows 'context', 'context L=K')")
    p.add_argument("--recurrent", nargs="+", default=["none"], choices=["none", "gru"],
                   help="feed-forward and/or GRU programs of every mode (rows '<mode> gru'; 'vs ff': ff time / gru time)")
    p.add_argument("--deterministic", action="store_true",
                   help="also every program compiled with --deterministic's XLA options (rows '<mode> det'; "
                        "'vs plain': plain time / det time)")
    p.add_argument("--hidden", type=int, default=None, help="every program's hidden width (default: the env's preset)")
    args = p.parse_args()
    print(f"# {platform.machine()} {jax.devices()[0].device_kind} ({len(jax.devices())} device), jax {jax.__version__}, "
          f"T={args.num_steps}, {args.updates} updates per chunk, {args.rounds} rounds")
    print("| env | N | E | mode | raw env sps | train sps | train/raw | vs none | vs full | vs ff | vs plain | rollout s "
          "| update s | env-only s | compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for env_name in args.env:
        for e in args.num_envs:
            for r in bench_env(env_name, args.dags, e, args.num_steps, args.updates, args.rounds, not args.no_warmup,
                               args.sinkhorn_iters, args.recurrent, args.deterministic, args.hidden):
                print(f"| {r['env']} | {r['N']} | {r['E']} | {r['mode']} | {r['raw_sps']:,.0f} | {r['train_sps']:,.0f} | "
                      f"{r['train_over_raw']:.2f} | {r['over_none']:.2f} | {r['over_full']:.2f} | {r['over_ff']:.2f} | {r['over_plain']:.2f} | {r['rollout_s']:.2f} | {r['update_s']:.2f} | "
                      f"{r['env_s']:.2f} | {r['compile_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
