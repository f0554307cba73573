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

from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_jsonl_atomic, write_text_atomic
from mycelium.data.progress import Progress, no_progress
from mycelium.data.records import Problem, Signals, TeacherTrace
from mycelium.signals.extract import SignalsConfig, empty_signals, extract_signals
from mycelium.signals.html import render_page
from mycelium.teacher.capture import CaptureConfig
from mycelium.teacher.forced import capture_traces, context_length, fits_context, len_layers
from mycelium.teacher.generate import GenerationConfig, generate_traces
from mycelium.teacher.models import Teacher, TeacherTokenizer
from mycelium.teacher.reference import COT_SOURCES, reference_traces


@dataclass
class SignalsRunConfig:
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)  # layers: the boundary layers
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    capture_batch_size: int = 4
    # Layers whose attention gives each segment's IAF spans; None: the boundary layers. A
    # calibration (teacher/calibration.py) measures the two separately.
    iaf_layers: list[int] | None = None
    # "generate": the teacher writes its chain-of-thought; "reference": the dataset's worked
    # solution is teacher-forced in its place (teacher/reference.py; needs gold problems).
    cot_source: str = "generate"

    def __post_init__(self) -> None:
        if self.cot_source not in COT_SOURCES:
            raise MyceliumError(f"unknown CoT source {self.cot_source!r}: expected one of "
                                f"{', '.join(COT_SOURCES)}")


@dataclass
class SignalsRun:
    signals: list[Signals]
    counts: Counter
    seconds: dict[str, float]  # stage -> wall seconds
    failures: dict[str, str]  # problem id -> reason


def run_signals(teacher: Teacher, items: Sequence[Problem | GoldProblem], out_dir: Path,
                config: SignalsRunConfig | None = None,
                progress: Progress | None = None) -> SignalsRun:
    """`progress(stage, done, total)` is called as each stage advances. `items` are
    GoldProblems for the reference CoT source, either kind for a generated one."""
    config = config or SignalsRunConfig()
    started = time.perf_counter()
    traces = generate_cot(teacher, items, config, progress)
    cot_seconds = time.perf_counter() - started
    problems = [item.problem if isinstance(item, GoldProblem) else item for item in items]
    run = signals_from_traces(teacher, problems, traces, out_dir, config, progress)
    run.seconds = {config.cot_source: cot_seconds, **run.seconds}
    return run


def generate_cot(teacher: Teacher | TeacherTokenizer, items: Sequence[Problem | GoldProblem],
                 config: SignalsRunConfig | None = None,
                 progress: Progress | None = None) -> list[TeacherTrace]:
    """The chain-of-thought the capture pass runs over, for each problem (the round's
    `teacher_cot` stage): the teacher's own, or with `cot_source: reference` the worked
    solution, which needs GoldProblems."""
    config = config or SignalsRunConfig()
    report = progress or no_progress
    done = 0
    stage = "generate" if config.cot_source == "generate" else "reference"

    def generated(count: int) -> None:
        nonlocal done
        done += count
        report(stage, done, len(items))

    if config.cot_source == "reference":
        if not all(isinstance(item, GoldProblem) for item in items):
            raise MyceliumError("the reference CoT source teacher-forces the worked solutions: "
                                "give problems with their gold solutions (a dataset file)")
        return reference_traces(teacher, items, config.generation, generated)
    if not isinstance(teacher, Teacher):
        raise MyceliumError("the generate CoT source needs the teacher's weights: load it with "
                            "load_teacher, not load_teacher_tokenizer")
    problems = [item.problem if isinstance(item, GoldProblem) else item for item in items]
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

    layer_sets = None
    if config.iaf_layers is not None:
        layer_sets = (config.capture.layers or list(range(len_layers(teacher))),
                      config.iaf_layers)
    rows = capture_traces(teacher, traces, config.capture, config.capture_batch_size, captured,
                          layer_sets)
    seconds["capture"] = time.perf_counter() - started

    started = time.perf_counter()
    results: list[Signals] = []
    failures: dict[str, str] = {}
    for index, (problem, trace, attention) in enumerate(zip(problems, traces, rows,
                                                            strict=True)):
        try:
            if trace.cot_ids and not fits_context(teacher, trace):
                failures[problem.id] = (f"prompt + CoT = {len(trace.prompt_ids)} + "
                                        f"{len(trace.cot_ids)} tokens, over the teacher's "
                                        f"context of {context_length(teacher)}")
                signals = empty_signals(problem, trace, "too_long", config.signals)
            else:
                boundary, iaf = attention if isinstance(attention, tuple) else (attention,
                                                                                None)
                signals = extract_signals(problem, trace, boundary, config.signals, iaf)
        except Exception as error:  # one bad problem never loses the batch; the reason is kept
            failures[problem.id] = f"{type(error).__name__}: {error}"
            signals = empty_signals(problem, trace, "failed", config.signals)
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
