"""Writes tests/golden/: the outputs of two short runs as the code at b5299a7 (before the host-side redesign) wrote
them, so that tests/test_golden.py can hold every later version of the code to the same numbers.

    python tests/golden/make_golden.py      # only ever run on the reference code: its output is the reference
    python tests/golden/make_golden.py cg2_context --why "..."   # one run again, after a change of its numbers by
                                                                # design: from the commit that made it (committed)

Each run directory keeps config.json, metrics.jsonl, eval.jsonl, summary.json and one checkpoint from the middle of
the run (the state the older code wrote, which a newer trainer must resume bit for bit). machine.json records where
the numbers were computed: XLA's CPU code may round differently on another processor (tests/test_golden.py).
"""
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys

import jax

from jbn import train
from jbn.training.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))

RUNS = {
    # the learned DAG with a learned order and the density annealing: every part of the BN-MAPPO loss
    "cg2_context": dict(env="cg_2", dag="context", anneal="6h_vs_8z", num_seeds=2, num_envs=4, num_steps=25,
                        total_steps=2000, updates_per_chunk=2, eval_every=5, eval_episodes=8),
    # SMAX with dead-agent masks, wins, the minibatch shuffle and the SMAX evaluation analyses
    "smax3m_none": dict(env="smax_3m", dag="none", num_seeds=1, num_envs=4, num_steps=16, total_steps=384,
                        updates_per_chunk=2, eval_every=3, eval_episodes=2),
}
MIDDLE = {"cg2_context": 10, "smax3m_none": 2}


def cpu_flags_sha256() -> str:
    """A short hash of the processor's feature flags (XLA's CPU code is generated for them)."""
    import hashlib

    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return ""
    return hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Write the golden runs' outputs (tests/test_golden.py's reference).")
    p.add_argument("names", nargs="*", default=[], metavar="NAME",
                   help=f"the runs to write again, of {sorted(RUNS)} (default: all); the others and their commits are kept")
    p.add_argument("--why", default=None, help="why these runs' numbers changed (kept in machine.json)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(RUNS))
    if unknown:
        p.error(f"unknown run(s) {unknown}; valid: {sorted(RUNS)}")
    names = args.names or sorted(RUNS)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "../../jbn", "../../envs_jax"], capture_output=True,
                           text=True, cwd=HERE).stdout.strip()
    if dirty:
        sys.exit(f"uncommitted changes in jbn/ or envs_jax/: commit the code whose numbers become the reference "
                 f"first (machine.json names its commit)\n{dirty}")
    for name in names:
        kw = RUNS[name]
        out = os.path.join(HERE, name)
        shutil.rmtree(out, ignore_errors=True)
        cfg = Config(**kw, run_dir=out, checkpoint_every_s=0.0, keep_checkpoints=100)
        train.run(cfg)
        keep = str(MIDDLE[name])
        for u in os.listdir(os.path.join(out, "checkpoints")):
            if u != keep:
                shutil.rmtree(os.path.join(out, "checkpoints", u))
        os.remove(os.path.join(out, ".lock"))
    path = os.path.join(HERE, "machine.json")
    old = json.load(open(path)) if os.path.exists(path) and args.names else {}
    commits = {**old.get("commits", {}), **{name: commit for name in names}}
    with open(path, "w") as f:
        json.dump({"cpu": cpu_model(), "machine": platform.machine(), "jax": jax.__version__,
                   "commit": old.get("commit", commit), "middle_checkpoint": MIDDLE,
                   "cpu_flags_sha256": cpu_flags_sha256(), "commits": commits,
                   "why": args.why or old.get("why", "")}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
