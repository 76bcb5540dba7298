"""The cross-benchmark study's numbers for docs/benchmarks.md, from the run directories of study.py (finished runs
only): per task a table of every mode (absolute metric, paired difference to MAPPO, DAG density, wall-clock),
learning curves (`python -m jbn.plot`) and, across tasks, the aggregate statistics (`python -m jbn.aggregate`).

    python docs/repro/study/report.py [--root docs/benchmarks/runs] [--out docs/benchmarks] [--figures-for TASK...]

Writes OUT/tables.md (the per-task tables), OUT/<task>/ (jbn.plot's figures and CSVs), OUT/aggregate/
(jbn.aggregate's, joint evaluations) and OUT/aggregate_decentralized/ (every policy executed without its DAG). Paired differences: seed k of a mode against seed k of `none` (the same training seeds; the
evaluation's episodes share their random numbers across modes), mean with a 95% t interval over the seeds."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study import ARCHIVE, MODES, TASKS  # noqa: E402

from jbn.results.plot import load_run  # noqa: E402  (live and archived run directories alike)

# Where the optimum is known (the matrix games: 25 steps of the best entry), the share of seeds that reach it.
OPTIMUM = {"matrax_Climbing-stateless": 25 * 11.0, "matrax_Penalty-100-stateless": 25 * 10.0}


def absolute(run, policy="joint"):
    """Per seed: the absolute metric's mean return (sampled actions) of `policy`."""
    sel = [r for r in load_run(run).absolutes if r["policy"] == policy and not r["greedy"]]
    if not sel and policy == "decentralized":  # mode none: its joint rows are decentralised already
        return absolute(run, "joint")
    return {r["seed"]: r["return"] for r in sel}


def train_seconds(run):
    """Wall-clock of the training chunks (compile excluded): each chunk's env steps of all runs / its SPS (a live
    run's metrics.jsonl, or its archive; archives made before jbn.archive kept `sps` have none: NaN), and the compile time from summary.json."""
    r = load_run(run)
    first = [m for m in r.metrics if m["seed"] == r.config["seed"]]
    prev, total = 0, 0.0
    for m in first:
        total += (m["env_steps"] - prev) * r.config["num_seeds"] / m["sps"] if "sps" in m else float("nan")
        prev = m["env_steps"]
    summary = json.load(open(os.path.join(run, "summary.json")))
    return total, summary.get("compile_s", float("nan"))


def final_density(run):
    sel = [m["dag_density"] for m in load_run(run).metrics]
    return float(np.mean(sel[-10:])) if sel else float("nan")


def paired(a: dict, b: dict):
    seeds = sorted(set(a) & set(b))
    d = np.array([b[s] - a[s] for s in seeds])
    if len(d) < 2:
        return float("nan"), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def mean_se(v):
    v = np.asarray(list(v), float)
    return v.mean(), v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")


def previous_wall_clock(path) -> dict:
    """{(task heading, mode): its "train s (× none)" cell} from an earlier tables.md: the wall-clock of runs archived
    before jbn.archive kept `sps`, measured by the report that ran while their live run directories existed."""
    cells, heading = {}, None
    if not os.path.exists(path):
        return cells
    for line in open(path):
        if line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("| ") and heading and not line.startswith(("| mode", "|---")):
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cols) >= 7 and not cols[6].startswith(("nan", "—")):
                cells[(heading, cols[0])] = cols[6]
    return cells


def task_table(root, task, kept=None) -> list[str]:
    dirs = {m: os.path.join(root, f"{task.name}__{m}") for m in MODES}
    done = {m: d for m, d in dirs.items() if os.path.exists(os.path.join(d, "absolute.jsonl"))
            or os.path.exists(os.path.join(d, "absolute.jsonl.gz"))}
    if "none" not in done:
        return []
    base = absolute(done["none"])
    base_s, _ = train_seconds(done["none"])
    opt = OPTIMUM.get(task.env)
    heading = f"{task.name}" + (f" ({' '.join(task.extra)})" if task.extra else "")
    lines = [f"### {heading}", "",
             f"{task.steps:,} env steps per seed, {task.seeds} seeds; absolute metric: the final parameters over 320 "
             f"episodes per seed (sampled actions); Δ: paired by seed against `none`, mean [95% t interval].", "",
             "| mode | joint return | decentralised return | Δ joint vs none | Δ dec. vs none | final ρ | train s "
             "(× none) | compile s |" + (" seeds at optimum (joint / dec.) |" if opt else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if opt else "")]
    for m, d in done.items():
        j, dec = absolute(d, "joint"), absolute(d, "decentralized")
        (jm, js), (dm, ds) = mean_se(j.values()), mean_se(dec.values())
        pj, pd = paired(base, j), paired(base, dec)
        secs, comp = train_seconds(d)
        if math.isfinite(secs) and math.isfinite(base_s):
            wall = f"{secs:.0f} ({secs / base_s:.2f})"
        else:  # archived without SPS: the cell an earlier report measured from the live runs, if there is one
            wall = (kept or {}).get((heading, m), "— (archived without SPS)")
        row = (f"| {m} | {jm:.3g} ± {js:.2g} | {dm:.3g} ± {ds:.2g} | {pj[0]:+.3g} [{pj[1]:+.3g}, {pj[2]:+.3g}] | "
               f"{pd[0]:+.3g} [{pd[1]:+.3g}, {pd[2]:+.3g}] | {final_density(d):.2f} | {wall} | {comp:.0f} |")
        if opt:
            row += (f" {sum(v >= 0.95 * opt for v in j.values())} / {sum(v >= 0.95 * opt for v in dec.values())} "
                    f"of {len(j)} |")
        lines.append(row)
    return lines + [""]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python docs/repro/study/report.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=ARCHIVE, help="the run directories (default: the archived ones)")
    p.add_argument("--out", default="docs/benchmarks")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--figures-for", nargs="+", metavar="TASK", choices=[t.name for t in TASKS],
                   help="redraw only these tasks' learning curves (default: every finished task's; the tables and "
                        "the aggregate are always redone, the other tasks' figures are left as they are)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    text, finished = [], {}
    kept = previous_wall_clock(os.path.join(args.out, "tables.md"))
    for task in TASKS:
        lines = task_table(args.root, task, kept)
        text += lines
        if not lines:
            continue
        runs = [os.path.join(args.root, f"{task.name}__{m}") for m in MODES
                if any(os.path.exists(os.path.join(args.root, f"{task.name}__{m}", f))
                       for f in ("absolute.jsonl", "absolute.jsonl.gz"))]
        if len(runs) == len(MODES) and (task.env not in finished or task.tag):
            finished[task.env] = runs  # the aggregate: one arm per env, the tagged (tuned) one where it exists
        if not args.no_figures and (args.figures_for is None or task.name in args.figures_for):
            subprocess.run([sys.executable, "-m", "jbn.plot", *runs, "--out", os.path.join(args.out, task.name),
                            "--labels", *[os.path.basename(r).split("__")[1] for r in runs]], check=True)
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write("\n".join(text) + "\n")
    print("\n".join(text))
    if finished and not args.no_figures:
        seeds = min(t.seeds for t in TASKS if t.env in finished)
        for policy, out in (("joint", "aggregate"), ("decentralized", "aggregate_decentralized")):
            # decentralized: every mode executed without its DAG (mode none: its joint rows), what a BN policy
            # annealed for decentralised execution is meant to keep
            subprocess.run([sys.executable, "-m", "jbn.aggregate", *[r for runs in finished.values() for r in runs],
                            "--runs", str(seeds), "--policy", policy, "--out", os.path.join(args.out, out)],
                           check=True)


if __name__ == "__main__":
    main()
