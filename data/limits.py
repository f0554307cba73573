"""Wall-clock limits for sympy and math-verify calls: a worker process, killed at the deadline.

    from mycelium.data.limits import run_with_time_limit, TimeLimitExceeded
    value = run_with_time_limit(some_module_level_function, arg1, arg2, seconds=5.0)

Why a process. A signal-based alarm cannot stop a single long C call (`9 ** 9 ** 9` inside
sympy is one integer power), and signals cannot be set off the main thread at all, where Prefect
runs its tasks. So each calling thread gets one long-lived `python` child that runs the calls;
when a call overruns, the child is killed (and replaced on the next call). The child lives on
between calls so sympy's caches stay warm; it is a plain subprocess rather than a fork, which is
unsafe in a process that runs threads (torch, Prefect), and rather than multiprocessing's spawn,
which re-runs the caller's main script.

`function` must be importable by name (a module-level function): it is pickled by reference.
Exceptions raised by the function come back to the caller as they were raised (pickled).
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from mycelium.data.errors import MyceliumError

T = TypeVar("T")

# A new child imports the caller's modules (sympy, ...) on its first call; that one-off start is
# not charged to the caller's limit, but a child that has not started within this long is broken.
_CHILD_START_S = 120.0
_CHILD_MAIN = "import sys; from mycelium.data.limits import _serve; _serve(int(sys.argv[1]))"
_inside_worker = False


class TimeLimitExceeded(Exception):
    """The call ran past its deadline (or its worker died); the worker was killed."""


def _serve(fd: int) -> None:
    """The child's loop: run each request and send back (True, result) or (False, exception)."""
    global _inside_worker
    _inside_worker = True
    connection = Connection(fd)
    connection.send("ready")
    while True:
        try:
            function, args = connection.recv()
        except EOFError:  # the parent closed its end or exited
            return
        try:
            outcome = (True, function(*args))
        except Exception as error:  # sent back and raised in the caller
            outcome = (False, error)
        try:
            connection.send(outcome)
        except Exception as error:  # a result or exception that does not pickle
            connection.send((False, TypeError(f"result could not be sent back: {error}")))


def _kill(process: subprocess.Popen[bytes], connection: Connection) -> None:
    connection.close()
    process.kill()
    process.wait()


class _Worker:
    """One `python` child process serving calls for one calling thread."""

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair()
        with child_end:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                # The caller's import path, so the child imports modules as the caller does.
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
                # Out of the terminal's process group: Ctrl-C stops the caller, which kills this.
                start_new_session=True,
            )
        self.connection = Connection(parent_end.detach())
        # Kill the child when this object goes: its thread ended, or a call overran.
        self.stop = weakref.finalize(self, _kill, self.process, self.connection)
        try:
            ready = self.connection.poll(_CHILD_START_S) and self.connection.recv() == "ready"
        except EOFError:
            ready = False
        if not ready:
            self.stop()
            raise MyceliumError("the time-limit worker process did not start (it must be able "
                                "to import mycelium.data.limits; see its error above, if any)")

    def call(self, function: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Any:
        try:
            self.connection.send((function, args))
            if not self.connection.poll(seconds):
                self.stop()
                raise TimeLimitExceeded(f"over {seconds:g} s")
            ok, payload = self.connection.recv()
        except (OSError, EOFError):
            self.stop()
            raise TimeLimitExceeded("the worker process died") from None
        except BaseException:
            self.stop()  # after an interrupted exchange the next reply would be out of step
            raise
        if not ok:
            raise payload
        return payload


_workers = threading.local()


def run_with_time_limit(function: Callable[..., T], *args: Any, seconds: float) -> T:
    """`function(*args)` within `seconds` of wall-clock time, or TimeLimitExceeded."""
    if not 0 < seconds < math.inf:
        raise MyceliumError(f"a time limit must be a positive number of seconds, got {seconds!r}")
    if _inside_worker:
        return function(*args)  # a nested limited call: the outer deadline already applies
    worker = getattr(_workers, "worker", None)
    if worker is None or not worker.stop.alive:
        worker = _workers.worker = _Worker()
    return worker.call(function, args, seconds)
