"""The cross-benchmark study (docs/benchmarks.md): every task x DAG mode as one background run directory, run one
after another, resumed where it stopped (a run directory with a config.json continues with --resume).

    python docs/repro/study/study.py plan                  # the commands, nothing run
    python docs/repro/study/study.py run [--only TASK ...] [--modes MODE ...]   # in the background: nohup ... &
    python docs/repro/study/study.py status                # progress of every run
    python docs/repro/study/study.py save                  # at a session's end: finished runs archived into
                                                           # docs/benchmarks/runs/ (jbn.archive), the newest
                                                           # checkpoint of each unfinished one into
                                                           # docs/repro/unfinished/ (sync.sh)

The protocol (Gorsane et al. 2022): the same budget and seeds for every mode of a task, evaluation at fixed
intervals (20 per run, `eval_episodes` episodes each), and the absolute metric at the end: the final parameters
over 10 x the episodes (--absolute-episodes). Run directories: runs/study/<task>__<mode> (ROOT below)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys

ROOT = os.environ.get("JBN_STUDY_ROOT", "runs/study")
HERE = os.path.dirname(os.path.abspath(__file__))
ARCHIVE = os.path.join(HERE, "..", "..", "benchmarks", "runs")  # finished runs' logs, committed (docs/benchmarks/runs)
EVAL_EPISODES = 32


@dataclasses.dataclass(frozen=True)
class Task:
    env: str
    steps: int  # env steps per seed, the same for every mode (docs/benchmarks.md says why this budget)
    seeds: int
    extra: tuple[str, ...] = ()  # flags of this task for every mode
    tag: str = ""  # names a variant of a task (other flags in `extra`): runs/study/<env>[@<tag>]__<mode>

    @property
    def name(self) -> str:
        return f"{self.env}@{self.tag}" if self.tag else self.env


# Matrix games at a 10x larger learning rate than Mava's preset (2.5e-4): the best of lr {2.5e-4, 2.5e-3} x gamma
# {0.99, 0.01} x ent_coef {0.01, 0} for both none and full in a 3e5-step, 4-seed sweep (docs/benchmarks.md)
MATRIX_LR = ("--lr", "2.5e-3")
# the queue runs in this order: cheapest first, then the tasks that need coordination most (Overcooked's forced
# coordination, LBF with 4 agents) before the costlier RWARE and SMACv2
TASKS = (
    Task("matrax_Climbing-stateless", 1_000_000, 10),
    Task("matrax_Climbing-stateless", 1_000_000, 10, MATRIX_LR, tag="lr2.5e-3"),
    Task("matrax_Penalty-100-stateless", 1_000_000, 10, MATRIX_LR, tag="lr2.5e-3"),
    Task("matrax_Penalty-100-stateless", 1_000_000, 10),
    Task("lbf_2s-8x8-2p-2f-coop", 4_096_000, 5),
    Task("mpe_simple_spread", 3_000_000, 5),
    # --torso mlp (the flattened grid, JaxMARL's feed-forward IPPO): the CNN torso trains ~100x slower on this CPU
    Task("overcooked_forced_coord", 5_000_000, 5, ("--torso", "mlp")),
    Task("lbf_15x15-4p-3f", 4_096_000, 5),
    # --hidden 128, Mava's ff_mappo width: jbn's MAPPO at width 64 ends at 4.0 (3 seeds), at 128 at 9.1 and 6.1 (2
    # seeds; Mava's own 5.5 and 7.1, bench/RESULTS.md): at 64 every mode would be compared on a weak policy
    Task("rware_tiny-4ag", 4_096_000, 5, ("--hidden", "128")),
    Task("smax_smacv2_5_units", 5_000_000, 5),
)
# none: MAPPO; full: a fixed autoregressive order (MAT/Sable's decoder structure); context: the learned DAG annealed
# to zero density (evaluated decentralised at the end: its "decentralized" rows); context_unannealed: the learned DAG
# kept throughout; context_prior0.95: annealed as context, the edge net started at edge probability 0.95 instead of
# 0.5, so the DAG is near full from the first step as the schedule's first phase (η = 1) asks (docs/benchmarks.md,
# Climbing: with the paper's 0.5 start the agents settle before the learned edges are there)
MODES = {
    "none": ("--dag", "none"),
    "full": ("--dag", "full"),
    "context": ("--dag", "context", "--anneal", "6h_vs_8z"),
    "context_unannealed": ("--dag", "context", "--anneal", "none"),
    "context_prior0.95": ("--dag", "context", "--anneal", "6h_vs_8z", "--edge-prior", "0.95"),
}


def run_dir(task: Task, mode: str) -> str:
    return os.path.join(ROOT, f"{task.name}__{mode}")


def command(task: Task, mode: str) -> list[str]:
    d = run_dir(task, mode)
    base = [sys.executable, "-m", "jbn.train", "--run-dir", d]
    if os.path.exists(os.path.join(d, "config.json")):
        return base + ["--resume"]
    return base + ["--env", task.env, *MODES[mode], "--num-seeds", str(task.seeds), "--seed", "0",
                   "--total-steps", str(task.steps), "--eval-episodes", str(EVAL_EPISODES),
                   "--absolute-episodes", str(10 * EVAL_EPISODES), *task.extra]


def archived(task: Task, mode: str) -> str:
    return os.path.join(ARCHIVE, os.path.basename(run_dir(task, mode)))


def finished(task: Task, mode: str) -> bool:
    """Finished here (absolute metric and summary written) or archived by an earlier session."""
    live = all(os.path.exists(os.path.join(run_dir(task, mode), f)) for f in ("absolute.jsonl", "summary.json"))
    return live or os.path.exists(os.path.join(archived(task, mode), "absolute.jsonl.gz"))


def progress(task: Task, mode: str) -> str:
    path = os.path.join(run_dir(task, mode), "metrics.jsonl")
    if finished(task, mode):
        return "finished"
    if not os.path.exists(path):
        return "not started"
    steps = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                steps = max(steps, int(json.loads(line)["env_steps"]))
            except (ValueError, KeyError, TypeError):
                pass
    return f"{steps / task.steps:.0%} ({steps:,} of {task.steps:,} env steps per seed)"


def selected(args) -> list[tuple[Task, str]]:
    tasks = [t for t in TASKS if not args.only or t.name in args.only]
    unknown = set(args.only or ()) - {t.name for t in TASKS} | set(args.modes or ()) - set(MODES)
    if unknown:
        sys.exit(f"error: unknown task or mode {sorted(unknown)}; tasks: {[t.name for t in TASKS]}, modes: {list(MODES)}")
    return [(t, m) for t in tasks for m in MODES if not args.modes or m in args.modes]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python docs/repro/study/study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("plan", "run", "status", "save"))
    p.add_argument("--only", nargs="+", metavar="TASK")
    p.add_argument("--modes", nargs="+", metavar="MODE")
    args = p.parse_args(argv)
    runs = selected(args)
    if args.what == "plan":
        for t, m in runs:
            print(" ".join(command(t, m)[1:]))
    elif args.what == "status":
        for t, m in runs:
            print(f"{t.name:41s} {m:20s} {progress(t, m)}")
    elif args.what == "save":
        done = [run_dir(t, m) for t, m in runs if finished(t, m) and os.path.isdir(run_dir(t, m))]
        if done:
            subprocess.run([sys.executable, "-m", "jbn.archive", *done, "--out", ARCHIVE], check=True)
        unfinished = [run_dir(t, m) for t, m in runs if not finished(t, m)
                      and os.path.isdir(os.path.join(run_dir(t, m), "checkpoints"))]
        if unfinished:
            subprocess.run(["bash", os.path.join(HERE, "..", "unfinished", "sync.sh"), "save", *unfinished], check=True)
    else:
        for t, m in runs:
            if finished(t, m):
                continue
            cmd = command(t, m)
            print("$", " ".join(cmd[1:]), flush=True)
            rc = subprocess.run(cmd).returncode
            if rc:
                sys.exit(f"{run_dir(t, m)}: exited with {rc}; the queue stops (run it again to continue)")


if __name__ == "__main__":
    main()
