"""XLA's persistent compilation cache for jbn's commands: a program compiled once is read from disk the next time
(a resume, the next seed started by hand, the same configuration again), so the 5-60 s of compile become ~1 s.

    JBN_COMPILE_CACHE unset    ~/.cache/jbn/xla/<machine>/ ($XDG_CACHE_HOME respected), at most 2 GiB (oldest out)
    JBN_COMPILE_CACHE=DIR      DIR/<machine>/
    JBN_COMPILE_CACHE=off      no cache (also 0, false, no, or empty): every run compiles, as before
    JAX_COMPILATION_CACHE_DIR  JAX's own setting wins when given (then jbn changes nothing)

The cache key is JAX's: the program's HLO, the compile options and XLA flags, the jax/jaxlib version and the
devices. On a CPU, XLA generates code for the processor's features, which that key does not hold, so the cache is
one folder per processor model and feature set (<machine>): a home shared between machines never runs one's code
on the other. Only programs that took at least `MIN_COMPILE_S` to compile are stored (not the many tiny eager ones).
Timing figures (`compile_s`, bench/) of a run whose programs came from the cache are start-up times, not compile
times: benchmarks that compare cold starts turn it off (bench/vs_peers.py does)."""
from __future__ import annotations

import hashlib
import os
import platform

ENV = "JBN_COMPILE_CACHE"
OFF = ("off", "0", "false", "no", "")
MAX_BYTES = 2 * 2**30
MIN_COMPILE_S = 1.0


def machine_key() -> str:
    """The processor model and feature flags (what XLA's CPU code depends on), as a short folder name."""
    model, flags = platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == platform.machine():
                    model += " " + line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:  # no /proc (macOS): the platform's description
        model += " " + platform.processor()
    return hashlib.sha256(f"{model}|{flags}".encode()).hexdigest()[:16]


def cache_dir(environ=os.environ) -> str | None:
    """Where jbn's commands cache compiled programs, None for no cache (or JAX's own setting given)."""
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    value = environ.get(ENV)
    if value is not None and value.strip().lower() in OFF:
        return None
    if value is None:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
        value = os.path.join(base, "jbn", "xla")
    return os.path.join(os.path.expanduser(value), machine_key())


_READ = {"programs": 0, "saved_s": 0.0}  # this process's reads from the cache (JAX's monitoring events)
_LISTENING: list[bool] = []  # the listeners are registered once per process
_HIT, _SAVED = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/compile_time_saved_sec"


def _count_hit(event: str, **_) -> None:
    if event == _HIT:
        _READ["programs"] += 1


def _count_saved(event: str, duration: float, **_) -> None:
    if event == _SAVED:
        _READ["saved_s"] += max(0.0, duration)


def read_so_far() -> tuple[int, float]:
    """(programs read from the cache by this process, seconds of compiling they saved by JAX's own estimate)."""
    return _READ["programs"], _READ["saved_s"]


def note(since: tuple[int, float] = (0, 0.0)) -> str:
    """' (N programs from the compile cache, ~S s saved)' for the reads after `since`, else ''."""
    programs, saved = (a - b for a, b in zip(read_so_far(), since))
    if not programs:
        return ""
    plural = "s" if programs > 1 else ""
    return f" ({programs} program{plural} from the compile cache, ~{saved:.0f}s saved)"


def enable(environ=os.environ) -> str | None:
    """Turn the cache on for this process (before or after JAX has compiled something); returns its folder or
    None. A folder that cannot be created leaves the cache off, with one warning, rather than stopping the run."""
    path = cache_dir(environ)
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        import sys

        print(f"warning: no compilation cache ({ENV}: cannot create {path}: {e.strerror})", file=sys.stderr)
        return None
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    if not _LISTENING:
        jax.monitoring.register_event_listener(_count_hit)
        jax.monitoring.register_event_duration_secs_listener(_count_saved)
        _LISTENING.append(True)
    compilation_cache.reset_cache()  # JAX may have decided at an earlier compile whether to cache: decide afresh
    return path
