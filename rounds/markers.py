"""Completion markers: how a killed round resumes without redoing finished work.

A unit of work (a whole stage, or one shard of a stage that processes problems) writes its
outputs atomically (temp file + rename, data/io.py) and then, last, its marker
`<dir>/_done.json` holding what it did (counts, seconds, when). A unit whose marker exists is
finished and is skipped on a rerun; a unit without one is redone from scratch (its partial
outputs are overwritten). So a kill at any instant loses at most the unit in progress, and no
output is counted twice: merges read only marked units.

Shards: a stage over problems runs as `world_size` shards; shard `rank` takes problems
`rank, rank + world_size, ...` of the train split, and merges put rows back in train order, so
any number of workers produces the same merged output.

Fault injection for crash-safety tests (documented, never set in normal use):
`MYCELIUM_CRASH_AT=STAGE[:N]` makes the process SIGKILL itself just before the (N+1)-th marker of
STAGE would be written (N defaults to 0), i.e. inside that stage, after its outputs and before it
is recorded as finished.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from mycelium.data.io import write_text_atomic

MARKER = "_done.json"
CRASH_ENV = "MYCELIUM_CRASH_AT"
T = TypeVar("T")
_markers_written: dict[str, int] = {}


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"shard rank {self.rank} outside world size {self.world_size}")

    @property
    def name(self) -> str:
        return f"shard-{self.rank:05d}-of-{self.world_size:05d}"

    def take(self, items: Sequence[T]) -> list[T]:
        return list(items[self.rank::self.world_size])


def shards(world_size: int) -> list[Shard]:
    return [Shard(rank, world_size) for rank in range(world_size)]


def read_marker(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def is_done(directory: Path) -> bool:
    return (Path(directory) / MARKER).is_file()


def write_marker(directory: Path, stage: str, summary: dict[str, Any], started: float) -> dict:
    """Record a unit as finished (after all its outputs are in place)."""
    _maybe_crash(stage)
    marker = {"stage": stage, "summary": summary,
              "seconds": round(time.time() - started, 3), "started_at": _iso(started),
              "finished_at": _iso(time.time()), "pid": os.getpid()}
    write_text_atomic(Path(directory) / MARKER, json.dumps(marker, indent=2) + "\n")
    return marker


def run_unit(directory: Path, stage: str, work: Callable[[Path], dict[str, Any]],
             log: Callable[[str], None] | None = None, label: str | None = None
             ) -> dict[str, Any]:
    """Run `work(directory)` unless `directory` is already marked done; returns the marker
    (with `"skipped": True` when it was). `label` names the unit in logs (a shard's rank)."""
    directory = Path(directory)
    found = read_marker(directory)
    if found is not None:
        if log:
            log(f"{label or stage}: already done in {directory} ({found['finished_at']}); "
                "skipped")
        return {**found, "skipped": True}
    directory.mkdir(parents=True, exist_ok=True)
    started = time.time()
    summary = work(directory)
    return {**write_marker(directory, stage, summary, started), "skipped": False}


def _maybe_crash(stage: str) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != stage:
        return
    seen = _markers_written.get(stage, 0)
    _markers_written[stage] = seen + 1
    if seen == int(count or 0):
        os.kill(os.getpid(), signal.SIGKILL)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
