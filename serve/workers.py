"""Solver worker processes behind `mycelium serve`, and the batching of concurrent callers.

    pool = SolverPool(Path("runs/ckpt"), workers=2)
    await pool.start()                                  # every worker loads the specialists once
    results = await pool.solve(problems, timeout=30.0)   # list[SolveResult], in order

Why processes: the beam search is Python-heavy and holds the GIL, so two threads would share
one core; each worker process runs torch on one thread and owns a core. Why batching: problems
that arrive while every worker is busy wait in one queue, and a free worker takes up to
`max_batch` of them at once (one encoder pass, one spaCy pipe). On a CPU with the reasoner that
does not pay (its beam search runs per problem; benchmarks/serve.py measured 6.2 problems/s at 1
against 5.6 at 8), so the CLI's default is 1; an encoder on a GPU is where batches help.
A caller whose time limit passes gets TimeoutError; if its problem has not started yet it is
dropped from the queue, otherwise the worker's answer is discarded. A full queue refuses new
work (Busy) rather than letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.records import Problem, SolveResult

WARM_UP_PROBLEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as "
                   "many clips in May. How many clips did Natalia sell altogether?")

# ------------------------------------------------------------------------ in the worker process
_SPECIALISTS: Any = None


def _load_in_worker(checkpoints: str | None) -> None:
    """Process initializer: one torch thread, the specialists loaded once."""
    global _SPECIALISTS
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    if checkpoints is None:  # MATH tracks only: no trained students needed
        return
    from mycelium.specialists.registry import Specialists

    _SPECIALISTS = Specialists.load(Path(checkpoints), use_cpu=True)


def _solve_in_worker(problems: list[Problem]) -> list[dict]:
    from mycelium.inference.solve import solve_problems

    started = time.perf_counter()
    results = solve_problems(problems, _SPECIALISTS)
    each = (time.perf_counter() - started) / max(len(problems), 1)
    return [{**result.model_dump(), "seconds": round(each, 4)} for result in results]


# --------------------------------------------------------------------------- in the server
class Busy(Exception):
    """The queue is full: the caller should retry later."""


@dataclass
class _Job:
    problem: Problem
    future: asyncio.Future
    queued: float = field(default_factory=time.monotonic)


@dataclass
class PoolStats:
    batches: int = 0
    problems: int = 0
    largest_batch: int = 0
    dropped_before_start: int = 0  # callers gone (timed out) before a worker took them
    restarts: int = 0


class SolverPool:
    def __init__(self, checkpoints: Path | None, *, workers: int = 2, max_batch: int = 1,
                 max_queue: int = 256) -> None:
        if workers < 1:
            raise MyceliumError(f"workers {workers}: expected at least 1")
        self.checkpoints = None if checkpoints is None else str(checkpoints)
        self.workers, self.max_batch, self.max_queue = workers, max_batch, max_queue
        self.stats = PoolStats()
        self._executor: ProcessPoolExecutor | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._dispatchers: list[asyncio.Task] = []

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process has threads (uvicorn, asyncio), and a forked
        # child inherits their locks held
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_load_in_worker, initargs=(self.checkpoints,))

    async def start(self) -> None:
        """Start the workers and solve one problem on each, so that loading errors surface now
        and the first caller does not pay for the loading."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        warm = [Problem.create("gsm8k" if self.checkpoints else "math",
                               WARM_UP_PROBLEM if self.checkpoints else "Compute $2+3$.")]
        try:
            await asyncio.gather(*(loop.run_in_executor(self._executor, _solve_in_worker, warm)
                                   for _ in range(self.workers)))
        except BrokenProcessPool as error:
            raise MyceliumError(f"the solver workers could not start ({error}); run "
                                "`mycelium doctor` on the checkpoints") from None
        self._queue = asyncio.Queue()
        self._dispatchers = [asyncio.create_task(self._dispatch()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._dispatchers:
            task.cancel()
        await asyncio.gather(*self._dispatchers, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def solve(self, problems: list[Problem], timeout: float) -> list[SolveResult]:
        """Each problem's result, in order; TimeoutError past `timeout` seconds, Busy when the
        queue cannot take them."""
        if self._queue is None:
            raise MyceliumError("the solver pool is not started")
        if self.queued + len(problems) > self.max_queue:
            raise Busy(f"{self.queued} problems are waiting (limit {self.max_queue})")
        loop = asyncio.get_running_loop()
        jobs = [_Job(problem, loop.create_future()) for problem in problems]
        for job in jobs:
            self._queue.put_nowait(job)
        try:
            rows = await asyncio.wait_for(asyncio.gather(*(job.future for job in jobs)), timeout)
        except TimeoutError:
            for job in jobs:
                job.future.cancel()  # not started yet: the dispatcher skips it
            raise
        return [SolveResult.model_validate(row) for row in rows]

    async def _dispatch(self) -> None:
        """One per worker: take what is queued (up to max_batch), solve it, hand out results."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [job for job in batch if not job.future.done()]
            self.stats.dropped_before_start += len(batch) - len(live)
            if not live:
                continue
            self.stats.batches += 1
            self.stats.problems += len(live)
            self.stats.largest_batch = max(self.stats.largest_batch, len(live))
            try:
                rows = await loop.run_in_executor(self._executor, _solve_in_worker,
                                                  [job.problem for job in live])
            except BrokenProcessPool:
                # a worker died (killed, out of memory): these callers get an error, the pool
                # is rebuilt for the next ones
                self.stats.restarts += 1
                self._executor = self._new_executor()
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(MyceliumError(
                            "a solver worker died while solving; it was restarted, retry"))
                continue
            except Exception as error:  # noqa: BLE001 - handed to the callers, not swallowed
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            for job, row in zip(live, rows, strict=True):
                if not job.future.done():
                    job.future.set_result(row)
