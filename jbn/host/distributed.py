"""Multi-host start-up: `jax.distributed.initialize` from --coordinator/--num-processes/--process-id (or
$JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, $JAX_PROCESS_ID), before anything touches a device.

`jax.distributed.initialize` must run before XLA's backend starts, and importing the environments starts it (jaxmarl
builds arrays at import). So this module imports nothing heavy, and jbn/train.py calls `boot(sys.orig_argv)` before
its other imports: for the command `python -m jbn.train ...` (and only that one) it starts jax.distributed from the
command line's flags or the environment. From Python, call `initialize(...)` before
anything imports envs_jax. On the CPU backend the cross-process collectives use gloo.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

from ..training.errors import UserError

FLAGS = ("--coordinator", "--num-processes", "--process-id")


def args_from(coordinator: Optional[str], num_processes: Optional[int], process_id: Optional[int]
              ) -> Optional[tuple[str, int, int]]:
    """(coordinator, num_processes, process_id) from the given values, else the environment; None for a single
    process. UserError when they are incomplete or inconsistent."""
    env = os.environ
    coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS") or None

    def integer(flag, value, var):
        if value is None and env.get(var):
            try:
                value = int(env[var])
            except ValueError:
                raise UserError(f"${var}={env[var]!r} is not an integer") from None
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(f"{flag} must be an integer, got {value!r}")
        return value

    num = integer("--num-processes", num_processes, "JAX_NUM_PROCESSES")
    pid = integer("--process-id", process_id, "JAX_PROCESS_ID")
    if coordinator is None and num in (None, 1) and pid in (None, 0):
        return None
    missing = [flag for flag, v in zip(FLAGS, (coordinator, num, pid)) if v is None]
    if missing:
        raise UserError(f"multi-host training needs --coordinator HOST:PORT, --num-processes P and --process-id I "
                        f"(or $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, $JAX_PROCESS_ID); missing {', '.join(missing)}")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--coordinator {coordinator!r}: expected HOST:PORT, e.g. 10.0.0.1:12345")
    if num < 1 or not 0 <= pid < num:
        raise UserError(f"--process-id {pid} must lie in 0 .. num_processes - 1 = {num - 1}")
    return coordinator, num, pid


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> bool:
    """Start jax.distributed when the arguments (or the environment) ask for several processes; whether they do.
    Idempotent. UserError when jax has already started its backend in this process."""
    args = args_from(coordinator, num_processes, process_id)
    if args is None:
        return False
    import jax

    if jax.distributed.is_initialized():
        return True
    # Cross-process collectives on the CPU backend need an implementation (no effect on GPU/TPU devices).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=args[0], num_processes=args[1], process_id=args[2])
    except RuntimeError as e:
        if "must be called before" not in str(e):
            raise
        raise UserError("multi-host: jax.distributed must start before jax touches a device (importing envs_jax "
                        "does): run `python -m jbn.train ... --coordinator ...`, or call "
                        "jbn.host.distributed.initialize(...) before importing jbn.train") from None
    return True


def flag_value(argv: Sequence[str], flag: str) -> Optional[str]:
    """The value of `--flag V`, `--flag=V` (or the underscore spelling `--fl_ag`) in argv; None when absent. Read
    before tyro parses the command line (multi-host start-up, the saved config of `--resume`)."""
    for i, a in enumerate(argv):
        for f in (flag, "--" + flag[2:].replace("-", "_")):
            if a == f and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(f + "="):
                return a[len(f) + 1:]
    return None


def initialize_from_argv(argv: Sequence[str]) -> bool:
    """`initialize` from a `python -m jbn.train` command line (its three flags; the rest is not looked at)."""
    coordinator, num, pid = (flag_value(argv, f) for f in FLAGS)

    def integer(flag, text):
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise UserError(f"{flag} must be an integer, got {text!r}") from None

    return initialize(coordinator, integer("--num-processes", num), integer("--process-id", pid))


def boot(orig_argv: Sequence[str]) -> None:
    """Called at the top of jbn/train.py, before its imports reach envs_jax: when this process is `python -m jbn.train ...`
    (sys.orig_argv), start jax.distributed if its flags or the environment ask for it; a bad value ends the
    command with `error: ...` and exit code 2, as `jbn.train.main` does."""
    argv = list(orig_argv)
    try:
        i = argv.index("-m")
    except ValueError:
        return
    if argv[i + 1:i + 2] != ["jbn.train"]:
        return
    try:
        initialize_from_argv(argv[i + 2:])
    except UserError as e:
        import sys

        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
