"""A run's directory, host side: created or found, locked, written atomically, cut back to a checkpoint on resume.

    run_dir = new_run_dir(cfg)                 # created (or, with --resume, found) and checked
    fd = lock(run_dir)                         # one training process per directory
    start, good = resume_point(cfg, warn)      # before compiling: the checkpoint to continue from
    update, state = restore_newest(good, state, warn)
    reset_logs(cfg, update, warn)              # metrics/eval rows up to the restored update, each once

Every name here is public so the driver (jbn/driver/loop.py) and the evaluation CLI use one implementation.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import time

from ..training.config import Config, UserError
from . import checkpoint as ckpt
from .disk import free_bytes, is_disk_error, is_read_only
from .logging import log_file


def resume_command(run_dir: str) -> str:
    return f"python -m jbn.train --run-dir {shlex.quote(run_dir)} --resume"


# ------------------------------------------------------------------------------------------ a full disk
class DiskError(UserError):
    """The run directory's filesystem refused a write (full, over quota, read-only): the run stops cleanly."""


def _mib(b: int) -> str:
    return f"{b / 2**20:,.1f} MiB" if b >= 2**20 else f"{b / 2**10:,.0f} KiB"


@contextlib.contextmanager
def writing(run_dir: str, what: str, *, need: int | None = None, kept: str | None = None):
    """Turn a full or read-only filesystem met while writing `what` into one DiskError naming the directory, the
    free space and what is needed, what is intact (`kept`) and how to continue; any other error passes."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        if isinstance(e, OSError) and not os.path.isdir(run_dir):  # deleted, or its filesystem unmounted
            raise DiskError(
                f"cannot write {what}: the run directory {run_dir!r} is gone (deleted, or its filesystem unmounted: "
                f"{e.strerror or e}). {kept or 'Nothing written before is lost'} if the directory comes back (remount "
                f"it), then continue with: {resume_command(run_dir)}"
            ) from None
        if not is_disk_error(e):
            raise
        raise disk_full(run_dir, what, need=need, kept=kept, reason="read-only" if is_read_only(e) else "full") from None


def disk_full(run_dir: str, what: str, *, need: int | None = None, kept: str | None = None,
              reason: str = "full") -> DiskError:
    """The DiskError of `writing` (also raised before a write that cannot fit, `check_room`)."""
    free = free_bytes(run_dir)
    space = "" if free is None else f"{_mib(free)} free"
    if need is not None:
        space += ("; " if space else "") + f"it needs about {_mib(need)}"
    return DiskError(
        f"cannot write {what} in {run_dir!r}: its filesystem is {reason}" + (f" ({space})" if space else "")
        + f". {kept or 'Nothing written before is lost'}. Free space (or make it writable), then continue with: "
        f"{resume_command(run_dir)}"
    )


def check_room(run_dir: str, what: str, need: int, *, kept: str | None = None) -> None:
    """DiskError before a write of about `need` bytes that the filesystem has no room for."""
    free = free_bytes(run_dir)
    if free is not None and free < need:
        raise disk_full(run_dir, what, need=need, kept=kept)


def atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_run_dir(cfg: Config) -> str:
    """The run directory, created (or, with --resume, found) and checked; nothing else is written."""
    if cfg.resume:
        if not os.path.isdir(cfg.run_dir):
            what = "is not a directory" if os.path.exists(cfg.run_dir) else "does not exist"
            raise UserError(f"--resume: run dir {cfg.run_dir!r} {what}; nothing to resume")
        return cfg.run_dir
    if cfg.run_dir is None:  # unique and created atomically: two runs started in the same second differ
        base = os.path.join("runs", f"{cfg.env}_{cfg.dag}_{time.strftime('%Y%m%d-%H%M%S')}")
        os.makedirs("runs", exist_ok=True)
        k = 1
        while True:
            path = base if k == 1 else f"{base}-{k}"
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                k += 1
    path = cfg.run_dir
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--run-dir {path!r} is a file, not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --run-dir {path!r}: {e.strerror or e}") from None
    if ckpt.list_updates(path):
        raise UserError(f"{path!r} already holds checkpoints; pass --resume to continue it or choose another --run-dir")
    return path


def lock(run_dir: str, process: int = 0) -> int:
    """An exclusive lock on run_dir for this process (released when it exits); process I > 0 of a multi-host run
    holds .lock.p<I>, so the processes of one run do not exclude each other."""
    try:
        fd = os.open(os.path.join(run_dir, ".lock" if process == 0 else f".lock.p{process}"), os.O_RDWR | os.O_CREAT,
                     0o644)
    except OSError as e:
        raise UserError(f"cannot write in run dir {run_dir!r}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(f"run dir {run_dir!r} is in use by another training process") from None
    return fd


def unlock(run_dir: str, fd: int, process: int = 0) -> None:
    """Remove the lock file of `lock` (while still holding it) and release it: a run stopped before it wrote
    anything to keep leaves no trace of the process."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(run_dir, ".lock" if process == 0 else f".lock.p{process}"))
    os.close(fd)


def read_log_rows(path: str, keep_updates: int, warn) -> list[str]:
    """The logged rows of updates <= keep_updates; a line that is not a row (a kill mid-write, junk) is dropped with
    one warning saying which lines and why. UserError when the path is not a file (a directory)."""
    if not os.path.exists(path):
        return []
    check_log_path(path)
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    kept, problems = [], []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
            row = json.loads(line)
            update = int(row["update"])
        except UnicodeDecodeError:
            problems.append(f"line {n}: not UTF-8 text")
            continue
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {n}: not a row (a write cut short?)")
            continue
        if update <= keep_updates:
            kept.append(line + "\n")
    if problems:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        warn(f"{path}: dropped {len(problems)} unreadable line(s) ({shown})")
    return kept


def check_log_path(path: str) -> None:
    """UserError unless `path` is absent or a regular file (a directory where a log belongs cannot be read or cut)."""
    if os.path.exists(path) and not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "not a regular file"
        raise UserError(f"{path} is {what}, not a log file; move it away, then run the command again")


def check_log_paths(run_dir: str, process: int = 0) -> None:
    """`check_log_path` for each log of this process in run_dir."""
    for stem in ("metrics", "eval", "absolute"):
        check_log_path(log_file(run_dir, stem, process))


def is_archived_copy(run_dir: str, process: int = 0) -> bool:
    """Whether run_dir's logs are gzipped and not beside their plain form: a copy written by jbn.archive (no
    checkpoint) or kept in docs/repro/unfinished (its newest checkpoint)."""
    metrics = log_file(run_dir, "metrics", process)
    return os.path.exists(metrics + ".gz") and not os.path.exists(metrics)


def check_not_archived(run_dir: str, process: int = 0) -> None:
    """UserError for an archived copy (`is_archived_copy`). Resumed in place, an archive started again from update 0
    beside itself and a kept copy continued with logs that lacked every earlier row."""
    if not is_archived_copy(run_dir, process):
        return
    metrics = log_file(run_dir, "metrics", process)
    where = (f"{run_dir!r} holds an archived copy of a run (its logs are gzipped: {os.path.basename(metrics)}.gz) "
             f"and is not resumed in place")
    if not ckpt.list_updates(run_dir):
        raise UserError(f"{where}; it keeps no checkpoint (python -m jbn.archive keeps none), so there is nothing to "
                        f"continue: train anew with another --run-dir (a copy kept with its checkpoint continues "
                        f"after bash docs/repro/unfinished/sync.sh restore NAME NEW_RUN_DIR)")
    raise UserError(f"{where}: copy it out with its logs unzipped, bash docs/repro/unfinished/sync.sh restore NAME "
                    f"NEW_RUN_DIR, and resume there")


def resume_point(cfg: Config, warn, process: int = 0) -> tuple[int, list[tuple[int, str]]]:
    """(update to start from, the good checkpoints newest first) of the run in cfg.run_dir; checks the resumed
    config and the checkpoints' files only, so it runs before anything is compiled."""
    run_dir = cfg.run_dir
    start_update, good = 0, []
    check_log_paths(run_dir, process)  # before anything is written: reset_logs will cut or create them
    if cfg.resume:
        check_not_archived(run_dir, process)
        ckpt.check_resume_config(run_dir, dataclasses.asdict(cfg))
        good = ckpt.find_good(run_dir, warn)
        if ckpt.list_updates(run_dir) and not good:
            raise UserError(f"no loadable checkpoint in {ckpt.root(run_dir)}: every one is damaged (see warnings)")
        start_update = good[0][0] if good else 0
        if not good:
            warn(f"{run_dir!r} has no checkpoint yet; starting from update 0")
    if start_update > cfg.num_updates:
        raise UserError(
            f"the run in {run_dir!r} has already done {start_update} updates, more than total_steps = "
            f"{cfg.total_steps} allows ({cfg.num_updates} updates)"
        )
    return start_update, good


def restore_newest(good: list[tuple[int, str]], state, warn):
    """(update, state) of the newest checkpoint in `good` that restores into the structure of `state`, falling back
    to older ones with a warning; None when `good` is empty. UserError when none restores."""
    for u, path in good:
        try:
            return u, ckpt.restore(path, state)
        except Exception as e:  # noqa: BLE001 - any failure to load falls back to the previous checkpoint
            warn(f"could not restore {path} ({type(e).__name__}: {e}); falling back to the previous one")
    if good:
        raise UserError(f"no checkpoint in {os.path.dirname(good[0][1])} could be restored (see warnings)")
    return None


def reset_logs(cfg: Config, start_update: int, warn, process: int = 0) -> None:
    """This process's metrics and evaluation logs keep the rows up to the restored update (none on a fresh run)."""
    for stem in ("metrics", "eval", "absolute"):
        path = log_file(cfg.run_dir, stem, process)
        if stem == "absolute" and not os.path.exists(path):  # only runs with --absolute-episodes have one
            continue
        text = "".join(read_log_rows(path, start_update, warn)) if cfg.resume else ""
        if text and _starts_with(path, text.encode()):  # cut in place: needs no free space (a full disk)
            with open(path, "r+b") as f:
                f.truncate(len(text.encode()))
                f.flush()
                os.fsync(f.fileno())
        else:
            atomic_write(path, text)


def _starts_with(path: str, prefix: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(prefix)) == prefix
    except OSError:
        return False
