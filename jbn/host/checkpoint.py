"""Checkpoints of the (seed-batched) runner state and the rules for resuming a run (host side only).

Layout: RUN_DIR/checkpoints/<U>/ holds the state after U PPO updates (orbax `StandardCheckpointer`
under state/) and manifest.json, the SHA-256 of every file. A checkpoint is written under a temporary
name and renamed into place only when complete, manifest included, so a crash at any moment leaves the
previous checkpoints intact and never a half-written <U>. Before anything is compiled, `find_good` checks
the manifests: a damaged or incomplete newest checkpoint is skipped with a warning (the previous good one
is used), and bytes altered in place are caught by the checksums even when the sizes are unchanged.

Checkpoints are named by update count, not chunk index, so a resume is correct whatever the chunk size.
A resume may change only the fields in RESUME_FREE, the placement fields in PLACEMENT (and total_steps where the
schedule does not depend on it, see `check_resume_config`); anything the compiled program or the η/α schedule
depends on (the sweep included) is refused, naming the field, before anything is compiled or written.

A checkpoint holds the whole batch of runs (seeds × sweep points). Arrays sharded over several devices are
written by orbax shard by shard and restored into the shardings of the target, so a run saved on one mesh
resumes on another (another --data-parallel or device count). With several processes (multi-host) every process
calls `save` and `restore` (orbax coordinates the shards); process 0 alone writes the manifest, renames and
prunes, between barriers; the run directory must be on a filesystem all processes share.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from typing import Iterator

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from ..policy.dag_modes import is_learned
from ..training.config import Config, UserError, check_types
from .disk import stderr_held

# Fields that may change when a run is resumed: they touch neither the compiled update nor the schedule.
RESUME_FREE = frozenset(
    {"resume", "run_dir", "checkpoint", "checkpoint_every_s", "keep_checkpoints", "eval_episodes", "eval_every",
     "absolute_episodes", "tensorboard", "updates_per_chunk"}
)
# Where the runs are placed, not what they compute: free on resume (a run may continue on other devices).
PLACEMENT = frozenset({"data_parallel", "memory_check", "coordinator", "num_processes", "process_id"})
MANIFEST = "manifest.json"
# Fields added after runs were written, with the value every run of that time had (no env had a shaped reward).
LEGACY = {"reward_shaping_horizon": 0, "torso": "mlp", "edge_prior": 0.5, "lr_anneal": False}
# The fields every config.json has held since jbn's first version: one missing was removed by hand (or the file cut),
# and a default in its place would resume another run (the default env, a different seed).
RECORDED = frozenset(
    {"env", "dag", "preset", "num_seeds", "seed", "total_steps", "num_envs", "num_steps", "num_epochs",
     "num_minibatches", "lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm", "huber_delta",
     "ratio", "hidden", "arch", "learn_order", "deepset_edges", "mask_invisible_parents", "parent_obs", "anneal",
     "updates_per_chunk", "run_dir", "checkpoint", "resume", "eval_episodes"}
)


class ConfigMismatch(UserError):
    pass


def saved_config(run_dir: str, context: str = "") -> dict:
    """The config.json of a run directory as a dict of known Config fields; UserError naming the problem
    otherwise (no such directory, no config.json, unreadable, or from another version of jbn). `context`
    prefixes the messages (e.g. "--resume: ")."""
    if not os.path.isdir(run_dir):
        what = "is not a directory" if os.path.exists(run_dir) else "does not exist"
        raise UserError(f"{context}run dir {run_dir!r} {what}" + ("; nothing to resume" if context else ""))
    path = os.path.join(run_dir, "config.json")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UserError(f"{context}{path} is a directory, not a file; {run_dir!r} is damaged")
    if not os.path.isfile(path):
        raise UserError(f"{context}{path} does not exist; {run_dir!r} is not a run directory of `python -m jbn.train`")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{context}cannot read {path} ({type(e).__name__}: {e})") from None
    if not isinstance(saved, dict):
        raise UserError(f"{context}{path} does not hold a config (a JSON object), but {type(saved).__name__}")
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(Config)})
    if unknown:
        raise UserError(f"{context}{path} is from another version of jbn, or was edited (unknown fields: "
                        f"{', '.join(unknown)})")
    missing = sorted(RECORDED - set(saved))
    if missing:
        raise UserError(f"{context}{path} lacks {', '.join(missing)}, which every config.json of jbn holds (edited by "
                        f"hand, or cut short?); restore {'it' if len(missing) == 1 else 'them'}. Nothing was changed")
    check_types(saved, f"{context}{path}")
    return saved


def check_resume_config(run_dir: str, config: dict) -> dict:
    """Refuse to resume `run_dir` with a config that differs in a field the run depends on. Returns the saved
    config. total_steps may change only when no annealing schedule depends on it (a fixed DAG or
    anneal == none): the schedule is a function of update / num_updates."""
    saved = saved_config(run_dir, "--resume: ")
    # A field the saved config lacks (a run from before the field existed) had its default value, or the value the
    # code of that time implied (LEGACY).
    defaults = {f.name: LEGACY.get(f.name, f.default) for f in dataclasses.fields(Config)}
    saved = {**json.loads(json.dumps(defaults)), **saved}
    schedule_free = not is_learned(config.get("dag")) or config.get("anneal") == "none"
    free = RESUME_FREE | PLACEMENT | ({"total_steps"} if schedule_free else set())
    config = json.loads(json.dumps(config))  # as config.json holds it (tuples as lists)
    diff = {k: (saved.get(k, "<absent>"), v) for k, v in config.items() if k not in free and saved.get(k, "<absent>") != v}
    if diff:
        lines = "; ".join(f"{k}: run has {a!r}, now {b!r}" for k, (a, b) in sorted(diff.items()))
        why = ""
        if "total_steps" in diff and not schedule_free:
            why = " (total_steps sets the η/α annealing schedule of this context run and cannot change)"
        raise ConfigMismatch(
            f"cannot resume {run_dir!r} with a different config: {lines}{why}. Fields that may change on resume: "
            f"{', '.join(sorted(free))}. Nothing was changed."
        )
    return saved


# ------------------------------------------------------------------------------------------- save
def root(run_dir: str) -> str:
    return os.path.abspath(os.path.join(run_dir, "checkpoints"))


def _files(path: str) -> Iterator[str]:
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            if rel != MANIFEST:
                yield rel


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _processes() -> tuple[int, int]:
    return jax.process_index(), jax.process_count()


def _barrier(name: str) -> None:
    """Wait for every process (a no-op with one)."""
    if _processes()[1] > 1:
        multihost_utils.sync_global_devices(name)


def save(run_dir: str, update: int, state, keep: int) -> str:
    """Write the state after `update` updates atomically, then keep only the `keep` newest checkpoints.
    Multi-process: every process calls it; orbax writes each process's shards, process 0 finishes."""
    process, count = _processes()
    base = root(run_dir)
    # one temporary name for all processes (process 0's pid is not known to the others)
    tmp = os.path.join(base, f".tmp-{update}-{os.getpid()}" if count == 1 else f".tmp-{update}-multihost")
    final = os.path.join(base, str(int(update)))
    try:
        if process == 0:
            os.makedirs(base, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
        _barrier(f"jbn-ckpt-start-{update}")
        with stderr_held(), ocp.StandardCheckpointer() as ckptr:  # orbax's threads print tracebacks of a full disk
            ckptr.save(os.path.join(tmp, "state"), stored(state))
            ckptr.wait_until_finished()
        _barrier(f"jbn-ckpt-written-{update}")
        if process == 0:
            _finish(run_dir, base, tmp, final, update, keep)
    except BaseException:
        if process == 0:  # a write that failed (a full disk) leaves no partial checkpoint and frees its space
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    _barrier(f"jbn-ckpt-done-{update}")
    return final


def size_on_disk(run_dir: str) -> int | None:
    """Bytes of the newest checkpoint of run_dir (None without one): what the next one will need, about."""
    updates = list_updates(run_dir)
    if not updates:
        return None
    path = os.path.join(root(run_dir), str(updates[0]))
    return sum(os.path.getsize(os.path.join(path, rel)) for rel in _files(path)) or None


def _finish(run_dir: str, base: str, tmp: str, final: str, update: int, keep: int) -> None:
    """Manifest, rename into place, prune: process 0's part of `save`."""
    manifest = {"update": int(update), "sha256": {rel: _sha256(os.path.join(tmp, rel)) for rel in sorted(_files(tmp))}}
    with open(os.path.join(tmp, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    if os.path.exists(final):  # the same update saved again (a finished run resumed): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(base)
    for old in list_updates(run_dir)[keep:]:
        shutil.rmtree(os.path.join(base, str(old)), ignore_errors=True)
    for name in os.listdir(base):  # leftovers of a process killed mid-write
        if name.startswith(".tmp-") and not name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


# ------------------------------------------------------------------------------------------- load
def list_updates(run_dir: str) -> list[int]:
    """Update counts of the checkpoint directories in run_dir, newest first (complete or not)."""
    base = root(run_dir)
    if not os.path.isdir(base):
        return []
    return sorted((int(n) for n in os.listdir(base) if n.isdigit() and os.path.isdir(os.path.join(base, n))),
                  reverse=True)


def verify(path: str) -> str | None:
    """None if the checkpoint directory matches its manifest, else what is wrong with it."""
    mpath = os.path.join(path, MANIFEST)
    try:
        with open(mpath) as f:
            manifest = json.load(f)
        expected = manifest["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"no readable {MANIFEST} ({type(e).__name__})"
    present = set(_files(path))
    if present != set(expected):
        missing, extra = sorted(set(expected) - present), sorted(present - set(expected))
        return f"files differ from its manifest (missing {missing[:3]}, unexpected {extra[:3]})"
    for rel, digest in expected.items():
        if _sha256(os.path.join(path, rel)) != digest:
            return f"checksum mismatch in {rel}"
    return None


def find_good(run_dir: str, warn) -> list[tuple[int, str]]:
    """(update, path) of the checkpoints that pass `verify`, newest first; warn(msg) about each bad one
    newer than the first good one. Reads files only: call it before compiling."""
    good = []
    for u in list_updates(run_dir):
        path = os.path.join(root(run_dir), str(u))
        problem = verify(path)
        if problem is None:
            good.append((u, path))
        elif not good:
            warn(f"checkpoint {path} is damaged ({problem}); falling back to the previous one")
    return good


def stored(state):
    """What a checkpoint holds of a state dataclass (RunnerState): its fields as a dict, without those that are None
    (a feed-forward policy's `memory`), so that a field added for one kind of run leaves every other run's checkpoints
    as they were, and checkpoints written before the field existed restore."""
    if dataclasses.is_dataclass(state):
        return {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if getattr(state, f.name) is not None}
    return state


def restore(path: str, target):
    """The state stored at `path`, restored into the structure (shapes, dtypes) and shardings of `target`
    (arrays, or ShapeDtypeStructs: those without a sharding go to the default device, whatever mesh saved them)."""
    def abstract(x):
        sharding = getattr(x, "sharding", None) or jax.sharding.SingleDeviceSharding(jax.devices()[0])
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    with ocp.StandardCheckpointer() as ckptr:
        tree = ckptr.restore(os.path.join(path, "state"), jax.tree.map(abstract, stored(target)))
    return target.replace(**tree) if dataclasses.is_dataclass(target) else tree
