"""The stages of a distillation round, each a plain function over the run folder: it reads what
earlier stages wrote, writes its own output into `out` (atomically), and returns the numbers its
completion marker records. rounds/round.py schedules them and writes the markers
(rounds/markers.py); nothing here knows about Prefect.

    split_stage(plan, out, log)                 student_solve_stage(plan, shard, out, log)
    teacher_cot_stage / signals_stage / labels_stage (plan, shard, out, log)
    validate_stage(plan, out, log)              train_stage(plan, name, out, log)
    eval_stage(plan, out, log)                  report_stage(plan, out, log)
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import read_jsonl, write_jsonl_atomic, write_text_atomic
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.data.progress import tenths
from mycelium.data.records import normalize_text
from mycelium.data.splits import is_dev, to_row
from mycelium.rounds.markers import Shard, shards
from mycelium.rounds.store import merge_traces

if TYPE_CHECKING:
    from mycelium.rounds.round import Log, RoundPlan


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
    items = load_problems(plan.config.dataset, plan.stage_dir("split") / "train.jsonl").problems
    return items[:plan.config.train_limit] if plan.config.train_limit else items


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
    re-execute to it. `students.solve_traces` says which programs are looked at: the chosen
    one, or every distinct program of the finished beam (a problem the students rank wrong can
    still give a trace when a lower candidate reaches the gold answer). MATH rounds keep the
    chosen program (rounds/math_traces.py)."""
    from mycelium.data.errors import Dropped
    from mycelium.evaluation.evaluate import answers_match
    from mycelium.inference.solve import solve_in_chunks
    from mycelium.signals.clauses import clause_spans_many
    from mycelium.specialists.registry import Specialists

    _set_threads(plan)
    items = shard.take(train_items(plan))
    specialists = Specialists.load(plan.round_dir(plan.round - 1) / "checkpoints",
                                   use_cpu=plan.config.students.use_cpu)
    results = solve_in_chunks([item.problem for item in items], specialists,
                              _search_config(plan), progress=tenths(log),
                              stage=f"student_solve[{shard.rank}]")
    if plan.config.dataset == "math":
        from mycelium.rounds.math_traces import math_student_traces

        rows, outcomes, counts = math_student_traces(plan, items, results)
        write_jsonl_atomic(out / "rows.jsonl", (row.to_row() for row in rows))
        write_jsonl_atomic(out / "solutions.jsonl", outcomes)
        return {"problems": len(items), **counts}
    candidates = {item.problem.id: programs_reaching_gold(
                      result, plan.config.students.solve_traces,
                      lambda answer, item=item: answers_match(plan.config.dataset,
                                                              item.gold.answer, answer))
                  for item, result in zip(items, results, strict=True)}
    with_candidates = [item for item in items if candidates[item.problem.id]]
    clauses = dict(zip((item.problem.id for item in with_candidates),
                       clause_spans_many(item.problem.text for item in with_candidates),
                       strict=True))
    outcomes, rows = [], []
    counts: Counter = Counter()
    for item, result in zip(items, results, strict=True):
        correct = answers_match(plan.config.dataset, item.gold.answer, result.answer)
        outcome = {"problem_id": item.problem.id, "status": result.status,
                   "answer": result.answer, "correct": correct, "validated": False,
                   "traces": 0}
        # the programs are distinct expressions already; the store drops any trace it holds
        for program in candidates[item.problem.id]:
            try:
                rows.append(_student_trace(plan, item, program, clauses[item.problem.id]))
                outcome["traces"] += 1
            except Dropped as drop:
                outcome.setdefault("drop", drop.reason)
        outcome["validated"] = outcome["traces"] > 0
        counts["correct" if correct else "failed"] += 1
        counts["validated"] += outcome["validated"]
        counts["validated_not_chosen"] += outcome["validated"] and not correct
        counts["traces"] += outcome["traces"]
        outcomes.append(outcome)
    write_jsonl_atomic(out / "rows.jsonl", (row.to_row() for row in rows))
    write_jsonl_atomic(out / "solutions.jsonl", outcomes)
    return {"problems": len(items), **counts}


def programs_reaching_gold(result: Any, which: str, reaches_gold: Any) -> list[Any]:
    """The students' programs for one train problem whose answer `reaches_gold`: the chosen
    program, then (which == "beam") the beam's other finished programs, best first, each
    once: programs that compute the same expression (steps or ADD/MUL arguments in another
    order: Program.expression_key) count once, the better ranked kept, since training already
    scores both orders of a commutative step as right; a beam program that holds the answer
    before its last step is left out."""
    from mycelium.solver.executor import ExecutionError, execute_steps
    from mycelium.solver.program import Program

    def detours(program: Program) -> bool:
        """True when a step before the last already holds the answer: the rest is a detour
        that lands back on it (`s3 = DIV(s2, 5); s4 = MUL(5, s3)`), right by accident."""
        try:
            values = execute_steps(program)
        except ExecutionError:
            return True
        return values[-1] in values[:-1]

    unique: dict[str, Program] = {}
    if result.program is not None and reaches_gold(result.answer):
        chosen = Program.from_json(result.program)
        unique[chosen.expression_key()] = chosen
    if which == "beam":
        for entry in result.beam:
            if "program_json" in entry and reaches_gold(entry["answer"]):
                program = Program.from_json(entry["program_json"])
                if program.steps and not detours(program):
                    unique.setdefault(program.expression_key(), program)
    return list(unique.values())


def _student_trace(plan: RoundPlan, item: GoldProblem, program: Any, clauses: Any) -> Any:
    """A student program's labels (raises Dropped when they do not re-execute to gold)."""
    from mycelium.specialists.labels.gsm8k import labels_from_program

    row = labels_from_program(item, program, source="student", clauses=clauses)
    return replace(row, round=plan.round, config_hash=plan.config.result_hash())


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
    from mycelium.signals.boundaries import BoundaryConfig
    from mycelium.signals.extract import SignalsConfig
    from mycelium.teacher.calibration import read_calibration, shipped_calibration
    from mycelium.teacher.capture import CaptureConfig
    from mycelium.teacher.generate import GenerationConfig
    from mycelium.teacher.models import teacher_name
    from mycelium.teacher.pipeline import SignalsRunConfig

    teacher = plan.config.teacher
    layers, iaf_layers, signals = teacher.layers, teacher.iaf_layers, SignalsConfig()
    # measured in this round, else measured for this teacher and shipped, else as configured
    calibration = calibration_path(plan) if teacher.calibrate else None
    if calibration is None and layers is None and iaf_layers is None:
        calibration = shipped_calibration(teacher_name(teacher.model, teacher.gguf_file))
    if calibration is not None:
        layers, height, iaf_layers = read_calibration(calibration)
        signals = SignalsConfig(boundaries=BoundaryConfig(height_std=height))
    return SignalsRunConfig(
        generation=GenerationConfig(max_new_tokens=teacher.max_new_tokens,
                                    batch_size=teacher.batch_size, backend=teacher.backend,
                                    tensor_parallel_size=teacher.tensor_parallel_size),
        capture=CaptureConfig(layers=layers), signals=signals, iaf_layers=iaf_layers,
        capture_batch_size=teacher.capture_batch_size, cot_source=teacher.cot_source)


def calibration_path(plan: RoundPlan) -> Path:
    return plan.stage_dir("calibrate") / "calibration.json"


def _load_teacher(plan: RoundPlan):
    from mycelium.teacher.models import load_teacher

    teacher = plan.config.teacher
    return load_teacher(teacher.model, gguf_file=teacher.gguf_file, dtype=teacher.dtype,
                        device=teacher.device)


def calibrate_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    """The teacher's boundary layers, peak threshold and IAF layers, measured on the first
    train problems' worked solutions (teacher/calibration.py); written to calibration.json."""
    from mycelium.teacher.calibration import calibrate_teacher

    items = train_items(plan)[:plan.config.teacher.calibration_problems]
    report = tenths(log, prefix="calibrate ")
    choice = calibrate_teacher(_load_teacher(plan), items, out / "calibration.json",
                               lambda done, total: report("capture", done, total))
    log(f"calibrate: boundary layers {choice.layers} (F1 {choice.f1:.3f}), IAF layers "
        f"{choice.iaf_layers} (hit@1 {choice.iaf_hit1:.3f})")
    return {key: value for key, value in choice.to_dict().items()
            if not key.startswith("per_layer")}


def teacher_cot_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.teacher.models import load_teacher_tokenizer
    from mycelium.teacher.pipeline import generate_cot

    items = shard.take(teacher_problems(plan))
    settings = plan.config.teacher
    # the worked solution needs only the tokenizer: no weights to load for a reference CoT
    teacher = (load_teacher_tokenizer(settings.model, settings.gguf_file)
               if settings.cot_source == "reference" else _load_teacher(plan))
    traces = generate_cot(teacher, items, _signals_config(plan),
                          tenths(log, prefix=f"teacher_cot[{shard.rank}] "))
    write_jsonl_atomic(out / "traces.jsonl", (trace.model_dump() for trace in traces))
    return {"problems": len(items), "cot_source": plan.config.teacher.cot_source,
            "empty_cot": sum(1 for trace in traces if not trace.cot_text.strip()),
            "unfinished": sum(1 for trace in traces if not trace.finished)}


def signals_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.data.records import TeacherTrace
    from mycelium.teacher.pipeline import signals_from_traces

    problems = [item.problem for item in shard.take(teacher_problems(plan))]
    traces = [TeacherTrace.model_validate(row) for row in
              _jsonl(plan.stage_dir("teacher_cot", shard) / "traces.jsonl")]
    run = signals_from_traces(_load_teacher(plan), problems, traces, out, _signals_config(plan),
                              tenths(log, prefix=f"signals[{shard.rank}] "))
    segments = [len(signals.segments) for signals in run.signals if signals.segments]
    return {"problems": len(problems), "status": dict(run.counts),
            "segments": sum(segments), "with_segments": len(segments)}


def labels_stage(plan: RoundPlan, shard: Shard, out: Path, log: Log) -> dict[str, Any]:
    """Execution-validated labels for this shard: reference labels in round 1 with
    source=reference, else from the teacher's signals of the same shard."""
    from mycelium.specialists.labels.build import build_labels

    teacher = "signals" in plan.stages
    items = shard.take(teacher_problems(plan) if teacher else train_items(plan))
    rows, manifest = build_labels(
        items, dataset=plan.config.dataset, source="teacher" if teacher else "reference",
        round=plan.round, signals_dir=plan.stage_dir("signals", shard) if teacher else None,
        progress=tenths(log, prefix=f"shard {shard.rank} "))
    write_jsonl_atomic(out / "rows.jsonl", (row.to_row() for row in rows))
    return manifest.to_json()


def validate_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.specialists.labels.schema import ProblemLabels
    from mycelium.specialists.labels.store import (
        LabelManifest,
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
        from mycelium.specialists.registry import SPECIALISTS

        for spec in SPECIALISTS.values():
            spec.creator()


def train_stage(plan: RoundPlan, name: str, out: Path, log: Log) -> dict[str, Any]:
    _import_training()
    from mycelium.specialists.labels.store import read_labels
    from mycelium.specialists.models.bases import default_base
    from mycelium.specialists.training import TRAINERS, TrainConfig

    _set_threads(plan)
    students = plan.config.students
    labels = read_labels(plan.stage_dir("validate"))
    warm_start = None
    if students.warm_start and plan.round > 1:
        # the previous round's reasoner, whose train stage finished before this round began
        warm_start = str(plan.round_dir(plan.round - 1) / "checkpoints" / name)
    config = TrainConfig(epochs=students.epochs, max_steps=students.max_steps,
                         batch_size=students.batch_size, learning_rate=students.learning_rate,
                         head_learning_rate=students.head_learning_rate,
                         number_variants=students.number_variants,
                         frozen_layers=students.frozen_layers,
                         step_reading=students.step_reading,
                         max_literals=students.max_literals, cpu_bf16=students.cpu_bf16,
                         processes=students.processes, init_from=warm_start,
                         select_by=students.select_by,
                         round=plan.round, use_cpu=students.use_cpu, progress=False)
    log(f"train_{name}: {len(labels)} traces, base {students.base or 'all-MiniLM-L6-v2'}"
        + (f", starting from {warm_start}" if warm_start else ""))
    result = TRAINERS[name](labels, students.base or default_base(), out, config, None,
                            tenths(log))
    metrics = {key: value for key, value in result.metrics.items()
               if isinstance(value, int | float | str | bool)}
    return {"metrics": metrics, "train_examples": result.train_examples,
            "eval_examples": result.eval_examples, "train_seconds": round(result.train_seconds, 2)}


def verifier_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    """The verifier, fitted on the round's reasoner's beams over the validated traces that its
    training held out (problems it has not seen; their gold answers label the programs)."""
    from mycelium.specialists.labels.store import read_labels
    from mycelium.specialists.registry import load_specialist
    from mycelium.specialists.verifier_training import fit_verifier, held_out_rows

    _set_threads(plan)
    students = plan.config.students
    rows = held_out_rows(read_labels(plan.stage_dir("validate")))[:students.verifier_problems]
    if not rows:
        raise MyceliumError("fit_verifier: the traces' held-out slice is empty (too few "
                            "problems); set students.verifier: false")
    reasoner = load_specialist(plan.checkpoints / "reasoner", use_cpu=students.use_cpu)
    log(f"fit_verifier: the reasoner solves {len(rows)} held-out training problems")
    verifier, summary = fit_verifier(reasoner, rows, _search_config(plan),
                                     tenths(log, prefix="fit_verifier/"))
    verifier.save(out)
    log(f"fit_verifier: {summary['programs']} programs, in-sample vote "
        f"{summary['vote_accuracy']:.3f} -> verifier {summary['verifier_accuracy_in_sample']:.3f}")
    return summary


def eval_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.evaluation.evaluate import evaluate, write_eval
    from mycelium.specialists.registry import Specialists

    _set_threads(plan)
    items = dev_items(plan)
    specialists = Specialists.load(plan.checkpoints, use_cpu=plan.config.students.use_cpu)
    records, summary = evaluate(plan.config.dataset, items, specialists,
                                config=_search_config(plan),
                                labels=None if plan.config.eval.attribution else {},
                                progress=tenths(log, prefix="eval/"))
    write_eval(out, records, summary)
    log(f"eval: accuracy {summary['accuracy']:.4f} ({summary['correct']}/{summary['n']})")
    return {key: summary[key] for key in ("n", "correct", "accuracy", "beam_hit",
                                          "attribution", "stage_accuracy") if key in summary}


def report_stage(plan: RoundPlan, out: Path, log: Log) -> dict[str, Any]:
    from mycelium.rounds.report import round_summaries, round_summary, write_round_report

    summary = round_summary(plan)
    write_round_report(out, summary, round_summaries(plan, plan.round - 1))
    log(f"report: {out / 'report.html'}")
    return {"report": str(out / "report.html"), "accuracy": summary["eval"].get("accuracy")}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MyceliumError(f"{path} is missing: the stage that writes it has not finished")
    return read_jsonl(path)
