"""MATH final answers: parsing and equivalence through math-verify.

MATH answers are LaTeX as found inside \\boxed{...}: "\\frac{1}{2}", "0.5", "(1,2)", "x^2+1",
"\\text{(C)}", "[2,5)", "\\$18", "10^\\circ". `math_equivalent` decides whether two of them are the
same answer and `parse_math_answer` gives the sympy form. All parsing and comparison goes through
math-verify (HuggingFace's grader); this module only wraps answers so that bare LaTeX parses and
bounds the time spent.

Time limits. math-verify bounds its own work with `signal.alarm`, which (read from its source,
math_verify/utils.py, 0.9.0) has three problems for us:
  * off the main thread `signal.signal` raises ValueError, and `parse`/`verify` re-raise it even
    with raise_on_error=False; Prefect runs tasks in worker threads;
  * `signal.alarm` takes whole seconds: a float such as 0.5 raises TypeError inside the library,
    which is swallowed, so `parse` returns [] and `verify` returns False with no timeout at all;
  * the limit applies to each step (each parse, each compared pair), not to a whole call.
So the library's timeouts are turned off (parsing_timeout=None, timeout_seconds=None) and one
deadline of `timeout_s` seconds covers the whole call:
  * on the main thread, `signal.setitimer` (sub-second) raises math-verify's TimeoutException, the
    same interrupt the library uses; like the library, this takes over SIGALRM during the call;
  * on any other thread, the call runs in a child process (one per calling thread, started on
    first use and reused), on that process's main thread under the same deadline. The parent waits
    one second longer and kills the child if it is still busy: that only happens when the work is
    stuck in C code that a signal cannot interrupt. Starting a child takes a second or two (it
    imports sympy), once per thread; that start is not counted in `timeout_s`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from math_verify import LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException
from mycelium.data.errors import MyceliumError

logger = logging.getLogger(__name__)

# The answer is wrapped in \boxed{...} before parsing: math-verify then takes exactly the boxed
# content (with brace matching), whatever characters it holds ("$", newlines, "\$18"), whereas
# "$...$" breaks on an answer that contains "$" or a newline. The LaTeX extractor alone is used:
# the plain-expression extractor only adds a fallback that picks loose numbers out of text.
_EXTRACTION = (LatexExtractionConfig(),)
# How long the parent waits beyond `timeout_s` for a child that enforces `timeout_s` itself.
_CHILD_GRACE_S = 1.0
# A child process imports sympy and math-verify before it can serve; that is not the caller's
# time limit, but a child that has not started within this long is broken.
_CHILD_START_S = 120.0
# A sentence period after an answer ("-\frac{5}{3}.", as some MATH answers are written) makes
# math-verify misread it: "\frac{7}{5} + \frac{1}{5} i." parses as 1/5, "x+1." not at all.
_TRAILING_PERIOD = re.compile(r"(?<![.\\])\.\s*$")
# math-verify reads "43_5" (43 in base 5) as 43, so "43_5", "43_6" and "43" would compare equal.
# Here a base subscript is part of the answer: answers must carry the same ones to be equal.
# A numeral followed by a base subscript: digits/capital letters, "_", the base.
_BASE_SUBSCRIPT = re.compile(r"(?<![A-Za-z\\])[0-9A-Z]+_\{?(\d+)\}?")


class _MathVerifyDisabledTimeoutNotice(logging.Filter):
    """Drop math-verify's one-off "Timeout is disabled" warning: this module times the calls."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_MathVerifyDisabledTimeoutNotice())


def _parse(text: str) -> list[Any]:
    # raise_on_error=True so that a timeout reaches `_with_deadline` instead of being turned
    # into "nothing parsed" with the rest of the call left to run unbounded.
    return parse(
        "\\boxed{" + _TRAILING_PERIOD.sub("", text) + "}",
        extraction_config=_EXTRACTION,
        parsing_timeout=None,
        raise_on_error=True,
    )


def _equivalent(gold: str, candidate: str) -> bool:
    if sorted(_BASE_SUBSCRIPT.findall(gold)) != sorted(_BASE_SUBSCRIPT.findall(candidate)):
        return False
    # verify's raise_on_error stays False: an error (or the deadline) while comparing one pair of
    # parses makes that pair unequal and verify goes on to the rest, which are string comparisons.
    return verify(_parse(gold), _parse(candidate), timeout_seconds=None)


def _with_deadline(function: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> Any:
    """function(*args) on the main thread, interrupted by TimeoutException after timeout_s."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutException(f"took longer than {timeout_s:g} s")

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    previous_delay, previous_interval = 0.0, 0.0
    try:
        previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:  # give back a caller's own alarm (pytest-timeout uses one)
            remaining = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), previous_interval)


def _attempt(
    function: Callable[..., Any], args: tuple[Any, ...], timeout_s: float
) -> tuple[bool, Any]:
    """(True, result), or (False, why) when the work timed out or failed. Main thread only."""
    try:
        return True, _with_deadline(function, args, timeout_s)
    except TimeoutException as error:
        return False, f"timed out ({error})"
    except Exception as error:  # math-verify and sympy raise anything on malformed input
        return False, f"{type(error).__name__}: {error}"


def _serve(fd: int) -> None:
    """The child process's loop: run each request on this (main) thread and send the outcome."""
    connection = Connection(fd)
    connection.send("ready")
    while True:
        try:
            function, args, timeout_s = connection.recv()
        except EOFError:  # the parent closed its end or exited
            return
        outcome = _attempt(function, args, timeout_s)
        try:
            connection.send(outcome)
        except Exception as error:  # a parse result that does not pickle; nothing was sent
            connection.send((False, f"result could not be sent back: {error}"))


_CHILD_MAIN = "import sys; from mycelium.data.math_answers import _serve; _serve(int(sys.argv[1]))"


def _kill_child(process: subprocess.Popen[bytes], connection: Connection) -> None:
    connection.close()
    process.kill()
    process.wait()


class _Child:
    """A `python` child process serving `_attempt` calls for one calling thread.

    A plain subprocess, not multiprocessing: its "spawn" and "forkserver" re-run the caller's main
    script in the child (breaking scripts without an `if __name__ == "__main__":` guard), and
    "fork" is unsafe in a process that runs threads.
    """

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair()
        with child_end:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                # The caller's import path, so the child finds this module as the caller did.
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
                # Out of the terminal's process group: Ctrl-C stops the caller, which kills this.
                start_new_session=True,
            )
        self._connection = Connection(parent_end.detach())
        # Kill the child when this object goes: the thread that owns it ended, or it hung.
        self._finalizer = weakref.finalize(self, _kill_child, self._process, self._connection)
        try:
            ready = self._connection.poll(_CHILD_START_S) and self._connection.recv() == "ready"
        except EOFError:
            ready = False
        if not ready:
            self._finalizer()
            raise MyceliumError(
                "the math-verify worker process did not start (it must be able to import "
                "mycelium.data.math_answers; see its error above, if any)"
            )

    def attempt(
        self, function: Callable[..., Any], args: tuple[Any, ...], timeout_s: float
    ) -> tuple[bool, Any]:
        self._connection.send((function, args, timeout_s))
        if not self._connection.poll(timeout_s + _CHILD_GRACE_S):
            self._finalizer()
            return False, f"timed out (worker process killed after {timeout_s:g} s)"
        try:
            return self._connection.recv()
        except EOFError:
            self._finalizer()
            return False, "the math-verify worker process died"

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


_children = threading.local()


def _bounded(
    function: Callable[..., Any], args: tuple[Any, ...], timeout_s: float
) -> tuple[bool, Any]:
    """Run function(*args) within timeout_s seconds on any thread; see the module docstring."""
    if not 0 < timeout_s < math.inf:
        raise MyceliumError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if threading.current_thread() is threading.main_thread():
        return _attempt(function, args, timeout_s)
    child = getattr(_children, "child", None)
    if child is None or not child.alive:
        child = _children.child = _Child()
    return child.attempt(function, args, timeout_s)


def math_equivalent(gold: str, candidate: str, *, timeout_s: float = 5.0) -> bool:
    """True iff two MATH final answers (the LaTeX inside \\boxed{}) are mathematically equal.

    `gold` is the reference: math-verify is not symmetric (gold "x=3" accepts candidate "3").
    Identical non-blank strings are equal without parsing. Anything that cannot be parsed or
    compared within `timeout_s` seconds (the whole call, not counting the one-off start of a worker
    process when called off the main thread) is not equal: odd answers never raise. Raises
    MyceliumError only for a timeout_s that is not a positive finite number, or when the worker
    process for a non-main thread cannot start.
    """
    if not isinstance(gold, str) or not isinstance(candidate, str):
        return False
    if gold == candidate:
        return bool(gold.strip())
    done, outcome = _bounded(_equivalent, (gold, candidate), timeout_s)
    if not done:
        logger.debug("MATH answers %r and %r not compared: %s", gold, candidate, outcome)
    return done and outcome is True


def parse_math_answer(text: str, *, timeout_s: float = 5.0) -> list[Any]:
    """math-verify's parse of one MATH final answer: [sympy object, normalized LaTeX string].

    The list is what `math_verify.verify` takes. Raises MyceliumError naming the text when no
    sympy object comes out of it (unparseable, empty, or over `timeout_s` seconds).
    """
    if not isinstance(text, str):
        raise MyceliumError(f"a MATH answer must be a string, got {type(text).__name__}: {text!r}")
    done, outcome = _bounded(_parse, (text,), timeout_s)
    if not done:
        raise MyceliumError(f"could not parse MATH answer {text!r}: {outcome}")
    if not any(not isinstance(item, str) for item in outcome):
        raise MyceliumError(f"no mathematical expression found in MATH answer {text!r}")
    return outcome
