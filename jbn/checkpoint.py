"""Atomic checkpoints of the (seed-batched) runner state with orbax (host side only).

Orbax writes each step into a temporary directory and renames it when complete, so a crash mid-write
leaves the previous checkpoint intact. The resolved config is stored beside the run; resuming with a
different config is refused before anything is overwritten.
"""
from __future__ import annotations

import json
import os

import orbax.checkpoint as ocp

# Fields that may differ between the original run and its resumption.
_RESUME_FREE = {"resume", "run_dir", "checkpoint", "eval_episodes", "total_steps", "updates_per_chunk"}


class ConfigMismatch(ValueError):
    pass


def manager(run_dir: str) -> ocp.CheckpointManager:
    path = os.path.abspath(os.path.join(run_dir, "checkpoints"))
    return ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def check_config(run_dir: str, config: dict) -> None:
    """Refuse to resume `run_dir` with a config that differs in anything but the resume-free fields."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise ConfigMismatch(f"--resume: {path} does not exist; nothing to resume in {run_dir!r}")
    with open(path) as f:
        saved = json.load(f)
    diff = {k: (saved.get(k), v) for k, v in config.items() if k not in _RESUME_FREE and saved.get(k) != v}
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise ConfigMismatch(f"checkpoint in {run_dir!r} does not match this config ({lines}); nothing was overwritten")


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
    mngr.save(step, args=ocp.args.StandardSave(state))
    mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, target):
    """(step, state) of the latest checkpoint, restored into the structure of `target`; (None, target) if none."""
    step = mngr.latest_step()
    if step is None:
        return None, target
    return step, mngr.restore(step, args=ocp.args.StandardRestore(target))
