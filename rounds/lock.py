"""One run at a time per run folder: a lock held by a live process.

    with run_lock(plan.run_dir, if_locked="wait", log=print):
        run_round(plan)

Two `mycelium round` (or two deployment runs) on one run folder would otherwise both compute
every stage and write the same files at once. The lock is `fcntl.flock` on `RUN/.lock`: the
kernel drops it when its process dies, however it dies, so a killed run never blocks the next
one. The file also holds who took it (pid, host, command, time); a run that gets the lock and
finds another holder's record there knows that holder died without letting go, and says so.
The second run refuses with one line naming the holder, or waits for it (`if_locked="wait"`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from mycelium.data.errors import MyceliumError

LOCK_FILE = ".lock"
IfLocked = Literal["refuse", "wait"]
WAIT_REPORT_SECONDS = 30.0  # while waiting, say so this often
POLL_SECONDS = 0.5


def describe_holder(record: dict) -> str:
    return (f"pid {record.get('pid')} on {record.get('host')} since {record.get('since')} "
            f"({record.get('command')})")


def _read_record(handle) -> dict | None:
    handle.seek(0)
    text = handle.read().strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"command": "unreadable lock record"}


def _write_record(handle, record: dict | None) -> None:
    handle.seek(0)
    handle.truncate()
    if record is not None:
        handle.write(json.dumps(record))
    handle.flush()
    os.fsync(handle.fileno())


@contextlib.contextmanager
def run_lock(run_dir: Path, *, if_locked: IfLocked = "refuse",
             log: Callable[[str], None] | None = None,
             timeout: float | None = None) -> Iterator[dict]:
    """Hold the run folder's lock for the body; yields this holder's record. `if_locked`
    "refuse" raises MyceliumError naming the holder; "wait" blocks until it is free (at most
    `timeout` seconds, then refuses the same way)."""
    if if_locked not in ("refuse", "wait"):
        raise MyceliumError(f"if_locked {if_locked!r}: expected refuse or wait")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    say = log or (lambda message: None)
    # "a+" creates the file without truncating another holder's record
    with open(path, "a+", encoding="utf-8") as handle:
        started = time.monotonic()
        last_report = -WAIT_REPORT_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_record(handle) or {}
                waited = time.monotonic() - started
                if if_locked == "refuse" or (timeout is not None and waited >= timeout):
                    raise MyceliumError(
                        f"{run_dir} is in use by another run: {describe_holder(holder)}; wait "
                        "for it, or pass --if-locked wait to queue behind it") from None
                if waited - last_report >= WAIT_REPORT_SECONDS:
                    say(f"waiting for {run_dir}: held by {describe_holder(holder)}")
                    last_report = waited
                time.sleep(POLL_SECONDS)
        stale = _read_record(handle)
        if stale is not None:
            say(f"took over the lock on {run_dir} from {describe_holder(stale)}, which ended "
                "without releasing it (killed?)")
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"),
                  "command": " ".join(os.path.basename(arg) if index == 0 else arg
                                      for index, arg in enumerate(sys.argv))[:200]}
        _write_record(handle, record)
        try:
            yield record
        finally:
            _write_record(handle, None)  # a clean release leaves no record behind
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
