"""One distillation round as plain stage functions over a run directory.

    plan = prepare_round(load_round_config("configs/local.yaml"), round=1)   # fails fast
    for group in stage_groups(plan):          # units in a group may run concurrently
        for unit in group:
            run_unit_of(plan, unit)            # skipped when its completion marker exists

Run directory (`<home>/<name>/`, home = config `home`, else $MYCELIUM_HOME, else ./runs):

    run.json                       the config and its result hash (a rerun must match it)
    split/{train,dev}.jsonl        train problems and the dev split (carved once per run)
    round-N/
      student_solve/shard-*/       round ≥ 2: the previous round's students solve every train
                                   problem; correct programs → rows.jsonl (source=student)
      teacher_cot/shard-*/         teacher chain-of-thought (traces.jsonl): round 1 with
                                   source=teacher; round ≥ 2 the students' failures (mop-up)
      signals/shard-*/             teacher-forced capture → signals.jsonl, traces.jsonl, pages/
      labels/shard-*/              execution-validated labels → rows.jsonl (reference/teacher)
      traces/                      the round's trace store: the previous round's store plus this
                                   round's new rows, each re-executed against the gold answer,
                                   deduplicated (labels.parquet + labels.json)
      checkpoints/{tagger,classifier,extractor}/
      eval/{samples.jsonl,results.json,report.html}     the dev split, gold never at inference
      report/{round.json,report.html}                   stage times, round-over-round table

Every unit writes atomically and finishes with a completion marker (rounds/stages.py): a killed
round rerun with the same config redoes only the unit that was running.

Stages in order: split, student_solve (round ≥ 2), teacher_cot + signals (when a teacher runs),
labels (round 1, or the mop-up), validate, train_tagger / train_classifier / train_extractor
(independent: they may run side by side), eval, report.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_jsonl_atomic, write_text_atomic
from mycelium.data.loaders import bundled_sample_path, is_local_source, load_problems
from mycelium.data.records import GoldProblem, normalize_text
from mycelium.data.splits import is_dev, to_row
from mycelium.rounds.config import RoundConfig
from mycelium.rounds.stages import Shard, is_done, read_marker, run_unit, shards

SPECIALISTS = ("tagger", "classifier", "extractor")
STAGES = ("split", "student_solve", "teacher_cot", "signals", "labels", "validate",
          "train_tagger", "train_classifier", "train_extractor", "eval", "report")
SHARDED = frozenset({"student_solve", "teacher_cot", "signals", "labels"})
SOLVE_CHUNK = 32  # problems per solve call: progress granularity, bounded memory
Log = Callable[[str], None]


@dataclass(frozen=True)
class Unit:
    """One schedulable piece of a round: a stage, or one shard of a sharded stage."""

    stage: str
    shard: Shard | None = None

    @property
    def label(self) -> str:
        return self.stage if self.shard is None else f"{self.stage}[{self.shard.rank}]"


@dataclass(frozen=True)
class RoundPlan:
    config: RoundConfig
    round: int
    run_dir: Path
    stages: tuple[str, ...]
    world_size: int = 1
    until: str | None = None

    def round_dir(self, number: int | None = None) -> Path:
        return self.run_dir / f"round-{self.round if number is None else number}"

    def stage_dir(self, stage: str, shard: Shard | None = None) -> Path:
        if stage == "split":
            return self.run_dir / "split"
        if stage.startswith("train_"):
            return self.round_dir() / "checkpoints" / stage.removeprefix("train_")
        if stage == "validate":
            return self.round_dir() / "traces"
        base = self.round_dir() / stage
        return base if shard is None else base / shard.name

    def unit_dir(self, unit: Unit) -> Path:
        return self.stage_dir(unit.stage, unit.shard)

    @property
    def checkpoints(self) -> Path:
        return self.round_dir() / "checkpoints"

    @property
    def report_path(self) -> Path:
        return self.round_dir() / "report" / "report.html"


def run_home(config: RoundConfig) -> Path:
    """The config's home, else where `mycelium solve` looks ($MYCELIUM_HOME, else ./runs)."""
    if config.home:
        return Path(config.home)
    from mycelium.specialists.inference import run_home as default_home

    return default_home()


def prepare_round(config: RoundConfig, round: int = 1, *, world_size: int | None = None,
                  until: str | None = None) -> RoundPlan:
    """Check everything a round needs before any expensive stage; writes nothing.

    Refuses: a round number below 1; a missing dataset file; a run folder made with another
    config; round N ≥ 2 whose round N-1 is not complete; a teacher that cannot load (when one
    runs this round); a student base that cannot load."""
    if round < 1:
        raise MyceliumError(f"round {round}: rounds are numbered from 1")
    if until is not None and until not in STAGES:
        raise MyceliumError(f"--until {until!r}: expected one of {', '.join(STAGES)}")
    for key in ("train_file", "dev_file"):
        value = getattr(config, key)
        if value is not None and is_local_source(value) and not Path(value).is_file():
            raise MyceliumError(f"config {key}: {value} not found (expected a GSM8K "
                                "JSONL/Parquet file, or a hub id such as openai/gsm8k)")
    run_dir = run_home(config) / config.name
    recorded = run_dir / "run.json"
    if recorded.is_file():
        found = json.loads(recorded.read_text(encoding="utf-8"))
        if found.get("result_hash") != config.result_hash():
            raise MyceliumError(
                f"{run_dir} was started with another config (result hash "
                f"{found.get('result_hash')}, this one {config.result_hash()}); nothing was "
                "changed: give this config another `name`, or rerun with the run's own config "
                f"({recorded})")
    if round > 1:
        previous = run_dir / f"round-{round - 1}"
        missing = [name for name in ("traces", *(f"checkpoints/{s}" for s in SPECIALISTS))
                   if not is_done(previous / name)]
        if missing:
            raise MyceliumError(f"round {round} needs round {round - 1} finished in {previous} "
                                f"(missing: {', '.join(missing)}); run round {round - 1} first")
    teacher_runs = (config.source == "teacher" and round == 1) or (
        round > 1 and config.teacher is not None)
    if config.source == "teacher" and config.teacher is None:
        raise MyceliumError("config source: teacher needs a `teacher:` section (model, backend, "
                            "device)")
    if teacher_runs:
        from mycelium.teacher.models import check_teacher

        check_teacher(config.teacher.model, config.teacher.backend)
    _check_base(config.students.base)
    stages = ["split"]
    if round > 1:
        stages.append("student_solve")
    if teacher_runs:
        stages += ["teacher_cot", "signals"]
    if round == 1 or teacher_runs:
        stages.append("labels")
    stages += ["validate", *(f"train_{name}" for name in SPECIALISTS), "eval", "report"]
    if until is not None:
        if until not in stages:
            raise MyceliumError(f"--until {until}: round {round} has no such stage (its stages: "
                                f"{', '.join(stages)})")
        stages = stages[:stages.index(until) + 1]
    return RoundPlan(config=config, round=round, run_dir=run_dir, stages=tuple(stages),
                     world_size=world_size or config.world_size, until=until)


def _check_base(base: str | None) -> None:
    if base is None:
        from mycelium.specialists.bases import default_base

        default_base()
        return
    if is_local_source(base) and not Path(base).is_dir():
        raise MyceliumError(f"students.base {base}: not a model folder (expected a folder with "
                            "config.json, or a hub id such as Qwen/Qwen2.5-0.5B)")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(base)
    except (OSError, ValueError) as error:
        raise MyceliumError(f"students.base {base!r} cannot load: "
                            f"{str(error).strip().splitlines()[0]}") from None


def stage_groups(plan: RoundPlan) -> list[list[Unit]]:
    """The plan's units in order; units of one group are independent of each other."""
    groups: list[list[Unit]] = []
    trainers: list[Unit] = []
    for stage in plan.stages:
        if stage in SHARDED:
            groups.append([Unit(stage, shard) for shard in shards(plan.world_size)])
        elif stage.startswith("train_"):
            trainers.append(Unit(stage))
            if stage == "train_extractor" or stage == plan.stages[-1]:
                groups.append(trainers)
        else:
            groups.append([Unit(stage)])
    return [group for group in groups if group]


def run_unit_of(plan: RoundPlan, unit: Unit, log: Log | None = None) -> dict[str, Any]:
    """Run one unit (skipped when already done); returns its completion marker."""
    log = log or (lambda message: None)
    work = {
        "split": lambda out: split_stage(plan, out, log),
        "student_solve": lambda out: student_solve_stage(plan, unit.shard, out, log),
        "teacher_cot": lambda out: teacher_cot_stage(plan, unit.shard, out, log),
        "signals": lambda out: signals_stage(plan, unit.shard, out, log),
        "labels": lambda out: labels_stage(plan, unit.shard, out, log),
        "validate": lambda out: validate_stage(plan, out, log),
        "eval": lambda out: eval_stage(plan, out, log),
        "report": lambda out: report_stage(plan, out, log),
    }.get(unit.stage)
    if work is None and unit.stage.startswith("train_"):
        def work(out: Path) -> dict[str, Any]:
            return train_stage(plan, unit.stage.removeprefix("train_"), out, log)
    if work is None:
        raise MyceliumError(f"unknown stage {unit.stage!r}; expected one of {STAGES}")
    directory = plan.unit_dir(unit)
    if unit.stage.startswith("train_") and not is_done(directory) and directory.exists():
        shutil.rmtree(directory)  # a killed training leaves a partial checkpoint: start clean
    marker = run_unit(directory, unit.stage, work, log, unit.label)
    if not marker["skipped"]:
        log(f"{unit.label}: done in {marker['seconds']:.1f} s")
    return marker


def run_round(plan: RoundPlan, log: Log | None = None) -> list[dict[str, Any]]:
    """The plain local executor: every unit in order, in this process."""
    return [run_unit_of(plan, unit, log) for group in stage_groups(plan) for unit in group]


# --------------------------------------------------------------------------------- progress

def progress_printer(stage: str, log: Log) -> Callable[[int, int], None]:
    """`report(done, total)` that logs a line each time another tenth of the work is done."""
    started, printed = time.monotonic(), [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != printed[0]:
            printed[0] = tenth
            log(f"{stage}: {done}/{total} ({time.monotonic() - started:.0f} s)")

    return report


# ----------------------------------------------------------------------------------- stages

def split_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    """Train problems and a dev split (carved by problem id, or the configured dev file minus
    nothing: train then drops every problem whose text is in dev)."""
    config = plan.config
    source = config.train_file or bundled_sample_path()
    items = load_problems(config.dataset, source).problems
    if config.dev_file:
        dev = load_problems(config.dataset, config.dev_file).problems
        dev_texts = {normalize_text(item.problem.text) for item in dev}
        train = [item for item in items if normalize_text(item.problem.text) not in dev_texts]
    else:
        dev = [item for item in items if is_dev(item.problem.id, config.dev_fraction)]
        train = [item for item in items if not is_dev(item.problem.id, config.dev_fraction)]
    if not train or not dev:
        raise MyceliumError(f"train file {source}: {len(train)} train and {len(dev)} dev "
                            "problems; both must be non-empty (a larger file, or another "
                            "dev_fraction / dev_file)")
    write_jsonl_atomic(out / "train.jsonl", map(to_row, train))
    write_jsonl_atomic(out / "dev.jsonl", map(to_row, dev))
    write_text_atomic(plan.run_dir / "run.json", json.dumps({
        "result_hash": config.result_hash(), "config": config.model_dump()}, indent=2) + "\n")
    log(f"split: {len(train)} train, {len(dev)} dev problems from {source}")
    return {"train": len(train), "dev": len(dev), "source": str(source)}


def train_items(plan: RoundPlan) -> list[GoldProblem]:
    return load_problems(plan.config.dataset, plan.stage_dir("split") / "train.jsonl").problems


def dev_items(plan: RoundPlan) -> list[GoldProblem]:
    items = load_problems(plan.config.dataset, plan.stage_dir("split") / "dev.jsonl").problems
    return items[:plan.config.eval.limit] if plan.config.eval.limit else items


def _search_config(plan: RoundPlan):
    from mycelium.solver.search import SearchConfig

    return SearchConfig(**plan.config.search)


def _set_threads(plan: RoundPlan) -> None:
    if plan.config.students.threads:
        import torch

        torch.set_num_threads(plan.config.students.threads)


def student_solve_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    """The previous round's students solve this shard's train problems (no gold answer reaches
    them); a program whose answer equals the gold answer becomes a `student` trace if its labels
    re-execute to it."""
    from mycelium.signals.clauses import clause_spans_many
    from mycelium.solver.program import Program
    from mycelium.specialists.evaluate import answers_match
    from mycelium.specialists.inference import Specialists, solve_word_problems
    from mycelium.specialists.labels import LabelDrop
    from mycelium.specialists.labels_gsm8k import labels_from_program

    _set_threads(plan)
    items = shard.take(train_items(plan))
    specialists = Specialists.load(plan.round_dir(plan.round - 1) / "checkpoints",
                                   use_cpu=plan.config.students.use_cpu)
    config = _search_config(plan)
    report = progress_printer(f"student_solve[{shard.rank}]", log)
    outcomes, rows = [], []
    counts: Counter = Counter()
    for offset in range(0, len(items), SOLVE_CHUNK):
        chunk = items[offset:offset + SOLVE_CHUNK]
        results = solve_word_problems([item.problem for item in chunk], specialists, config)
        solved = [(item, result) for item, result in zip(chunk, results, strict=True)
                  if answers_match(plan.config.dataset, item.gold.answer, result.answer)]
        clauses = dict(zip((item.problem.id for item, _ in solved),
                           clause_spans_many(item.problem.text for item, _ in solved),
                           strict=True))
        for item, result in zip(chunk, results, strict=True):
            outcome = {"problem_id": item.problem.id, "status": result.status,
                       "answer": result.answer, "correct": False, "validated": False}
            if item.problem.id in clauses:
                outcome["correct"] = True
                try:
                    row = labels_from_program(item, Program.from_json(result.program),
                                              source="student",
                                              clauses=clauses[item.problem.id])
                    rows.append(replace(row, round=plan.round,
                                        config_hash=plan.config.result_hash()))
                    outcome["validated"] = True
                except LabelDrop as drop:
                    outcome["drop"] = drop.reason
            counts["correct" if outcome["correct"] else "failed"] += 1
            counts["validated"] += outcome["validated"]
            outcomes.append(outcome)
        report(min(offset + SOLVE_CHUNK, len(items)), len(items))
    write_jsonl_atomic(out / "rows.jsonl", (row.to_row() for row in rows))
    write_jsonl_atomic(out / "solutions.jsonl", outcomes)
    return {"problems": len(items), **counts}


def teacher_problems(plan: RoundPlan) -> list[GoldProblem]:
    """What the teacher solves: every train problem in round 1, else the students' failures."""
    items = train_items(plan)
    if plan.round == 1:
        return items
    failed: set[str] = set()
    for shard in shards(plan.world_size):
        path = plan.stage_dir("student_solve", shard) / "solutions.jsonl"
        failed |= {row["problem_id"] for row in _jsonl(path) if not row["validated"]}
    return [item for item in items if item.problem.id in failed]


def _signals_config(plan: RoundPlan):
    from mycelium.teacher.capture import CaptureConfig
    from mycelium.teacher.generate import GenerationConfig
    from mycelium.teacher.pipeline import SignalsRunConfig

    teacher = plan.config.teacher
    return SignalsRunConfig(
        generation=GenerationConfig(max_new_tokens=teacher.max_new_tokens,
                                    batch_size=teacher.batch_size, backend=teacher.backend,
                                    tensor_parallel_size=teacher.tensor_parallel_size),
        capture=CaptureConfig(layers=teacher.layers),
        capture_batch_size=teacher.capture_batch_size)


def _load_teacher(plan: RoundPlan):
    from mycelium.teacher.models import load_teacher

    teacher = plan.config.teacher
    return load_teacher(teacher.model, dtype=teacher.dtype, device=teacher.device)


def teacher_cot_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.teacher.pipeline import generate_cot

    problems = [item.problem for item in shard.take(teacher_problems(plan))]
    report = progress_printer(f"teacher_cot[{shard.rank}]", log)
    traces = generate_cot(_load_teacher(plan), problems, _signals_config(plan),
                          lambda stage, done, total: report(done, total))
    write_jsonl_atomic(out / "traces.jsonl", (trace.model_dump() for trace in traces))
    return {"problems": len(problems),
            "empty_cot": sum(1 for trace in traces if not trace.cot_text.strip()),
            "unfinished": sum(1 for trace in traces if not trace.finished)}


def signals_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.data.records import TeacherTrace
    from mycelium.teacher.pipeline import signals_from_traces

    problems = [item.problem for item in shard.take(teacher_problems(plan))]
    traces = [TeacherTrace.model_validate(row) for row in
              _jsonl(plan.stage_dir("teacher_cot", shard) / "traces.jsonl")]
    report = progress_printer(f"signals[{shard.rank}]", log)
    run = signals_from_traces(_load_teacher(plan), problems, traces, out, _signals_config(plan),
                              lambda stage, done, total: report(done, total))
    return {"problems": len(problems), "status": dict(run.counts)}


def labels_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    """Execution-validated labels for this shard: reference labels in round 1 with
    source=reference, else from the teacher's signals of the same shard."""
    from mycelium.specialists.build import build_labels

    teacher = "signals" in plan.stages
    items = shard.take(teacher_problems(plan) if teacher else train_items(plan))
    rows, manifest = build_labels(
        items, dataset=plan.config.dataset, source="teacher" if teacher else "reference",
        round=plan.round, signals_dir=plan.stage_dir("signals", shard) if teacher else None,
        progress=progress_printer(f"labels[{shard.rank}]", log))
    write_jsonl_atomic(out / "rows.jsonl", (row.to_row() for row in rows))
    return manifest.to_json()


# ------------------------------------------------------------------------- the trace store

@dataclass
class MergeResult:
    rows: list[Any]  # ProblemLabels: the previous store, then the new rows in train order
    added: Counter = field(default_factory=Counter)  # source -> new traces kept
    duplicates: Counter = field(default_factory=Counter)  # source -> already in the store
    rejected: Counter = field(default_factory=Counter)  # reason -> failed re-execution


def trace_key(row: Any) -> str:
    """Two traces are the same when they label the same problem with the same steps (op and
    typed arguments) over the same groups: provenance does not make a trace new."""
    steps = [[step.label, [list(span) for span in step.group],
              [[arg.kind, arg.index, arg.value] for arg in step.args]] for step in row.steps]
    return json.dumps([row.problem_id, steps])


def merge_traces(previous: Sequence[Any], new: Sequence[Any], order: dict[str, int],
                 ) -> MergeResult:
    """The next trace store: every previous trace (none is ever lost), then each new trace that
    re-executes to its gold answer and is not already there, in train order (`order`: problem
    id → position), so the result is the same whatever the shard count."""
    from mycelium.specialists.labels import LabelDrop
    from mycelium.specialists.labels_gsm8k import validate_gsm8k_labels

    result = MergeResult(rows=list(previous))
    seen = {trace_key(row) for row in previous}
    rank = {"reference": 0, "teacher": 1, "student": 2}
    for row in sorted(new, key=lambda row: (order.get(row.problem_id, len(order)),
                                            rank.get(row.source, 3))):
        key = trace_key(row)
        if key in seen:
            result.duplicates[row.source] += 1
            continue
        try:
            validate_gsm8k_labels(row)
        except LabelDrop as drop:
            result.rejected[drop.reason] += 1
            continue
        seen.add(key)
        result.rows.append(row)
        result.added[row.source] += 1
    return result


def validate_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.specialists.labels import (
        LabelManifest,
        ProblemLabels,
        config_hash,
        read_labels,
        write_labels,
    )

    previous = read_labels(plan.round_dir(plan.round - 1) / "traces") if plan.round > 1 else []
    new = []
    for stage in ("labels", "student_solve"):
        if stage in plan.stages:
            for shard in shards(plan.world_size):
                new += [ProblemLabels.from_row(row)
                        for row in _jsonl(plan.stage_dir(stage, shard) / "rows.jsonl")]
    order = {item.problem.id: index for index, item in enumerate(train_items(plan))}
    merged = merge_traces(previous, new, order)
    if not merged.rows:
        raise MyceliumError(f"round {plan.round}: no validated trace to train on (new rows "
                            f"rejected: {dict(merged.rejected)}); check the labels stage "
                            "counts in the round folder")
    sources = sorted({row.source for row in merged.rows})
    manifest = LabelManifest(
        dataset=plan.config.dataset, source="+".join(sources), round=plan.round,
        config_hash=config_hash({"round_config": plan.config.result_hash()}),
        problems=len({row.problem_id for row in merged.rows}), validated=len(merged.rows),
        dropped={f"rejected_{reason}": count for reason, count in merged.rejected.items()},
        with_gold=len(order))
    write_labels(out, merged.rows, manifest)
    by_source = Counter(row.source for row in merged.rows)
    log(f"validate: store {len(merged.rows)} traces ({dict(by_source)}); added "
        f"{dict(merged.added)}")
    return {"traces": len(merged.rows), "previous": len(previous), "added": dict(merged.added),
            "duplicates": dict(merged.duplicates), "rejected": dict(merged.rejected),
            "by_source": dict(by_source), "problems_covered": manifest.problems,
            "train_problems": len(order)}


# ----------------------------------------------------------------------- train, eval, report

_IMPORTS = threading.Lock()


def _import_training() -> None:
    """transformers resolves its names lazily and not thread-safely: three trainers starting
    side by side in threads raced into ImportError ("cannot import name 'set_seed'"), so the
    names they use are resolved once, under a lock."""
    with _IMPORTS:
        import transformers

        for name in ("set_seed", "AutoTokenizer", "AutoConfig", "AutoModel",
                     "AutoModelForTokenClassification", "AutoModelForSequenceClassification",
                     "AutoModelForCausalLM"):
            getattr(transformers, name)
        import mycelium.specialists.classifier
        import mycelium.specialists.extractor
        import mycelium.specialists.tagger  # noqa: F401


def train_stage(plan: RoundPlan, name: str, out: Path, log: Log) -> dict[str, Any]:
    _import_training()
    from mycelium.specialists.bases import default_base
    from mycelium.specialists.labels import read_labels
    from mycelium.specialists.training import TRAINERS, TrainConfig

    _set_threads(plan)
    students = plan.config.students
    labels = read_labels(plan.stage_dir("validate"))
    config = TrainConfig(epochs=students.epochs, max_steps=students.max_steps,
                         batch_size=students.batch_size, learning_rate=students.learning_rate,
                         head_learning_rate=students.head_learning_rate, round=plan.round,
                         use_cpu=students.use_cpu, progress=False)
    log(f"train_{name}: {len(labels)} traces, base {students.base or 'all-MiniLM-L6-v2'}")
    report = progress_printer(f"train_{name} steps", log)
    result = TRAINERS[name](labels, students.base or default_base(), out, config, None,
                            lambda done, total, loss: report(done, total))
    metrics = {key: value for key, value in result.metrics.items()
               if isinstance(value, int | float | str | bool)}
    return {"metrics": metrics, "train_examples": result.train_examples,
            "eval_examples": result.eval_examples, "train_seconds": round(result.train_seconds, 2)}


def eval_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.specialists.evaluate import evaluate, write_eval
    from mycelium.specialists.inference import Specialists

    _set_threads(plan)
    items = dev_items(plan)
    specialists = Specialists.load(plan.checkpoints, use_cpu=plan.config.students.use_cpu)
    reporters: dict[str, Callable[[int, int], None]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in reporters:
            reporters[stage] = progress_printer(f"eval/{stage}", log)
        reporters[stage](done, total)

    records, summary = evaluate(plan.config.dataset, items, specialists,
                                config=_search_config(plan),
                                labels=None if plan.config.eval.attribution else {},
                                progress=progress)
    write_eval(out, records, summary)
    log(f"eval: accuracy {summary['accuracy']:.4f} ({summary['correct']}/{summary['n']})")
    return {key: summary[key] for key in ("n", "correct", "accuracy", "beam_hit",
                                          "attribution", "stage_accuracy") if key in summary}


def report_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.rounds.report import round_summary, write_round_report

    summary = round_summary(plan)
    write_round_report(out, summary, round_summaries(plan, plan.round - 1))
    log(f"report: {out / 'report.html'}")
    return {"report": str(out / "report.html"), "accuracy": summary["eval"].get("accuracy")}


def round_summaries(plan: RoundPlan, last: int) -> list[dict[str, Any]]:
    """round.json of rounds 1..last, as their report stages wrote them (a round without one
    appears with its number only)."""
    summaries = []
    for number in range(1, last + 1):
        path = plan.round_dir(number) / "report" / "round.json"
        summaries.append(json.loads(path.read_text(encoding="utf-8")) if path.is_file()
                         else {"round": number})
    return summaries


def stage_markers(plan: RoundPlan) -> dict[str, list[dict[str, Any]]]:
    """stage -> the markers of its finished units (one per shard for sharded stages)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for group in stage_groups(plan):
        for unit in group:
            marker = read_marker(plan.unit_dir(unit))
            if marker is not None:
                found.setdefault(unit.stage, []).append(marker)
    return found


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MyceliumError(f"{path} is missing: the stage that writes it has not finished")
    # split on "\n" only: str.splitlines() also splits on U+2028 and other separators that
    # JSON strings (written with ensure_ascii=False) may hold, tearing a row in two
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")
            if line.strip()]
