"""Wall-clock and env steps to a training win rate, jbn against JaxMARL's own MAPPO-RNN, in one window.

    python bench/vs_jaxmarl.py --checkout ~/JaxMARL --python ~/jaxmarl-venv/bin/python --seeds 0 1 --out vs_jaxmarl.json

Runs, one after the other and each alone on the machine, for every seed:
  1. JaxMARL's `baselines/MAPPO/mappo_rnn_smax.py` from a JaxMARL checkout, **unmodified**, with its own config
     (`mappo_homogenous_rnn_smax.yaml`: HeuristicEnemySMAX, see_enemy_actions, walls_cause_death, attack_mode
     closest, 128 envs x 128 steps, FC 128 + GRU 128) and `MAP_NAME=<map> SEED=<seed>` as Hydra overrides. Its
     interpreter (`--python`) needs hydra-core and the checkout's dependencies; `wandb` is replaced by a stand-in
     module that records every row the script logs, with its wall time.
  2. `python -m jbn.train --env smax_<map> --dag none --recurrent gru --num-seeds 1 --seed <seed>` (plus `--jbn-args`;
     given several strings, one such run per string, all after the same JaxMARL run).

For each, the wall time is counted from the launch of its process (Python start, imports and compile included) to
the moment its first logged update with a training win rate >= --threshold is seen (JaxMARL logs every update
through an io_callback; jbn writes metrics.jsonl once per compiled chunk, so its times are late by up to a chunk).
A run is stopped a few updates after that. Env steps are those consumed when the update's rollout ended (JaxMARL
logs the count before its update, so its update's 128 x 128 steps are added).
The same env settings hold for both: jbn's smax_<map> is JaxMARL's HeuristicEnemySMAX with those options (README).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# The stand-in for `wandb`, run in JaxMARL's interpreter: records each logged row (and its time) to $JBN_ROWS, then
# runs the baseline's Hydra main unchanged.
SHIM = r"""
import json, os, sys, time, types
T0 = time.perf_counter()
OUT = open(os.environ["JBN_ROWS"], "w")
def log(row, *a, **k):
    row = {key: float(v) for key, v in row.items()}
    row["wall_s"] = time.perf_counter() - T0
    OUT.write(json.dumps(row) + "\n"); OUT.flush()
sys.modules["wandb"] = types.SimpleNamespace(init=lambda *a, **k: None, log=log, finish=lambda *a, **k: None)
baselines = os.environ["JBN_BASELINE_DIR"]
sys.path.insert(0, baselines)
os.chdir(baselines)
import mappo_rnn_smax
mappo_rnn_smax.main()
"""


def watch(cmd, env, rows_path, win_key, steps_key, threshold, extra_rows, limit_s, out_path, steps_offset=0):
    """Launch cmd; follow its JSONL rows; stop `extra_rows` rows after the first with win >= threshold."""
    if os.path.exists(rows_path):
        os.remove(rows_path)
    t0 = time.perf_counter()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        rows, seen, first, stop_at = [], 0, None, None
        while True:
            finished = proc.poll() is not None
            if os.path.exists(rows_path):
                complete = open(rows_path).read().split("\n")[:-1]  # whole lines only: the last may be in writing
                for line in complete[seen:]:
                    row = json.loads(line)
                    if row.get(win_key) is None:
                        continue
                    rows.append(dict(wall_s=time.perf_counter() - t0, env_steps=row[steps_key] + steps_offset,
                                     win_rate=row[win_key]))
                    if first is None and row[win_key] >= threshold:
                        first, stop_at = rows[-1], len(rows) + extra_rows
                seen = len(complete)
            if finished or (stop_at is not None and len(rows) >= stop_at) or time.perf_counter() - t0 > limit_s:
                break
            time.sleep(0.5)
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    return dict(cmd=" ".join(cmd), first_at_threshold=first, rows=rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkout", required=True, help="a JaxMARL checkout (its baselines/MAPPO is used as is)")
    p.add_argument("--python", default=sys.executable, help="the interpreter that runs JaxMARL's script")
    p.add_argument("--map", default="6h_vs_8z")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--extra-rows", type=int, default=3, help="rows logged after the threshold before stopping")
    p.add_argument("--limit-s", type=float, default=3600, help="per-run time limit")
    p.add_argument("--total-steps", type=int, default=1_000_000, help="jbn's --total-steps (its run's length)")
    p.add_argument("--jbn-args", nargs="+", default=[""],
                   help="more `jbn.train` flags, e.g. '--dag context'; several strings: one jbn run per string, each "
                        "after the same JaxMARL run (e.g. '' '--eval-episodes 0')")
    p.add_argument("--out", default="vs_jaxmarl.json")
    args = p.parse_args()
    baselines = os.path.join(os.path.abspath(args.checkout), "baselines", "MAPPO")
    if not os.path.exists(os.path.join(baselines, "mappo_rnn_smax.py")):
        raise SystemExit(f"error: --checkout {args.checkout}: no baselines/MAPPO/mappo_rnn_smax.py there")
    commit = subprocess.run(["git", "-C", args.checkout, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    work = tempfile.mkdtemp(prefix="vs_jaxmarl_")
    shim = os.path.join(work, "jaxmarl_shim.py")
    with open(shim, "w") as f:
        f.write(SHIM)
    result = dict(jaxmarl_commit=commit.strip() or None, map=args.map, threshold=args.threshold, runs=[])
    for seed in args.seeds:
        rows = os.path.join(work, f"jaxmarl_s{seed}.jsonl")
        jm = watch([args.python, shim, f"--config-path={os.path.join(baselines, 'config')}", f"MAP_NAME={args.map}",
                    f"SEED={seed}", f"hydra.run.dir={os.path.join(work, 'hydra')}"],
                   {"JBN_ROWS": rows, "JBN_BASELINE_DIR": baselines}, rows, "win_rate", "env_step", args.threshold,
                   args.extra_rows, args.limit_s, os.path.join(work, f"jaxmarl_s{seed}.out"), steps_offset=128 * 128)
        runs = []
        for i, extra in enumerate(args.jbn_args):
            run_dir = os.path.join(work, f"jbn_s{seed}" + (f"_v{i}" if i else ""))
            jb = watch([sys.executable, "-m", "jbn.train", "--env", f"smax_{args.map}", "--dag", "none", "--recurrent",
                        "gru", "--num-seeds", "1", "--seed", str(seed), "--total-steps", str(args.total_steps),
                        "--run-dir", run_dir, *extra.split()],
                       {"JBN_COMPILE_CACHE": "off"}, os.path.join(run_dir, "metrics.jsonl"), "win_rate", "env_steps",
                       args.threshold,
                       args.extra_rows, args.limit_s, os.path.join(work, f"jbn_s{seed}_v{i}.out"))
            runs.append(dict(jb, jbn_args=extra))
        # "jbn": the first variant (the format of earlier results); "jbn_variants": all of them
        result["runs"].append(dict(seed=seed, jaxmarl=jm, jbn=runs[0], jbn_variants=runs))
        at = lambda r: f"{r['wall_s']:.0f} s, {r['env_steps']:,.0f} env steps" if r else "not reached"  # noqa: E731
        a = jm["first_at_threshold"]
        print(f"seed {seed}: JaxMARL MAPPO-RNN {at(a)}", flush=True)
        for jb in runs:
            b = jb["first_at_threshold"]
            ratio = b["wall_s"] / a["wall_s"] if a and b else float("nan")
            print(f"  jbn {jb['jbn_args'] or '(defaults)'}: {at(b)}; wall-clock ratio {ratio:.2f}", flush=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    print(f"rows and logs: {work}; results: {args.out}")


if __name__ == "__main__":
    main()
