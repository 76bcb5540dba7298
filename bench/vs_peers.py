"""jbn against the ecosystem's own trainers on their own benchmarks (issue 32), alternating peer and jbn runs.

    python bench/vs_peers.py --jaxmarl /work/peers/JaxMARL --jaxmarl-python /work/peers/jaxmarl-venv/bin/python \
        --mava /work/peers/Mava --mava-sable /work/peers/Mava-sable --mava-python /work/peers/mava-venv/bin/python \
        --pairs mpe_mappo_rnn mpe_ippo_ff lbf_ff_mappo --seeds 0 1 2 --out bench/peers/results.json

Set-up of the peers (their checkouts, venvs, pins and the Mava shim): bench/peers/README.md.

Every peer runs **unmodified** from its checkout in its own interpreter: JaxMARL's baseline scripts through
bench/peers/jaxmarl_shim.py (`wandb` replaced by a stand-in that records each logged row with its wall time), Mava's
systems through bench/peers/mava_shim.py (stand-ins for the GitHub-only imports, Jumanji's specs as methods, and a
recorder around Mava's own logger; bench/peers/mava-shim.md) — except Sable: feat/sable's systems read its
network's value and log-probability swapped, and the shim corrects that for the Sable pairs (mava-shim.md, item 6;
`--sable-as-is` runs the branch as it is, which does not learn). Only Hydra overrides change their configs: the seed,
the budget (total env steps), NUM_SEEDS=1 (JaxMARL's IPPO scripts vmap 10 seeds by default), the Overcooked layout,
and Mava's number of evaluations (`arch.num_evaluation`, 200 by default, which needs > 200 updates).

For every pair and seed: the peer's run, then jbn's run(s) (`python -m jbn.train --env <jbn name> --dag none`, plus
`--recurrent gru` where the peer is recurrent; `--dag full` and `--dag context` against Sable), one after the other,
each alone as far as this script goes (the machine's load average is recorded before and after each run: on a shared
machine only the ratios of neighbouring runs mean much). Both sides train the same number of env steps per seed.
Seeds can be added later: a run of `--seeds 1 2` keeps the file's seed-0 runs of the same pair at the same budget.
`--peers-side-by-side` starts the peer's runs of all the seeds at once, each pinned to a core of its own, and then
jbn's runs one at a time alone: for a peer that keeps about one core busy (Mava's recurrent systems on this 2-core
CPU: the main thread at ~100%, XLA's workers at 15-30% each), two seeds in the time of one; each such peer run
records its core and its neighbours. Which configuration is each peer's faster (`--cores-check`: each peer run on
both cores, then on one; Mava's recurrent MAPPO is ~2x faster on one core, every other peer on both): bench/RESULTS.md.

Matched where jbn's flags allow (PAIRS below says per pair): envs per update E, rollout length T, PPO epochs,
minibatches, learning rate and its schedule (JaxMARL's linear anneal: `--lr-anneal`, in the pairs since 2026-12-07;
the runs before ran jbn at a constant rate), gamma, entropy coefficient, layer widths (`--hidden`, `--gru-hidden`).
Not matchable by a flag, and kept as jbn's own: ReLU everywhere (JaxMARL's IPPO and MPE MAPPO use tanh), jbn's
actor/critic MLP is two layers after the GRU where JaxMARL's and Mava's recurrent nets have one, value loss Huber
with vf_coef 1 and gradient clipping 10 per network (the peers: MSE/clipped value loss, vf_coef 0.5, global clip
0.5; jbn's flags can set these, but matching them on MPE MAPPO-RNN changed nothing measurable, bench/RESULTS.md);
jbn's `none` is MAPPO (centralised critic on the world state) where the peer is IPPO
(critic on the agent's own observation). Sable's retention network has no counterpart: it is matched by task and
budget only (jbn `--hidden 64`, Sable's embed_dim 64).

Env settings are the same on both sides (jbn's family adapters were written against these peers, envs_jax/families):
MPE simple_spread (3 agents, JaxMARL's defaults, 26 env steps per episode), Overcooked forced_coord (400 steps),
LBF 2s-8x8-2p-2f-coop (grid 8, fov 2, 2 agents, 2 food, max level 2, force_coop, time limit 100, normalised reward,
no penalty), RWARE tiny-4ag (8-high columns, 1 x 3 shelves, 4 agents, sensor range 1, queue 4, time limit 500); the
peers build them from the same JaxMARL (same commit's environments vs jaxmarl 0.2.0 in jbn's venv) and Jumanji
(1.1.0 in Mava's venv, 1.1.2 in jbn's: LBF and RWARE dynamics identical, bench/peers/mava-shim.md).

Return conventions, converted to one per pair (the number compared is the episode return as the peer reports it):
  MPE        JaxMARL's MPELogWrapper multiplies each agent's reward by N and reports the mean over agents of the
             agents' returns: mean_i(N * sum_t r_i) = sum_i sum_t r_i, the sum over agents. jbn's MPE team reward is
             that sum (envs_jax/families/mpe.py): no conversion.
  Overcooked JaxMARL logs `returned_episode_returns` from its LogWrapper, i.e. the true (sparse, 20 a soup) return of
             each agent, the same for both, before the annealed shaped reward is added in the training loop; jbn's
             episode_return is that sparse shared return (the shaping enters only the training reward): no conversion.
  LBF, RWARE Mava's episode return is the sum over steps of the mean over agents of its wrapped reward, which its
             wrappers make the team reward repeated per agent (LBF: the sum of the agents' rewards; RWARE: the shared
             reward); jbn's team reward is the same sum (LBF) / shared reward (RWARE): no conversion.
  Where a peer used another convention (none here), the conversion would go in `Pair.peer_scale`.

What is measured, per run (all wall times from the launch of the process: Python start, imports and compile in):
  rows          (wall_s, env_steps, return) of every logged point: JaxMARL one per update (training return: the
                MAPPO script logs the last completed episode's return per env and agent at the rollout's end, IPPO
                the mean over the rollout), Mava one per evaluation interval (its training episodes, event "actor")
                and per evaluation ("evaluator", 32 episodes; "absolute", 320 episodes with the best parameters),
                jbn one per update (metrics.jsonl, written once per compiled chunk, so up to a chunk late) and its
                evaluations (eval.jsonl).
  sps           env steps/s after compile: jbn's and Mava's own per-chunk figures (training only, evaluations
                excluded), median over the chunks after the first; JaxMARL from the rows' wall times (every update
                after the first).
  startup_s     launch to the first logged point minus the time that point's env steps take at the steady rate:
                Python start, imports, env and network set-up and compile (jbn also reports `compile_s`, its AOT
                compile alone).
  final         the training return averaged over the last 10% of the budget's env steps (and for Mava the last
                evaluation and the absolute metric; for jbn its final evaluation where it evaluates).
  to_target     the first logged point where the training return, averaged over a window of 10% of the budget,
                reaches the target: the peer's own final return (mean over its seeds); (wall_s, env_steps).
Summary per pair and seed: sps_ratio = jbn / peer env steps/s; wall_ratio = jbn's wall-clock to the peer's final
return / the peer's wall-clock for its whole run (launch to its last logged update: the time it took to reach its
final return; compile included on both sides); steps_ratio = jbn's env steps to that return / the budget (<= 1: in
no more env steps); the final returns at equal env steps. (The peer's own first time at the mean-over-seeds return,
`peer_to_target`, is listed too; a seed below the mean never gets there.) Targets of issue 32: sps_ratio >= 2 (jbn
none vs the peer's MAPPO), wall_ratio <= 0.5 with steps_ratio <= 1.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_jaxmarl import watch  # noqa: E402  (launch a process, follow its JSONL rows, stop it)

HERE = os.path.dirname(os.path.abspath(__file__))
JAXMARL_SHIM = os.path.join(HERE, "peers", "jaxmarl_shim.py")
MAVA_SHIM = os.path.join(HERE, "peers", "mava_shim.py")
WINDOW = 0.1  # the share of the budget over which returns are averaged (final, to_target)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One comparison: a peer's script/system with its overrides, and the jbn runs that answer it."""

    peer: str                      # "jaxmarl" | "mava" | "mava_sable"
    target: str                    # JaxMARL: baselines/<script>; Mava: the system's module
    overrides: tuple[str, ...]     # Hydra overrides besides seed and budget
    jbn_env: str
    jbn_runs: tuple[tuple[str, ...], ...]  # one jbn run per flag tuple (after --env, seed, budget)
    num_envs: int                  # env steps per update = num_envs * num_steps (the peer's and jbn's)
    num_steps: int
    budget: int                    # default env steps per seed: the peer's own TOTAL_TIMESTEPS / 1000 updates
    recurrent: bool = False
    ret_key: str = "returned_episode_returns"  # JaxMARL: the return's key in the logged rows
    steps_key: str | None = None   # JaxMARL: the env-step key in the rows (None: counted from the row index)
    steps_offset: int = 0          # added to a logged env-step count (MAPPO-RNN logs it before the update)
    peer_scale: float = 1.0        # the peer's return times this = jbn's convention (1: the same)
    notes: str = ""


_JBN_MAVA = ("--dag", "none", "--hidden", "128")
PAIRS: dict[str, Pair] = {
    "mpe_mappo_rnn": Pair(
        "jaxmarl", "MAPPO/mappo_rnn_mpe.py", ("ENV_NAME=MPE_simple_spread_v3",), "mpe_simple_spread",
        (("--dag", "none", "--recurrent", "gru", "--hidden", "128", "--gru-hidden", "128", "--eval-episodes", "0",
          "--lr-anneal"),),
        16, 128, 10_000_000, recurrent=True, ret_key="returns", steps_key="env_step", steps_offset=16 * 128,
        notes="mappo_homogenous_rnn_mpe.yaml: E 16, T 128, 4 epochs, 4 minibatches, lr 2e-3, FC 128 + GRU 128 "
              "(jbn's preset mpe has the same E, T, epochs, minibatches, lr; --hidden 128 --gru-hidden 128). JaxMARL "
              "evaluates nothing during training, so jbn runs with --eval-episodes 0."),
    "mpe_ippo_ff": Pair(
        "jaxmarl", "IPPO/ippo_ff_mpe.py", ("NUM_SEEDS=1", "ENV_NAME=MPE_simple_spread_v3"), "mpe_simple_spread",
        (("--dag", "none", "--lr", "2.5e-4", "--hidden", "64", "--eval-episodes", "0", "--lr-anneal"),),
        16, 128, 10_000_000,
        notes="ippo_ff_mpe.yaml: E 16, T 128, 4 epochs, 4 minibatches, lr 2.5e-4, 2 x 64 tanh (jbn: --lr 2.5e-4, "
              "hidden 64, ReLU). The script logs no env-step count: update k (from 0) ends at (k + 1) x 2048."),
    "overcooked_ippo": Pair(
        "jaxmarl", "IPPO/ippo_ff_overcooked.py", ("NUM_SEEDS=1", "ENV_KWARGS.layout=forced_coord"),
        "overcooked_forced_coord",
        (("--dag", "none", "--torso", "mlp", "--hidden", "64", "--eval-episodes", "0", "--lr-anneal"),),
        16, 128, 5_000_000, steps_key="env_step",
        notes="ippo_ff_overcooked.yaml with layout forced_coord: E 16, T 128, 4 epochs, 4 minibatches, lr 2.5e-4, "
              "2 x 64 tanh on the flattened grid, shaping annealed over 2.5e6 env steps (jbn's preset overcooked: "
              "the same, --torso mlp for the flattened grid)."),
}
for _env, _task in (("lbf", "2s-8x8-2p-2f-coop"), ("rware", "tiny-4ag")):
    _ovr = (f"env={_env}", f"env/scenario={_task}")
    PAIRS.update({
        f"{_env}_ff_mappo": Pair(
            "mava", "mava.systems.ppo.anakin.ff_mappo", _ovr, f"{_env}_{_task}", (_JBN_MAVA,), 32, 128, 4_096_000,
            notes="ff_mappo.yaml: 16 envs x update_batch_size 2 = 32 envs per update, T 128, 4 epochs, 2 "
                  "minibatches, lr 2.5e-4, MLP 128-128 ReLU (jbn's preset: the same; --hidden 128)."),
        f"{_env}_rec_mappo": Pair(
            "mava", "mava.systems.ppo.anakin.rec_mappo", _ovr, f"{_env}_{_task}",
            (_JBN_MAVA + ("--recurrent", "gru", "--gru-hidden", "128"),), 32, 128, 4_096_000, recurrent=True,
            notes="rec_mappo.yaml: as ff_mappo, network rnn.yaml: FC 128 - GRU 128 - FC 128 (jbn: --hidden 128 "
                  "--gru-hidden 128, two layers after the GRU)."),
        f"{_env}_sable": Pair(
            "mava_sable", "mava.systems.sable.anakin.ff_sable", _ovr, f"{_env}_{_task}",
            (("--dag", "full", "--hidden", "64"), ("--dag", "context", "--hidden", "64")), 32, 128, 4_096_000,
            notes="Sable without memory (feat/sable's ff_sable.yaml: 32 envs per update, T 128, 4 epochs, 2 "
                  "minibatches, lr 2.5e-4, retention embed_dim 64, 1 block, 1 head) against jbn's full DAG and "
                  "annealed learned context DAG (hidden 64)."),
        f"{_env}_rec_sable": Pair(
            "mava_sable", "mava.systems.sable.anakin.rec_sable", _ovr, f"{_env}_{_task}",
            (("--dag", "full", "--hidden", "64", "--recurrent", "gru"),
             ("--dag", "context", "--hidden", "64", "--recurrent", "gru")), 32, 128, 4_096_000, recurrent=True,
            notes="Sable with memory (rec_sable.yaml) against jbn's full and context DAGs with a GRU."),
    })


# ---------------------------------------------------------------- the runs
def _load():
    return [round(x, 2) for x in os.getloadavg()]


def _jsonl(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path).read().split("\n")[:-1] if line.strip()]


def _pinned(cmd, cpu):
    """cmd run on one core (`taskset -c cpu`) where cpu is given, as is otherwise."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def _hydra_dir(work, seed, cpu):
    return os.path.join(work, "hydra" if cpu is None else f"hydra_s{seed}")  # side by side: one per run


def run_jaxmarl(pair, args, seed, budget, work, cpu=None):
    script = os.path.join(os.path.abspath(args.jaxmarl), "baselines", pair.target)
    rows_path = os.path.join(work, f"{pair.peer}_{os.path.basename(pair.target)}_s{seed}.jsonl")
    updates = budget // (pair.num_envs * pair.num_steps)
    cmd = _pinned([args.jaxmarl_python, JAXMARL_SHIM, f"--config-path={os.path.join(os.path.dirname(script), 'config')}",
                   *pair.overrides, f"SEED={seed}", f"TOTAL_TIMESTEPS={budget}",
                   f"hydra.run.dir={_hydra_dir(work, seed, cpu)}"], cpu)
    env = {"JBN_ROWS": rows_path, "JBN_BASELINE": script}
    # stop once the last update is logged (the IPPO scripts then plot or render a GIF: not training)
    steps_key = pair.steps_key or "row"
    offset = pair.steps_offset if pair.steps_key else 1
    w = watch(cmd, env, rows_path, pair.ret_key, steps_key, -math.inf, updates - 1, args.limit_s,
              rows_path.replace(".jsonl", ".out"), steps_offset=offset)
    scale = 1 if pair.steps_key else pair.num_envs * pair.num_steps  # row index + 1 -> env steps
    rows = [dict(wall_s=r["wall_s"], env_steps=r["env_steps"] * scale, ret=r["win_rate"] * pair.peer_scale)
            for r in w["rows"]]
    raw = _jsonl(rows_path)
    # steady env steps/s from the process's own row times: every update after the first
    sps = None
    if len(raw) >= 3:
        sps = (len(raw) - 2) * pair.num_envs * pair.num_steps / (raw[-1]["wall_s"] - raw[1]["wall_s"])
    return dict(cmd=w["cmd"], rows=rows, sps=sps, updates_logged=len(raw))


def run_mava(pair, args, seed, budget, work, cpu=None):
    checkout = args.mava_sable if pair.peer == "mava_sable" else args.mava
    rows_path = os.path.join(work, f"{pair.peer}_{pair.target.split('.')[-1]}_{pair.jbn_env}_s{seed}.jsonl")
    updates = budget // (pair.num_envs * pair.num_steps)
    evals = min(args.mava_evals, max(1, updates - 1))
    cmd = _pinned([args.mava_python, MAVA_SHIM, checkout, pair.target, *pair.overrides, f"system.seed={seed}",
                   f"system.total_timesteps={budget}", f"arch.num_evaluation={evals}",
                   f"hydra.run.dir={_hydra_dir(work, seed, cpu)}"], cpu)
    # feat/sable's systems read the network's training outputs in the wrong order (bench/peers/mava-shim.md): the
    # shim corrects it for the Sable pairs, or not with --sable-as-is (which reproduces the branch's flat entropy)
    env = {"JBN_ROWS": rows_path}
    if pair.peer == "mava_sable" and not args.sable_as_is:
        env["JBN_SABLE_OUTPUT_ORDER"] = "fix"
    w = watch(cmd, env, rows_path, "episode_return", "t", -math.inf, 10**9, args.limit_s,
              rows_path.replace(".jsonl", ".out"))
    raw = [r for r in _jsonl(rows_path) if r.get("episode_return") is not None]
    tagged = [dict(wall_s=a["wall_s"], env_steps=a["env_steps"], ret=a["win_rate"] * pair.peer_scale,
                   event=b["event"]) for a, b in zip(w["rows"], raw)]
    acts = [r for r in _jsonl(rows_path) if r["event"] == "actor"]
    sps = statistics.median(r["steps_per_second"] for r in acts[1:]) if len(acts) > 1 else None
    evals_ = [r for r in tagged if r["event"] == "evaluator"]
    absolute = [r for r in tagged if r["event"] == "absolute"]
    return dict(cmd=w["cmd"], rows=[r for r in tagged if r["event"] == "actor"], eval_rows=evals_, sps=sps,
                last_eval=evals_[-1]["ret"] if evals_ else None, absolute=absolute[-1]["ret"] if absolute else None,
                num_evaluation=evals)


def run_jbn(name, pair, flags, args, seed, budget, work, tag, cpu=None):
    run_dir = os.path.join(work, f"jbn_{name}_{tag}_s{seed}")  # a new directory per pair, variant and seed
    extra = list(flags)
    if pair.peer.startswith("mava"):  # evaluate as often as Mava does, and its absolute metric (320 episodes)
        updates = budget // (pair.num_envs * pair.num_steps)
        extra += ["--eval-every", str(max(1, updates // min(args.mava_evals, max(1, updates - 1)))),
                  "--absolute-episodes", "320"]
    cmd = _pinned([sys.executable, "-m", "jbn.train", "--env", pair.jbn_env, *extra, "--num-seeds", "1", "--seed",
                   str(seed), "--total-steps", str(budget), "--run-dir", run_dir, "--no-checkpoint",
                   *args.jbn_args.split()], cpu)
    out_path = run_dir + ".out"
    w = watch(cmd, {"JBN_COMPILE_CACHE": "off"}, os.path.join(run_dir, "metrics.jsonl"), "episode_return", "env_steps",
              -math.inf, 10**9, args.limit_s, out_path)  # cold starts: jbn compiles every time, as the peers do
    metrics = _jsonl(os.path.join(run_dir, "metrics.jsonl"))
    chunk_sps = []
    for r in metrics:  # one sps per chunk, repeated on its rows
        if not chunk_sps or r.get("sps") != chunk_sps[-1]:
            chunk_sps.append(r.get("sps"))
    chunk_sps = [s for s in chunk_sps if s]
    sps = statistics.median(chunk_sps[1:]) if len(chunk_sps) > 1 else (chunk_sps[0] if chunk_sps else None)
    compiled = re.search(r"compiled in ([0-9.]+)s", open(out_path).read()) if os.path.exists(out_path) else None
    evals = [dict(env_steps=r["env_steps"], ret=r["return"]) for r in _jsonl(os.path.join(run_dir, "eval.jsonl"))
             if r.get("policy") == "joint" and not r.get("greedy")]  # sampled actions, as Mava evaluates
    absolute = [dict(env_steps=r["env_steps"], ret=r["return"]) for r in _jsonl(os.path.join(run_dir, "absolute.jsonl"))
                if r.get("policy") == "joint" and not r.get("greedy")]
    return dict(cmd=w["cmd"], flags=" ".join(flags), rows=[dict(wall_s=r["wall_s"], env_steps=r["env_steps"],
                                                                ret=r["win_rate"]) for r in w["rows"]],
                sps=sps, compile_s=float(compiled.group(1)) if compiled else None, eval_rows=evals,
                absolute_rows=absolute, run_dir=run_dir)


# ---------------------------------------------------------------- the numbers
def startup_s(run):
    """Launch to the first point, less the time its env steps take at the steady rate."""
    if not run["rows"] or not run["sps"]:
        return None
    first = run["rows"][0]
    return first["wall_s"] - first["env_steps"] / run["sps"]


def final_return(rows, budget):
    tail = [r["ret"] for r in rows if r["env_steps"] > (1 - WINDOW) * budget]
    return statistics.fmean(tail) if tail else None


def first_reach(rows, target, budget):
    """(wall_s, env_steps) of the first point whose return, averaged over the points of the last WINDOW x budget env
    steps, is >= target; None if never. Only points with a full window count (env steps >= WINDOW x budget): the
    first rows of a run average a handful of episodes (and JaxMARL's IPPO's first row averages its log's zeros from
    before any episode ended), so one lucky row would decide it."""
    for i, r in enumerate(rows):
        if r["env_steps"] < WINDOW * budget:
            continue
        window = [q["ret"] for q in rows[: i + 1] if q["env_steps"] > r["env_steps"] - WINDOW * budget]
        if statistics.fmean(window) >= target:
            return dict(wall_s=r["wall_s"], env_steps=r["env_steps"])
    return None


def summarize(pair, budget, seeds_runs):
    finals = [final_return(s["peer"]["rows"], budget) for s in seeds_runs]
    finals = [f for f in finals if f is not None]
    target = statistics.fmean(finals) if finals else None
    out = dict(peer_final_mean=target, per_seed=[], jbn={})
    for s in seeds_runs:
        p = s["peer"]
        row = dict(seed=s["seed"], peer_sps=p["sps"], peer_startup_s=startup_s(p),
                   peer_final=final_return(p["rows"], budget), peer_last_eval=p.get("last_eval"),
                   peer_absolute=p.get("absolute"), peer_wall_s=p["rows"][-1]["wall_s"] if p["rows"] else None,
                   peer_to_target=first_reach(p["rows"], target, budget) if target is not None else None, jbn=[])
        for j in s["jbn"]:
            reach = first_reach(j["rows"], target, budget) if target is not None else None
            pt = row["peer_to_target"]
            row["jbn"].append(dict(
                flags=j["flags"], sps=j["sps"], sps_ratio=j["sps"] / p["sps"] if j["sps"] and p["sps"] else None,
                startup_s=startup_s(j), compile_s=j["compile_s"], final=final_return(j["rows"], budget),
                wall_s=j["rows"][-1]["wall_s"] if j["rows"] else None, to_target=reach,
                wall_ratio=reach["wall_s"] / row["peer_wall_s"] if reach and row["peer_wall_s"] else None,
                steps_ratio=reach["env_steps"] / budget if reach else None,
                final_eval=j["eval_rows"][-1]["ret"] if j["eval_rows"] else None,
                absolute=j["absolute_rows"][-1]["ret"] if j["absolute_rows"] else None))
        out["per_seed"].append(row)
    return out


def _fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def report(name, summary):
    print(f"== {name}: peer final return (mean over seeds, last {WINDOW:.0%} of the budget) "
          f"{_fmt(summary['peer_final_mean'], '.3f')}")
    for row in summary["per_seed"]:
        pt = row["peer_to_target"]
        at_mean = f"{pt['wall_s']:.0f} s / {pt['env_steps']:,.0f} steps" if pt else "-"
        print(f"  seed {row['seed']}: peer {_fmt(row['peer_sps'], ',.0f')} sps, startup "
              f"{_fmt(row['peer_startup_s'], '.0f')} s, final {_fmt(row['peer_final'], '.3f')}, whole run "
              f"{_fmt(row['peer_wall_s'], '.0f')} s, at the mean final {at_mean}", flush=True)
        for j in row["jbn"]:
            t = j["to_target"]
            reach = (f"{t['wall_s']:.0f} s / {t['env_steps']:,.0f} steps (x{_fmt(j['wall_ratio'])} the peer's wall, "
                     f"x{_fmt(j['steps_ratio'])} the budget)" if t else "not reached")
            print(f"    jbn {j['flags']}: {_fmt(j['sps'], ',.0f')} sps (x{_fmt(j['sps_ratio'])}), startup "
                  f"{_fmt(j['startup_s'], '.0f')} s (compile {_fmt(j['compile_s'], '.0f')} s), final "
                  f"{_fmt(j['final'], '.3f')}, to the peer's final {reach}", flush=True)


def kept_runs(old, names, budgets, seeds):
    """An earlier results file's runs of the pairs `names` for the seeds not run again, where the pair (flags,
    sizes) and budget are unchanged: running `--seeds 1 2` after `--seeds 0` gives one pair of three seeds."""
    kept = {}
    for name in names:
        entry = old.get("pairs", {}).get(name)
        budget = budgets.get(name, budgets.get("ALL", PAIRS[name].budget))
        same = json.loads(json.dumps(dataclasses.asdict(PAIRS[name])))  # tuples as the file has them: lists
        if entry and entry.get("budget") == budget and entry.get("pair") == same:
            # each kept run keeps its window, machine and commits: its own, or in a file written before runs
            # carried one, the pair's (that file's calls had run every seed in it at once)
            window = {"provenance": entry["provenance"]} if "provenance" in entry else {}
            kept[name] = [{**window, **s} for s in entry["runs"] if s["seed"] not in seeds]
    return kept


def cores_check(args, budgets, work):
    """Each peer run on both cores, then pinned to core 0, one after the other, nothing else: which configuration
    is the peer's faster? (Mava's recurrent systems on this 2-core CPU: one core, bench/RESULTS.md.)"""
    result = dict(started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(), work=work, pairs={})
    if os.path.exists(args.out):
        result["pairs"] = {k: v for k, v in json.load(open(args.out)).get("pairs", {}).items() if k not in args.pairs}
    for name in args.pairs:
        pair = PAIRS[name]
        budget = budgets.get(name, budgets.get("ALL", pair.budget))
        runner = run_jaxmarl if pair.peer == "jaxmarl" else run_mava
        runs = []
        for seed in args.seeds:
            run = dict(seed=seed)
            for key, cpu in (("both_cores", None), ("one_core", 0)):
                load0 = _load()
                os.makedirs(os.path.join(work, key), exist_ok=True)  # the two runs' rows side by side, not overwritten
                r = runner(pair, args, seed, budget, os.path.join(work, key), cpu)
                run[key] = dict(cmd=r.get("cmd"), sps=r.get("sps"), startup_s=startup_s(r),
                                wall_s=r["rows"][-1]["wall_s"] if r.get("rows") else None,
                                load_before=load0, load_after=_load(), pinned_cpu=cpu)
            print(f"  {name} seed {seed}: {_fmt(run['both_cores']['sps'], ',.0f')} env steps/s on both cores, "
                  f"{_fmt(run['one_core']['sps'], ',.0f')} on one", flush=True)
            if args.cores_check_jbn:  # jbn's runs of the pair the same two ways
                run["jbn"] = []
                for i, flags in enumerate(pair.jbn_runs):
                    both = run_jbn(name, pair, flags, args, seed, budget, os.path.join(work, "both_cores"), i)
                    one = run_jbn(name, pair, flags, args, seed, budget, os.path.join(work, "one_core"), i, cpu=0)
                    run["jbn"].append(dict(flags=" ".join(flags), both_cores_sps=both["sps"], one_core_sps=one["sps"]))
                    print(f"    jbn {' '.join(flags)}: {_fmt(both['sps'], ',.0f')} env steps/s on both cores, "
                          f"{_fmt(one['sps'], ',.0f')} on one", flush=True)
            runs.append(run)
        ratios = [r["one_core"]["sps"] / r["both_cores"]["sps"] for r in runs
                  if r["one_core"]["sps"] and r["both_cores"]["sps"]]
        result["pairs"][name] = dict(peer=pair.peer, target=pair.target, budget=budget, runs=runs,
                                     one_core_speedup=statistics.fmean(ratios) if ratios else None,
                                     peer_commit=_git(args.jaxmarl if pair.peer == "jaxmarl" else
                                                      args.mava_sable if pair.peer == "mava_sable" else args.mava),
                                     finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    print(f"rows and logs: {work}; results: {args.out}")


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return dict(cpu=cpu, cores=os.cpu_count(), python=platform.python_version())


def _git(path):
    if not path:
        return None
    r = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jaxmarl", help="a JaxMARL checkout (baselines/ used as is)")
    p.add_argument("--jaxmarl-python", default=sys.executable, help="JaxMARL's interpreter")
    p.add_argument("--mava", help="a Mava checkout (Oct 2024 develop: ff_mappo, rec_mappo)")
    p.add_argument("--mava-sable", help="a Mava checkout of feat/sable (Sable's systems), default --mava")
    p.add_argument("--sable-as-is", action="store_true",
                   help="run feat/sable without the shim's correction of its output order (it does not learn)")
    p.add_argument("--mava-python", default=sys.executable, help="Mava's interpreter")
    p.add_argument("--pairs", nargs="+", default=["mpe_mappo_rnn", "mpe_ippo_ff", "lbf_ff_mappo"], choices=list(PAIRS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--budget", nargs="*", default=[], metavar="PAIR=STEPS",
                   help="env steps per seed for a pair (default: PAIRS' budget); ALL=STEPS for every pair")
    p.add_argument("--mava-evals", type=int, default=200,
                   help="Mava's arch.num_evaluation (its default 200; fewer for short budgets); jbn evaluates as often")
    p.add_argument("--jbn-args", default="", help="more flags for every jbn run")
    p.add_argument("--peers-side-by-side", action="store_true",
                   help="start the peer's runs of all --seeds together, each pinned to a core of its own (taskset), "
                        "then jbn's runs one at a time alone: for a peer that keeps one core busy (Mava's recurrent "
                        "systems on a CPU); needs a core per seed. Each peer run records its core and neighbours")
    p.add_argument("--cores-check", action="store_true",
                   help="run no jbn: each peer run of --pairs/--seeds twice, on both cores and then pinned to one "
                        "(taskset -c 0), to find the peer's faster configuration; default --out bench/peers/cores.json")
    p.add_argument("--cores-check-jbn", action="store_true", help="with --cores-check: jbn's runs the same two ways")
    p.add_argument("--limit-s", type=float, default=1800, help="per-run time limit")
    p.add_argument("--out", help="results file (default bench/peers/results.json; with --cores-check "
                                 "bench/peers/cores.json)")
    p.add_argument("--reanalyse", action="store_true",
                   help="run nothing: recompute the summaries of --out's pairs from their stored rows and print them")
    args = p.parse_args(argv)
    if args.cores_check_jbn and not args.cores_check:
        raise SystemExit("error: --cores-check-jbn only adds jbn's runs to --cores-check; add --cores-check")
    args.out = args.out or ("bench/peers/cores.json" if args.cores_check else "bench/peers/results.json")
    if args.reanalyse:
        result = json.load(open(args.out))
        for name, entry in result["pairs"].items():
            entry["summary"] = summarize(PAIRS[name], entry["budget"], entry["runs"])
            report(name, entry["summary"])
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        return
    args.mava_sable = args.mava_sable or args.mava
    budgets = {k: int(float(v)) for k, v in (b.split("=", 1) for b in args.budget)}
    if args.peers_side_by_side or args.cores_check:
        if args.peers_side_by_side and len(args.seeds) > (os.cpu_count() or 1):
            raise SystemExit(f"error: --peers-side-by-side runs a seed per core: {len(args.seeds)} seeds "
                             f"({' '.join(map(str, args.seeds))}) but {os.cpu_count()} cores")
        if shutil.which("taskset") is None:
            raise SystemExit("error: --peers-side-by-side and --cores-check pin runs with taskset (util-linux), "
                             "not found")
    for name in args.pairs:
        peer = PAIRS[name].peer
        if peer == "jaxmarl" and not args.jaxmarl:
            raise SystemExit(f"error: pair {name} needs --jaxmarl")
        if peer.startswith("mava") and not args.mava:
            raise SystemExit(f"error: pair {name} needs --mava")
    work = tempfile.mkdtemp(prefix="vs_peers_")
    if args.cores_check:
        return cores_check(args, budgets, work)
    result = dict(started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(), jbn_commit=_git(HERE),
                  jaxmarl_commit=_git(args.jaxmarl), mava_commit=_git(args.mava),
                  mava_sable_commit=_git(args.mava_sable),
                  sable_output_order="as-is" if args.sable_as_is else "fixed by the shim", work=work, pairs={})
    kept = {}
    if os.path.exists(args.out):  # keep the other pairs of an earlier file, and these pairs' other seeds
        old = json.load(open(args.out))
        result["pairs"] = {k: v for k, v in old.get("pairs", {}).items() if k not in args.pairs}
        kept = kept_runs(old, args.pairs, budgets, args.seeds)
        for key in ("jaxmarl_commit", "mava_commit", "mava_sable_commit"):  # a peer this call did not run keeps its
            result[key] = result[key] or old.get(key)                       # commit from the earlier file
    peer_commit = dict(jaxmarl=result["jaxmarl_commit"], mava=result["mava_commit"],
                       mava_sable=result["mava_sable_commit"])
    for name in args.pairs:
        pair = PAIRS[name]
        budget = budgets.get(name, budgets.get("ALL", pair.budget))
        seeds_runs = list(kept.get(name, []))
        runner = run_jaxmarl if pair.peer == "jaxmarl" else run_mava

        def peer_run(seed, cpu=None):
            load0 = _load()
            run = dict(runner(pair, args, seed, budget, work, cpu), load_before=load0, load_after=_load())
            if cpu is not None:
                run.update(pinned_cpu=cpu, side_by_side_with=[s for s in args.seeds if s != seed])
            return run
        side = {}
        if args.peers_side_by_side:  # every seed's peer run at once, a core each; jbn's runs below, alone
            with concurrent.futures.ThreadPoolExecutor(len(args.seeds)) as pool:
                futures = {seed: pool.submit(peer_run, seed, cpu) for cpu, seed in enumerate(args.seeds)}
            side = {seed: f.result() for seed, f in futures.items()}
        for seed in args.seeds:
            peer = side[seed] if seed in side else peer_run(seed)
            jbns = []
            for i, flags in enumerate(pair.jbn_runs):
                load0 = _load()
                jbns.append(dict(run_jbn(name, pair, flags, args, seed, budget, work, i), load_before=load0,
                                 load_after=_load()))
            window = dict(started=result["started"], machine=result["machine"], jbn_commit=result["jbn_commit"],
                          peer_commit=peer_commit[pair.peer])
            seeds_runs.append(dict(seed=seed, peer=peer, jbn=jbns, provenance=window))
            seeds_runs.sort(key=lambda s: s["seed"])
            summary = summarize(pair, budget, seeds_runs)
            # `provenance`: this call's window; each run's own (a kept seed's from an earlier call) is in its row
            result["pairs"][name] = dict(pair=dataclasses.asdict(pair), budget=budget, summary=summary,
                                         runs=seeds_runs, finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                         provenance=window)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)
        report(name, result["pairs"][name]["summary"])
    print(f"rows and logs: {work}; results: {args.out}")


if __name__ == "__main__":
    main()
