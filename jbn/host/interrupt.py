"""Ctrl-C and SIGTERM: before training (compiling, restoring) stop at once, saying how to start again (`Stopped`);
during training finish the compiled call in flight, then checkpoint and exit (`Interrupt`)."""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import sys
import threading


class Interrupt:
    """Ctrl-C / SIGTERM during training: the first finishes the chunk in flight, then the loop checkpoints and
    exits; a second one exits at once. (Chunks run in a worker thread so the main thread, where Python runs
    signal handlers, stays responsive while XLA computes.)"""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, say):
        self.say, self.signum, self._old = say, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._pool.shutdown(wait=False)
        return False

    def _handle(self, signum, frame):
        if self.signum is not None:
            sys.stderr.write("\ninterrupted again: exiting now\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum
        self.say(f"{signal.Signals(signum).name}: finishing the chunk in flight, then checkpoint and exit "
                 "(again to exit at once)")

    def call(self, fn, *args):
        future = self._pool.submit(fn, *args)
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                continue


class Stopped(Exception):
    """SIGINT or SIGTERM before the first update (`stopping_before_training`)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stopping_before_training():
    """Within: SIGINT and SIGTERM raise `Stopped` in the main thread, so that the caller can unlock the run and say
    what to do (by default SIGTERM kills the process silently). Python runs the handler between bytecodes, so a signal
    during XLA's compilation takes effect when the compiler returns."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        raise Stopped(signum)

    old = {sig: signal.signal(sig, handle) for sig in Interrupt.SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
