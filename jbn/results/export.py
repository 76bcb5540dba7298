"""Run directories as marl-eval's JSON (InstaDeep's `marl-eval`, the format Mava's runs write), on the host.

    python -m jbn.export RUN_DIR... --marl-eval OUT.json [--policy joint|decentralized] [--greedy]
                         [--algorithm NAME...] [--env-name NAME] [--task-name NAME] [--absolute-from-final]

The file (marl-eval's README, "Data Structure for Raw Experiment data"; keys as its `JsonLogger` writes them):

    {env: {task: {algorithm: {"seed_<S>": {
        "step_0": {"step_count": <env steps>, "return": [per-episode returns], "win_rate": [fraction won]},
        "step_1": ...,                               (one step per periodic evaluation, in order of env steps)
        "absolute_metrics": {"return": [...], "win_rate": [...]}}}}}}

- env, task: from jbn's env name, split at its first "_" (`lbf_2s-8x8-2p-2f-coop` -> lbf / 2s-8x8-2p-2f-coop,
  `smax_6h_vs_8z` -> smax / 6h_vs_8z, `cg_2` -> cg / 2); an env given as `package.module:factory` is env "custom",
  task the spec. `--env-name`, `--task-name` override them. Every key is written in lower case: marl-eval lowers
  every key when it reads a file, so names that differ only in case would merge there anyway.
- algorithm: `mappo` for a DAG mode without parents, else `bn_<mode>` (`bn_line`, `bn_full`,
  `bn_context`), `_annealed` after a learned mode whose density is annealed, `_prior<p>` after a learned mode
  started at another edge probability than the paper's 0.5 (`--edge-prior 0.95`: `bn_context_annealed_prior0.95`),
  `rec_` before a recurrent (GRU) run, and
  `_decentralized` after a mode with parents when `--policy decentralized` is exported (the same parameters executed
  without the DAG; a mode without parents has no separate decentralised rows, its joint rows are that policy).
  `--algorithm NAME` names every run dir's algorithm (one name, or one per run dir). A sweep's run dir gives one
  algorithm per sweep point: the name, a space and the point (`bn_context lr=5e-4 ent_coef=0.01`; marl-eval forbids
  commas in algorithm names).
- seed: `seed_<S>` with S the training seed of the rows (`--seed S --num-seeds n` runs seeds S..S+n-1). Run dirs of
  the same env, task and algorithm merge (different seeds); the same seed twice is an error naming both dirs.
- steps: the rows of eval.jsonl of the chosen `--policy` (default joint) and sampling (`--greedy`; default
  sampled), one `step_<i>` per evaluation, i = 0, 1, ... in order of env steps. step_count: env steps per seed at
  that evaluation (jbn's env_steps). "return": the evaluation's per-episode returns (the rows' "returns"); a run
  written before rows carried them gives the episodes' mean as a one-element list (said once on stderr).
  "win_rate" (envs with wins: SMAX): one element, the fraction of episodes won (marl-eval's "1 element for a
  metric such as a win rate"; Mava's own files hold it as a percentage).
- absolute_metrics (the protocol's absolute metric, Gorsane et al. 2022): the rows of absolute.jsonl, written by a
  run trained with `--absolute-episodes N` (the final parameters over N = 10 x the periodic episodes). A run without
  absolute.jsonl has none (said on stderr; marl-eval's `create_matrices_for_rliable` needs them) unless
  `--absolute-from-final` copies its final evaluation's lists there (a stand-in: fewer episodes than the protocol's).

Reads config.json, eval.jsonl and absolute.jsonl (a multi-host run's eval.p<I>.jsonl beside them, or the gzipped
copies of an archived run; an unreadable line, a write cut short, is skipped with a note). Bad input is one
`error:` line and exit code 2. Plain Python and json: no JAX, no marl-eval.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import Annotated, Callable, Literal, NamedTuple, Optional, Sequence

import tyro

from ..cmdline.flags import parse

from ..policy.dag_modes import has_parents, is_learned
from ..training.labels import point_label
from .plot import PlotError, log_files, read_config, read_jsonl, skipped_note

Policy = Literal["joint", "decentralized"]
ABSOLUTE = "absolute_metrics"  # marl-eval's key of a run's absolute metric
CUSTOM_ENV = "custom"  # the env name of a `package.module:factory` env


class ExportError(Exception):
    """Bad input (run directory, files, options): reported as one `error:` line, exit code 2."""


# ---------------------------------------------------------------------------------------------------- names


def env_task(env: str) -> tuple[str, str]:
    """(marl-eval env, task) of a jbn env name (module docstring), lower case."""
    if ":" in env:
        return CUSTOM_ENV, env.lower()
    family, _, task = env.partition("_")
    return family.lower(), (task or family).lower()


def algorithm_name(config: dict, policy: Policy = "joint") -> str:
    """The algorithm name of a run from its config (module docstring). ExportError without a DAG mode."""
    mode = config.get("dag")
    if mode is None:
        raise ExportError("its config.json has no 'dag'; name its algorithm with --algorithm")
    name = f"bn_{mode}" if has_parents(mode) else "mappo"
    if is_learned(mode) and config.get("anneal") not in (None, "none"):
        name += "_annealed"
    if is_learned(mode) and config.get("edge_prior", 0.5) != 0.5:
        name += f"_prior{config['edge_prior']:g}"
    if config.get("recurrent") not in (None, "none"):
        name = f"rec_{name}"
    if policy == "decentralized" and has_parents(mode):
        name += "_decentralized"
    return name.lower()


def seed_key(seed: int) -> str:
    return f"seed_{seed}"


def step_key(i: int) -> str:
    return f"step_{i}"


# ---------------------------------------------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """A run directory's files as read: config ({} without config.json), eval and absolute rows, notes on what was
    tolerated (printed by the CLI)."""

    path: str
    config: dict
    evals: list[dict]
    absolute: list[dict]
    has_absolute_file: bool
    notes: tuple[str, ...] = ()


def read_run(path: str) -> RunFiles:
    """Read a run directory. ExportError when it, its eval.jsonl or a readable config.json is missing."""
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.exists(path) else "does not exist"
        raise ExportError(f"run dir {path!r} {what}")
    notes = []
    config = read_config(os.path.join(path, "config.json"), ExportError)
    eval_files = log_files(path, "eval")
    if not eval_files:
        raise ExportError(f"run dir {path!r} has no eval.jsonl (was it trained with evaluation on? --eval-episodes)")
    absolute_files = log_files(path, "absolute")
    rows: dict[str, list[dict]] = {"eval": [], "absolute": []}
    for stem, files in (("eval", eval_files), ("absolute", absolute_files)):
        for file in files:
            try:
                read, problems = read_jsonl(file)
            except PlotError as e:
                raise ExportError(str(e)) from None
            rows[stem].extend(read)
            if problems:
                notes.append(skipped_note(file, problems))
    return RunFiles(path, config, rows["eval"], rows["absolute"], bool(absolute_files), tuple(notes))


def _number(v) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _metrics(row: dict, file: str, fallbacks: set) -> dict:
    """The marl-eval metric lists of one eval row: "return" and, where the env has wins, "win_rate"."""
    returns = row.get("returns")
    if returns is None:
        mean = _number(row.get("return"))
        if mean is None:
            raise ExportError(f"{file}: the row of seed {row.get('seed')} at {row.get('env_steps')} env steps has no "
                              f"finite return")
        fallbacks.add(file)
        returns = [mean]
    elif not isinstance(returns, list) or not returns or any(_number(r) is None for r in returns):
        raise ExportError(f"{file}: the row of seed {row.get('seed')} at {row.get('env_steps')} env steps has a "
                          f"damaged 'returns' (want a non-empty list of finite numbers)")
    out = {"return": [float(r) for r in returns]}
    if "win_rate" in row:
        win = _number(row["win_rate"])
        if win is None:
            raise ExportError(f"{file}: the row of seed {row.get('seed')} at {row.get('env_steps')} env steps has no "
                              f"finite win_rate")
        out["win_rate"] = [win]
    return out


def _pick(rows: Sequence[dict], policy: Policy, greedy: bool, fallback_joint: bool) -> list[dict]:
    want = "joint" if fallback_joint else policy
    return [r for r in rows if r.get("policy") == want and bool(r.get("greedy", False)) == greedy]


# ---------------------------------------------------------------------------------------------------- building


@dataclasses.dataclass(frozen=True)
class Options:
    """What to export and how to name it (the CLI's flags)."""

    policy: Policy = "joint"
    greedy: bool = False
    env_name: Optional[str] = None
    task_name: Optional[str] = None
    absolute_from_final: bool = False


class Entries(NamedTuple):
    """One run dir's seeds, {(env, task, algorithm, seed key): that seed's marl-eval dict (steps and
    absolute_metrics)}, and the files whose rows had no per-episode returns (their means stand in)."""

    seeds: dict[tuple[str, str, str, str], dict]
    mean_only: frozenset[str]


def run_entries(run: RunFiles, opts: Options, algorithm: Optional[str] = None) -> Entries:
    """The marl-eval entries of one run dir (module docstring)."""
    env = run.config.get("env")
    if env is None and (opts.env_name is None or opts.task_name is None):
        raise ExportError(f"run dir {run.path!r} has no config.json with an 'env'; name it with --env-name and "
                          f"--task-name")
    env_name, task_name = env_task(env) if env is not None else ("", "")
    env_name = (opts.env_name or env_name).lower()
    task_name = (opts.task_name or task_name).lower()
    if algorithm is None:
        try:
            algorithm = algorithm_name(run.config, opts.policy)
        except ExportError as e:
            raise ExportError(f"run dir {run.path!r}: {e}") from None
    algorithm = algorithm.lower()
    # A mode without parents evaluates no separate decentralised policy: its joint rows are that policy.
    fallback_joint = opts.policy == "decentralized" and not has_parents(run.config.get("dag"))
    rows = _pick(run.evals, opts.policy, opts.greedy, fallback_joint)
    sampling = "greedy" if opts.greedy else "sampled"
    if not rows:
        raise ExportError(f"run dir {run.path!r}: eval.jsonl has no {opts.policy}, {sampling} row")
    absolute = _pick(run.absolute, opts.policy, opts.greedy, fallback_joint)
    if run.has_absolute_file and not absolute:
        raise ExportError(f"run dir {run.path!r}: absolute.jsonl has no {opts.policy}, {sampling} row")
    eval_file, abs_file = os.path.join(run.path, "eval.jsonl"), os.path.join(run.path, "absolute.jsonl")
    fallbacks: set = set()
    out: dict[tuple[str, str, str, str], dict] = {}
    points = list(dict.fromkeys(tuple((r.get("sweep") or {}).items()) for r in rows))
    for point in points:
        name = algorithm + (f" {point_label(dict(point))}".lower() if point else "")
        if "," in name:
            raise ExportError(f"algorithm name {name!r} holds a comma, which marl-eval does not allow")
        by_seed: dict[int, dict[int, dict]] = {}
        for r in rows:
            if tuple((r.get("sweep") or {}).items()) != point:
                continue
            seed, x = r.get("seed"), r.get("env_steps")
            if not isinstance(seed, int) or not isinstance(x, int):
                raise ExportError(f"{eval_file}: a row without an integer seed and env_steps: {json.dumps(r)[:120]}")
            by_seed.setdefault(seed, {})[x] = r  # a repeated evaluation of one step: the last row wins
        final_abs = {r.get("seed"): r for r in absolute if tuple((r.get("sweep") or {}).items()) == point}
        for seed in sorted(by_seed):
            steps = by_seed[seed]
            entry = {step_key(i): {"step_count": x, **_metrics(steps[x], eval_file, fallbacks)}
                     for i, x in enumerate(sorted(steps))}
            if seed in final_abs:
                entry[ABSOLUTE] = _metrics(final_abs[seed], abs_file, fallbacks)
            elif run.has_absolute_file:
                raise ExportError(f"{abs_file}: no {opts.policy}, {sampling} row of seed {seed}"
                                  + (f" ({point_label(dict(point))})" if point else ""))
            elif opts.absolute_from_final:
                last = entry[step_key(len(steps) - 1)]
                entry[ABSOLUTE] = {k: list(v) for k, v in last.items() if k != "step_count"}
            out[(env_name, task_name, name, seed_key(seed))] = entry
    return Entries(out, frozenset(fallbacks))


def build(run_dirs: Sequence[str], opts: Options = Options(), algorithms: Optional[Sequence[str]] = None,
          warn: Callable[[str], None] = print, origin: Optional[dict] = None) -> dict:
    """The marl-eval dict of the run directories (merged; module docstring). Raises ExportError on bad input.
    origin: filled with {(env, task, algorithm, seed key): its run dir}."""
    if not run_dirs:
        raise ExportError("no run directory given")
    if algorithms is not None and len(algorithms) not in (1, len(run_dirs)):
        raise ExportError(f"--algorithm has {len(algorithms)} name(s) for {len(run_dirs)} run dir(s): give one for "
                          f"all or one per run dir")
    data: dict = {}
    origin = {} if origin is None else origin
    mean_only, no_absolute = set(), []
    for i, path in enumerate(run_dirs):
        run = read_run(path)
        for note in run.notes:
            warn(note)
        name = None if algorithms is None else algorithms[0 if len(algorithms) == 1 else i]
        entries = run_entries(run, opts, name)
        mean_only |= entries.mean_only
        if not run.has_absolute_file:
            no_absolute.append(path)
        merge(data, entries.seeds, path, origin)
    if mean_only:
        warn(f"note: {', '.join(sorted(mean_only))}: rows without per-episode 'returns' (written before jbn logged "
             f"them): each evaluation's 'return' list holds its mean only")
    if no_absolute:
        warn(f"note: no absolute.jsonl in {', '.join(no_absolute)} (train with --absolute-episodes N for the "
             "protocol's absolute metric): " + (
                 "absolute_metrics copied from each seed's final evaluation (--absolute-from-final)"
                 if opts.absolute_from_final else
                 "their seeds have no absolute_metrics, which marl-eval's create_matrices_for_rliable needs "
                 "(--absolute-from-final copies the final evaluation there)"))
    for line in uneven_steps(data):
        warn(f"warning: {line}")
    return data


def merge(data: dict, seeds: dict[tuple[str, str, str, str], dict], source: str,
          origin: dict[tuple[str, str, str, str], str]) -> None:
    """Add `seeds` ({(env, task, algorithm, seed key): entry}, read from `source`) to the marl-eval dict `data`;
    `origin` remembers where each seed came from. ExportError when a seed is there already."""
    for key, entry in seeds.items():
        env, task, algo, seed = key
        if key in origin:
            raise ExportError(f"{seed} of {env}/{task}/{algo} is in both {origin[key]!r} and {source!r}; "
                              f"give them apart (export them separately, or name them with --algorithm)")
        origin[key] = source
        data.setdefault(env, {}).setdefault(task, {}).setdefault(algo, {})[seed] = entry


def flatten(data: dict) -> dict[tuple[str, str, str, str], dict]:
    """{(env, task, algorithm, run): entry} of a marl-eval dict, keys in lower case as marl-eval reads them."""
    return {(env.lower(), task.lower(), algo.lower(), run.lower()): entry
            for env, tasks in data.items() for task, algos in tasks.items()
            for algo, runs in algos.items() for run, entry in runs.items()}


def is_absolute(key: str) -> bool:
    """marl-eval's test for a run's absolute-metric entry (any key holding "absolute")."""
    return "absolute" in key.lower()


def check(data, source: str) -> None:
    """ExportError naming the first place where `data` (read from `source`) is not marl-eval's nesting: env -> task
    -> algorithm -> run -> {step: {"step_count": number, metric: [numbers]}, absolute_metrics: {metric: [numbers]}}."""
    def fail(where: str, what: str):
        raise ExportError(f"{source}: {where or 'the top level'}: {what} (not marl-eval's format: env -> task -> "
                          f"algorithm -> run -> step_<i> -> step_count and metric lists)")

    def is_number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def mapping(v, where: str) -> dict:
        if not isinstance(v, dict) or not v:
            fail(where, "want a non-empty JSON object")
        return v

    for env, tasks in mapping(data, "").items():
        for task, algos in mapping(tasks, env).items():
            for algo, runs in mapping(algos, f"{env}/{task}").items():
                for run, entry in mapping(runs, f"{env}/{task}/{algo}").items():
                    where = f"{env}/{task}/{algo}/{run}"
                    if not any(not is_absolute(k) for k in mapping(entry, where)):
                        fail(where, "no evaluation step")
                    for step, metrics in entry.items():
                        here = f"{where}/{step}"
                        for name, v in mapping(metrics, here).items():
                            if name == "step_count" and not is_absolute(step):
                                if not is_number(v):
                                    fail(here, f"step_count {v!r} is not a number")
                            elif is_number(v):
                                continue  # marl-eval takes a bare number as it is
                            elif not isinstance(v, list) or not v or not all(is_number(x) for x in v):
                                fail(here, f"{name!r} is not a non-empty list of finite numbers")
                        if not is_absolute(step) and "step_count" not in metrics:
                            fail(here, "no step_count")


def uneven_steps(data: dict) -> list[str]:
    """The tasks whose runs do not all log the same number of steps (marl-eval needs them equal per env)."""
    out = []
    for env, tasks in data.items():
        counts = {}
        for task, algos in tasks.items():
            for algo, seeds in algos.items():
                for seed, entry in seeds.items():
                    counts.setdefault(sum(1 for k in entry if not is_absolute(k)), []).append(f"{task}/{algo}/{seed}")
        if len(counts) > 1:
            out.append(f"env {env}: runs log different numbers of evaluation steps ("
                       + "; ".join(f"{n}: {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}"
                                   for n, v in sorted(counts.items()))
                       + "); marl-eval's plots need the same number in every run of an env")
    return out


def write(path: str, data: dict) -> None:
    """The marl-eval dict as JSON at `path` (its directory created if missing)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    except OSError as e:
        raise ExportError(f"--marl-eval {path!r}: cannot write it ({e.strerror or e})") from None


# ---------------------------------------------------------------------------------------------------- CLI


@dataclasses.dataclass(frozen=True)
class ExportArgs:
    run_dirs: tyro.conf.Positional[Annotated[tuple[str, ...], tyro.conf.arg(metavar="RUN_DIR...")]]
    """run directories written by `python -m jbn.train` (config.json, eval.jsonl, absolute.jsonl), or archived"""
    marl_eval: str
    """the marl-eval JSON file to write"""
    policy: Policy = "joint"
    """which evaluation: the joint policy (the DAG mode as trained) or its decentralised execution"""
    greedy: bool = False
    """export the greedy evaluations (default: sampled actions)"""
    algorithm: Optional[tuple[str, ...]] = None
    """algorithm name: one for every run dir, or one per run dir (default from config.json: mappo, bn_full,
    bn_context_annealed, rec_..., ..._decentralized)"""
    env_name: Optional[str] = None
    """marl-eval env name (default: jbn's env name up to its first '_'; 'custom' for package.module:factory)"""
    task_name: Optional[str] = None
    """marl-eval task name (default: jbn's env name after its first '_')"""
    absolute_from_final: bool = False
    """a run without absolute.jsonl gets its final evaluation as absolute_metrics (default: none)"""


def main(argv=None) -> None:
    args = parse(ExportArgs, argv, prog="python -m jbn.export", description=__doc__.split("\n\n")[0])
    opts = Options(policy=args.policy, greedy=args.greedy, env_name=args.env_name, task_name=args.task_name,
                   absolute_from_final=args.absolute_from_final)
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        data = build(args.run_dirs, opts, args.algorithm, warn)
        write(args.marl_eval, data)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    runs = sum(len(seeds) for tasks in data.values() for algos in tasks.values() for seeds in algos.values())
    print(f"{args.marl_eval}: {runs} run(s) of "
          + "; ".join(f"{env}/{task}: {', '.join(algos)}"
                      for env, tasks in data.items() for task, algos in tasks.items()))
