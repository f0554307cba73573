"""The teacher's half of a round: generate CoT, capture attention, extract signals, write pages.

    run = run_signals(teacher, problems, out_dir, SignalsRunConfig())
    run.counts   # status -> number of problems ("ok", "no_peaks", "empty_cot", "failed")

Writes `traces.jsonl`, `signals.jsonl` and one HTML page per problem under `out_dir/pages/`, each
file atomically. A problem whose extraction fails is recorded with status "failed" and its
reason; the rest of the batch goes on.

A distillation round runs the two halves as separate stages, with the traces persisted between
them: `generate_cot` (the `teacher_cot` stage), then `signals_from_traces` (the `signals` stage).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mycelium.data.io import write_jsonl_atomic, write_text_atomic
from mycelium.data.progress import Progress, no_progress
from mycelium.data.records import Problem, Signals, TeacherTrace
from mycelium.signals.extract import SignalsConfig, extract_signals
from mycelium.signals.html import render_page
from mycelium.teacher.capture import CaptureConfig
from mycelium.teacher.forced import capture_traces
from mycelium.teacher.generate import GenerationConfig, generate_traces
from mycelium.teacher.models import Teacher


@dataclass
class SignalsRunConfig:
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    capture_batch_size: int = 4


@dataclass
class SignalsRun:
    signals: list[Signals]
    counts: Counter
    seconds: dict[str, float]  # stage -> wall seconds
    failures: dict[str, str]  # problem id -> reason


def run_signals(teacher: Teacher, problems: Sequence[Problem], out_dir: Path,
                config: SignalsRunConfig | None = None,
                progress: Progress | None = None) -> SignalsRun:
    """`progress(stage, done, total)` is called as each stage advances."""
    config = config or SignalsRunConfig()
    started = time.perf_counter()
    traces = generate_cot(teacher, problems, config, progress)
    generate_seconds = time.perf_counter() - started
    run = signals_from_traces(teacher, problems, traces, out_dir, config, progress)
    run.seconds = {"generate": generate_seconds, **run.seconds}
    return run


def generate_cot(teacher: Teacher, problems: Sequence[Problem],
                 config: SignalsRunConfig | None = None,
                 progress: Progress | None = None) -> list[TeacherTrace]:
    """The teacher's chain-of-thought for each problem (the round's `teacher_cot` stage)."""
    config = config or SignalsRunConfig()
    report = progress or no_progress
    done = 0

    def generated(count: int) -> None:
        nonlocal done
        done += count
        report("generate", done, len(problems))

    return generate_traces(teacher, problems, config.generation, generated)


def signals_from_traces(teacher: Teacher, problems: Sequence[Problem],
                        traces: Sequence[TeacherTrace], out_dir: Path,
                        config: SignalsRunConfig | None = None,
                        progress: Progress | None = None) -> SignalsRun:
    """One teacher-forced pass per trace with attention capture, then the signals; writes
    traces.jsonl, signals.jsonl and the pages (the round's `signals` stage)."""
    config = config or SignalsRunConfig()
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}
    report = progress or no_progress
    started, done = time.perf_counter(), 0

    def captured(count: int) -> None:
        nonlocal done
        done += count
        report("capture", done, len(problems))

    rows = capture_traces(teacher, traces, config.capture, config.capture_batch_size, captured)
    seconds["capture"] = time.perf_counter() - started

    started = time.perf_counter()
    results: list[Signals] = []
    failures: dict[str, str] = {}
    for index, (problem, trace, attention) in enumerate(zip(problems, traces, rows,
                                                            strict=True)):
        try:
            signals = extract_signals(problem, trace, attention, config.signals)
        except Exception as error:  # one bad problem never loses the batch; the reason is kept
            failures[problem.id] = f"{type(error).__name__}: {error}"
            signals = Signals(problem_id=problem.id, teacher=trace.teacher, status="failed",
                              jsd=[], jsd_smoothed=[], peaks=[], boundary_rows=[], segments=[],
                              config_hash=config.signals.hash())
        results.append(signals)
        write_text_atomic(out_dir / "pages" / f"{problem.id}.html",
                          render_page(problem.text, trace, signals))
        report("signals", index + 1, len(problems))
    seconds["signals"] = time.perf_counter() - started

    write_jsonl_atomic(out_dir / "traces.jsonl", (trace.model_dump() for trace in traces))
    write_jsonl_atomic(out_dir / "signals.jsonl",
                       ({**signals.model_dump(), "failure": failures.get(signals.problem_id)}
                        for signals in results))
    return SignalsRun(results, Counter(signals.status for signals in results), seconds, failures)
