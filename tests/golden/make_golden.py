"""Writes the golden runs: the outputs of two short runs as the reference code wrote them (b5299a7, before the
host-side redesign; a run whose numbers changed by design, from the commit that changed them), so that
tests/test_golden.py can hold every later version of the code to the same numbers.

Layout. XLA's CPU code is generated for the processor it runs on and another processor may round differently, so
each machine has its own copy of the reference, computed there by the same reference commits:

    tests/golden/ref/<cpu_flags_sha256>/machine.json   cpu, jax, flags hash, and `commits`: the commit that wrote
                                                       each run there (and `why`)
    tests/golden/ref/<cpu_flags_sha256>/<run>/         config.json, metrics.jsonl, eval.jsonl, summary.json and one
                                                       checkpoint from the middle of the run (the state the older
                                                       code wrote, which a newer trainer must resume bit for bit)

tests/test_golden.py uses the directory whose machine.json matches the machine it runs on (flags hash and jax
version) and skips elsewhere.

Add a machine (a new processor or jax version; a few minutes):

    python tests/golden/make_golden.py --add-machine

makes every run this machine's directory lacks, each by its commit (the machines' machine.json `commits`; where
they differ, the newest: a machine keeps an older commit's run only where the newer commit wrote the same numbers)
in a temporary git worktree, then commit tests/golden/ref/<this machine's hash>/. By hand, per commit (what
--add-machine does): `git worktree add --detach /tmp/golden-<sha> <sha>`, then in /tmp/golden-<sha>
`PYTHONPATH=/tmp/golden-<sha> python tests/golden/make_golden.py <run>` (check that `python -c 'import jbn;
print(jbn.__file__)'` under that PYTHONPATH names the worktree's jbn, not an editable install's), copy the run
directory it wrote (tests/golden/<run>/ before the ref/ layout, tests/golden/ref/<hash>/<run>/ since) into this
tree's tests/golden/ref/<hash>/, write machine.json, and `git worktree remove /tmp/golden-<sha>`. b5299a7 has no
make_golden.py: use 443bedc (its script; jbn/ and envs_jax/ are b5299a7's), which writes both runs. If a run made
from an older commit then fails, a later commit that changed another run's rounding by design may change this one's
on this processor too (smax3m_none on e5b590441e01fc46: IdDense, a37de52): make it from that commit by hand and say
so in machine.json's `why`.

A change of a run's numbers by design: at the commit that makes it (committed), on the machine at hand,

    python tests/golden/make_golden.py cg2_context --why "..."

writes that run again into this machine's directory (its commit becomes HEAD) and deletes the other machines'
copies of it, which can't be remade here (a machine left with no runs goes entirely); on those machines the run's
tests skip until someone there runs --add-machine. With no NAME it writes every run: only ever on reference code.
"""
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import jax

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "ref")

RUNS = {
    # the learned DAG with a learned order and the density annealing: every part of the BN-MAPPO loss
    "cg2_context": dict(env="cg_2", dag="context", anneal="6h_vs_8z", num_seeds=2, num_envs=4, num_steps=25,
                        total_steps=2000, updates_per_chunk=2, eval_every=5, eval_episodes=8),
    # SMAX with dead-agent masks, wins, the minibatch shuffle and the SMAX evaluation analyses
    "smax3m_none": dict(env="smax_3m", dag="none", num_seeds=1, num_envs=4, num_steps=16, total_steps=384,
                        updates_per_chunk=2, eval_every=3, eval_episodes=2),
}
MIDDLE = {"cg2_context": 10, "smax3m_none": 2}
# The first commit with this script: the one that writes a run whose commit predates it (b5299a7's jbn/ and envs_jax/).
FIRST_SCRIPT = "443bedcc24f219295cd799089b930cae6292a95f"


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


def machine_dir(flags: str | None = None) -> str:
    return os.path.join(REF, flags or cpu_flags_sha256() or "unknown")


def references() -> dict[str, dict]:
    """Every machine's machine.json, by the name of its directory under ref/."""
    out = {}
    for d in sorted(os.listdir(REF)) if os.path.isdir(REF) else []:
        path = os.path.join(REF, d, "machine.json")
        if os.path.exists(path):
            out[d] = json.load(open(path))
    return out


def reference_for(flags: str, jax_version: str) -> str | None:
    """The directory of the reference computed on a machine with these CPU flags and this jax, or None."""
    for d, m in references().items():
        if m.get("cpu_flags_sha256") == flags and m.get("jax") == jax_version:
            return os.path.join(REF, d)
    return None


def describe(m: dict) -> str:
    runs = ", ".join(f"{n} @ {c[:7]}" for n, c in sorted(m.get("commits", {}).items()))
    return f"{m.get('cpu_flags_sha256')} ({m.get('cpu')}, jax {m.get('jax')}: {runs})"


def no_reference_message(flags: str, jax_version: str) -> str:
    have = "; ".join(describe(m) for m in references().values()) or "none"
    return (f"no golden reference for this machine ({cpu_model()}, CPU flags {flags}, jax {jax_version}): "
            f"XLA's CPU numbers may differ between processors, so each machine has its own, made by the reference "
            f"commits. References exist for {have}. Make this machine's with `python tests/golden/make_golden.py "
            f"--add-machine` (a few minutes) and commit tests/golden/ref/{flags}/")


def this_machine() -> dict:
    return {"cpu": cpu_model(), "machine": platform.machine(), "jax": jax.__version__,
            "cpu_flags_sha256": cpu_flags_sha256()}


def write_machine_json(out_dir: str, commits: dict, commit: str, why: str) -> None:
    m = this_machine()
    with open(os.path.join(out_dir, "machine.json"), "w") as f:
        json.dump({"cpu": m["cpu"], "machine": m["machine"], "jax": m["jax"], "commit": commit,
                   "middle_checkpoint": MIDDLE, "cpu_flags_sha256": m["cpu_flags_sha256"],
                   "commits": dict(sorted(commits.items())), "why": why}, f, indent=1)
        f.write("\n")


def _git(*args, cwd=HERE) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, check=True).stdout.strip()


def _write_runs(names, out_dir: str) -> None:
    from jbn import train
    from jbn.training.config import Config

    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        out = os.path.join(out_dir, name)
        shutil.rmtree(out, ignore_errors=True)
        train.run(Config(**RUNS[name], run_dir=out, checkpoint_every_s=0.0, keep_checkpoints=100))
        keep = str(MIDDLE[name])
        for u in os.listdir(os.path.join(out, "checkpoints")):
            if u != keep:
                shutil.rmtree(os.path.join(out, "checkpoints", u))
        os.remove(os.path.join(out, ".lock"))


def _drop_elsewhere(names, commit: str) -> None:
    """The other machines' copies of runs whose numbers changed by design are stale and can't be remade here."""
    here = os.path.basename(machine_dir())
    for d, m in references().items():
        if d == here:
            continue
        path = os.path.join(REF, d)
        for name in names:
            shutil.rmtree(os.path.join(path, name), ignore_errors=True)
            m.get("commits", {}).pop(name, None)
        if not any(os.path.isdir(os.path.join(path, n)) for n in RUNS):
            shutil.rmtree(path)
            print(f"removed machine {d}: it had no run left (remake it there with --add-machine)")
            continue
        m["why"] = (f"{m.get('why', '')}; {', '.join(sorted(names))} removed: written again at {commit[:10]} on "
                    f"{here} (remake here with --add-machine)")
        with open(os.path.join(path, "machine.json"), "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")
        print(f"removed {sorted(names)} from machine {d}")


def _latest(commits: set) -> str:
    """The newest of the commits (each an ancestor of the next): where a machine kept an older commit's run, the newer
    commit gave it the same numbers there, but it may not on this machine (smax3m_none: b5299a7, a37de52)."""
    latest = commits.pop()
    for c in commits:
        if subprocess.run(["git", "merge-base", "--is-ancestor", latest, c], cwd=HERE).returncode == 0:
            latest = c
    return latest


def add_machine() -> None:
    """Makes every run this machine's directory lacks, each by its commit, in a temporary git worktree."""
    out_dir = machine_dir()
    mine = references().get(os.path.basename(out_dir))
    if mine is not None and mine.get("jax") != jax.__version__:
        print(f"{out_dir} was made with jax {mine.get('jax')}; this is {jax.__version__}: making every run again")
        shutil.rmtree(out_dir)
        mine = None
    others = [m for d, m in references().items() if d != os.path.basename(out_dir)]
    commits = {}
    for name in RUNS:
        if mine is not None and os.path.isdir(os.path.join(out_dir, name)):
            continue
        have = {m["commits"][name] for m in others if name in m.get("commits", {})}
        if not have:
            sys.exit(f"{name}: no machine has it; write it from the commit whose numbers it should hold "
                     f"(`make_golden.py {name}` there)")
        commits[name] = _latest(have)
    if not commits:
        print(f"{out_dir} already has every run")
        return
    root = _git("rev-parse", "--show-toplevel")
    os.makedirs(out_dir, exist_ok=True)
    for commit in sorted(set(commits.values())):
        names = sorted(n for n, c in commits.items() if c == commit)
        wt = tempfile.mkdtemp(prefix=f"golden-{commit[:7]}-")
        os.rmdir(wt)
        _git("worktree", "add", "--detach", wt, commit, cwd=root)
        try:
            script = os.path.join(wt, "tests", "golden", "make_golden.py")
            if not os.path.exists(script):  # b5299a7: the script came one commit later, with the same jbn/
                os.makedirs(os.path.dirname(script), exist_ok=True)
                with open(script, "w") as f:
                    f.write(_git("show", f"{FIRST_SCRIPT}:tests/golden/make_golden.py", cwd=root) + "\n")
            env = {**os.environ, "PYTHONPATH": wt}
            found = subprocess.run([sys.executable, "-c", "import jbn; print(jbn.__file__)"], env=env, cwd=wt,
                                   capture_output=True, text=True, check=True).stdout.strip()
            if not found.startswith(wt + os.sep):
                sys.exit(f"PYTHONPATH={wt} imports {found}, not the worktree's jbn: use an environment without an "
                         f"editable install of jbn that takes precedence")
            print(f"writing {names} with the code at {commit[:10]} ({wt})", flush=True)
            subprocess.run([sys.executable, script, *names], env=env, cwd=wt, check=True)
            for name in names:
                new = os.path.join(wt, "tests", "golden", "ref", cpu_flags_sha256(), name)
                src = new if os.path.isdir(new) else os.path.join(wt, "tests", "golden", name)
                shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
                shutil.copytree(src, os.path.join(out_dir, name))
        finally:
            _git("worktree", "remove", "--force", wt, cwd=root)
    first = next(iter(others), {})
    write_machine_json(out_dir, {**(mine or {}).get("commits", {}), **commits},
                       (mine or first).get("commit", min(commits.values())),
                       (mine or {}).get("why") or "made by the same reference commits as the other machines' "
                                                  "(make_golden.py --add-machine)")
    print(f"wrote {out_dir}: commit it")


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Write the golden runs' outputs (tests/test_golden.py's reference).")
    p.add_argument("names", nargs="*", default=[], metavar="NAME",
                   help=f"the runs to write again, of {sorted(RUNS)} (default: all), here from this commit; the "
                        f"other machines' copies of them are deleted")
    p.add_argument("--why", default=None, help="why these runs' numbers changed (kept in machine.json)")
    p.add_argument("--add-machine", action="store_true",
                   help="make the runs this machine lacks, each by its reference commit (in a git worktree)")
    args = p.parse_args(argv)
    if args.add_machine:
        if args.names or args.why:
            p.error("--add-machine takes no NAME or --why")
        return add_machine()
    unknown = sorted(set(args.names) - set(RUNS))
    if unknown:
        p.error(f"unknown run(s) {unknown}; valid: {sorted(RUNS)}")
    names = args.names or sorted(RUNS)
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--", "../../jbn", "../../envs_jax")
    if dirty:
        sys.exit(f"uncommitted changes in jbn/ or envs_jax/: commit the code whose numbers become the reference "
                 f"first (machine.json names its commit)\n{dirty}")
    out_dir = machine_dir()
    _write_runs(names, out_dir)
    path = os.path.join(out_dir, "machine.json")
    old = json.load(open(path)) if os.path.exists(path) and args.names else {}
    if old.get("jax", jax.__version__) != jax.__version__:
        old = {}  # the runs not written again were computed by another jax: not this machine's reference any more
        for name in set(RUNS) - set(names):
            shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
    write_machine_json(out_dir, {**old.get("commits", {}), **{name: commit for name in names}},
                       old.get("commit", commit), args.why or old.get("why", ""))
    _drop_elsewhere(names, commit)


if __name__ == "__main__":
    sys.exit(main())
