"""A full or read-only filesystem, recognised wherever it surfaces (an OSError, or orbax/tensorstore's text)."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
# how the same errors read when they come through orbax / tensorstore (not as an OSError)
DISK_MARKERS = ("No space left on device", "RESOURCE_EXHAUSTED", "Read-only file system", "Disk quota exceeded")


def is_disk_error(exc: BaseException) -> bool:
    """Whether exc (or an exception it was raised from) is a full or read-only filesystem."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return True
        if any(m in str(exc) for m in DISK_MARKERS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_read_only(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.EROFS or "Read-only" in str(exc)


def free_bytes(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


@contextlib.contextmanager
def stderr_held():
    """Hold what is written to file descriptor 2 (by Python or by threads in C++) until the block ends: shown then,
    unless the block failed on a full disk, whose one-line report replaces the tracebacks that orbax's background
    threads print of the same error."""
    sys.stderr.flush()
    try:
        held = tempfile.TemporaryFile()
    except OSError:  # no room for it either: let the output through
        yield
        return
    saved = os.dup(2)
    os.dup2(held.fileno(), 2)
    disk_failure = False
    try:
        yield
    except BaseException as e:
        disk_failure = is_disk_error(e)
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if not disk_failure:
            held.seek(0)
            text = held.read()
            if text:
                sys.stderr.buffer.write(text) if hasattr(sys.stderr, "buffer") else sys.stderr.write(text.decode())
                sys.stderr.flush()
        held.close()
