"""The one progress-callback shape: `progress(stage, done, total)`, called as a stage advances.

Long-running library functions (label building, training, solving, evaluation, the teacher run)
take an optional `Progress`; the CLI turns it into rich bars on a terminal, and rounds and logs
get plain lines from `tenths`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(stage: str, done: int, total: int) -> None:
    """The default: report nothing."""


def tenths(log: Callable[[str], None], prefix: str = "") -> Progress:
    """A `Progress` that logs `"<prefix><stage>: done/total (N s)"` each time a stage passes
    another tenth of its work: plain lines for log files, CI and rounds."""
    started, printed = time.monotonic(), {}

    def report(stage: str, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if printed.get(stage) != tenth:
            printed[stage] = tenth
            log(f"{prefix}{stage}: {done}/{total} ({time.monotonic() - started:.0f} s)")

    return report
