"""Evaluation: accuracy under exact equivalence, beam hits, and error attribution by oracles.

    mycelium eval --dataset gsm8k --file dev.jsonl --checkpoints runs/ckpt --out runs/eval

Inference runs first, on `Problem`s only; the gold answers are read afterwards, to score. Then,
for GSM8K problems with validated reference labels, the pipeline runs again with its stages
replaced by gold labels one at a time, cumulatively:
    oracle_tagger      gold word tags (so the gold spans) in place of the tagger's
    oracle_classifier  also the gold step structure: each step's group and operation
    oracle_extractor   also the gold arguments: the labels' own program, correct by validation
With the reasoner (one decision for operation and arguments, no tagger input), oracle_tagger is
its own result, oracle_classifier is the reasoner searching arguments under the gold operations
and step count, and oracle_extractor the gold program.
A failure's `attribution` is the first stage whose oracle makes it correct: "tagger",
"classifier" or "extractor" ("unlabelled" when the problem has no validated labels,
"invalid_input" for unusable input). For MATH, with the MATH students loaded, the same
three oracles swap their predictions for the MATH labels' roles (evaluation/math_attribution.py);
a failure no oracle answers, and every one without labels or students, is attributed to its
track and reason ("structure:no_target", "direct:wrong_answer").

Outputs in the --out folder:
  samples.jsonl  one EvalRecord per problem (data/records.py)
  results.json   the summary, schema below
  report.html    the self-contained error-attribution report (evaluation/report.py)

results.json (schema 1):
  schema, dataset, file, checkpoints, n, correct, accuracy, beam_hit (share of problems whose
  gold answer is the answer of any finished candidate), invalid, no_answer,
  by_track {track: {n, correct, accuracy}}, attribution {stage: count of failures},
  labelled (problems with validated labels), stage_accuracy {pipeline, oracle_tagger,
  oracle_classifier, oracle_extractor: accuracy over the labelled problems},
  op_confusion {gold op: {predicted op: count}} (the classifier on gold groups; for the
  reasoner, its program's operations in step order),
  accuracy_by_steps {gold step count: {n, correct}}, seconds, problems_per_s, search (config);
  for MATH (problems with a subject), by_subject {subject: {n, correct, accuracy,
  by_level: {level: {n, correct, accuracy}}}}.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from mycelium.data.answers import parse_number
from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_jsonl_atomic, write_text_atomic
from mycelium.data.math_answers import math_equivalent
from mycelium.data.progress import Progress, no_progress
from mycelium.data.records import EvalRecord, SolveResult
from mycelium.inference.solve import SOLVE_CHUNK, solve_in_chunks
from mycelium.inference.word_problems import (
    Layout,
    group_constraints,
    problem_layout,
    quantity_mentions,
    search_layouts,
    tagged_spans,
)
from mycelium.signals.clauses import clause_spans_many
from mycelium.solver.program import Program
from mycelium.solver.search import SearchConfig, SearchResult
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.registry import Specialists

SCHEMA_VERSION = 1
STAGES = ("oracle_tagger", "oracle_classifier", "oracle_extractor")


def answers_match(dataset: str, gold: str, answer: str | None) -> bool:
    """Exact equivalence: equal Fractions for GSM8K, math_equivalent for MATH."""
    if answer is None:
        return False
    if dataset == "gsm8k":
        try:
            return parse_number(gold) == Fraction(answer)
        except (ValueError, ZeroDivisionError, MyceliumError):
            return False
    return math_equivalent(gold, answer, timeout_s=5.0)


def evaluate(dataset: str, items: Sequence[GoldProblem], specialists: Specialists | None, *,
             config: SearchConfig | None = None, labels: dict[str, ProblemLabels] | None = None,
             progress: Progress | None = None) -> tuple[list[EvalRecord], dict[str, Any]]:
    """Solve `items` (their problems only), score against their gold answers, attribute every
    failure; returns the per-sample records and the results summary."""
    config = config or SearchConfig()
    report = progress or no_progress
    started = time.perf_counter()
    problems = [item.problem for item in items]
    predictions = solve_in_chunks(problems, specialists, config, progress=report)
    solve_seconds = time.perf_counter() - started
    records = [_record(dataset, item, prediction)
               for item, prediction in zip(items, predictions, strict=True)]
    if dataset == "gsm8k":
        if labels is None:
            labels = reference_labels(items, report)
        records = _attribute_gsm8k(records, labels, specialists, config, report)
    else:
        from mycelium.evaluation.math_attribution import attribute_math

        records = attribute_math(items, records, specialists, labels, report)
    summary = summarize(dataset, records)
    summary.update(seconds=round(time.perf_counter() - started, 2),
                   problems_per_s=round(len(items) / max(solve_seconds, 1e-9), 3),
                   search=asdict(config))
    return records, summary


def reference_labels(items: Sequence[GoldProblem], report: Progress) -> dict[str, ProblemLabels]:
    """Validated reference labels of the evaluation problems (only the oracles read them)."""
    rows, _ = build_labels(items, dataset="gsm8k", source="reference",
                           progress=report)
    return {row.problem_id: row for row in rows}


def _record(dataset: str, item: GoldProblem, prediction: SolveResult) -> EvalRecord:
    correct = answers_match(dataset, item.gold.answer, prediction.answer)
    beam = [entry["answer"] for entry in prediction.beam]
    hit = correct or any(answers_match(dataset, item.gold.answer, answer) for answer in beam)
    return EvalRecord(
        problem_id=item.problem.id, dataset=item.problem.dataset, text=item.problem.text,
        gold=item.gold.answer, prediction=prediction.answer, correct=correct,
        status=prediction.status, reason=prediction.reason, track=prediction.track,
        program=[step["line"] + (f"   ⟵ “{step['words']}”" if step.get("words") else "")
                 for step in prediction.steps],
        beam=beam, beam_hit=hit, spans=prediction.spans,
        beam_verifier=[entry["verifier"] for entry in prediction.beam if "verifier" in entry],
        meta=item.problem.meta,
        attribution="" if correct else
        ("invalid_input" if prediction.status == "invalid" else ""))


def _attribute_gsm8k(records: list[EvalRecord], labels: dict[str, ProblemLabels],
                     specialists: Specialists, config: SearchConfig, report: Progress
                     ) -> list[EvalRecord]:
    labelled = [(index, labels[record.problem_id]) for index, record in enumerate(records)
                if record.problem_id in labels and record.status != "invalid"]
    rows = [row for _, row in labelled]
    oracle: dict[str, list[bool]] = {}
    if rows and specialists.reasoner is not None:
        oracle, predicted_ops = _reasoner_oracles(records, labelled, specialists, config,
                                                  report)
    elif rows:
        clauses = clause_spans_many(row.text for row in rows)
        tag_layouts = [problem_layout(row.text, row.words, row.tags, row_clauses)
                       for row, row_clauses in zip(rows, clauses, strict=True)]
        found = _in_chunks(tag_layouts, specialists, config, None, "oracle_tagger", report)
        oracle["oracle_tagger"] = [_hit(result, row) for result, row in zip(found, rows,
                                                                            strict=True)]
        plan_layouts, plans = zip(*(plan_layout(row) for row in rows), strict=True)
        found = _in_chunks(list(plan_layouts), specialists, config, list(plans),
                           "oracle_classifier", report)
        oracle["oracle_classifier"] = [_hit(result, row) for result, row in zip(found, rows,
                                                                                strict=True)]
        oracle["oracle_extractor"] = [True] * len(rows)  # validated labels reproduce the answer
        predicted_ops = specialists.classifier.predict([row.text for row in rows],
                                                       [[s.group for s in row.steps]
                                                        for row in rows])
    records = list(records)
    for position, (index, row) in enumerate(labelled):
        updates = {
            "gold_spans": tagged_spans(row.words, row.tags),
            "gold_program": Program.from_json(json.loads(row.program)).render().splitlines(),
            "gold_ops": [step.label for step in row.steps],
            "predicted_ops": [max(scores, key=scores.get) for scores in predicted_ops[position]],
            "gold_steps": len(row.steps),
            "oracle_correct": {stage: oracle[stage][position] for stage in STAGES},
        }
        if not records[index].correct:
            updates["attribution"] = next(stage for stage in STAGES if oracle[stage][
                position]).removeprefix("oracle_")
        records[index] = records[index].model_copy(update=updates)
    return [record.model_copy(update={"attribution": "unlabelled"})
            if not record.correct and not record.attribution else record for record in records]


def _reasoner_oracles(records: list[EvalRecord], labelled: list[tuple[int, ProblemLabels]],
                      specialists: Specialists, config: SearchConfig, report: Progress
                      ) -> tuple[dict[str, list[bool]], list[list[dict[str, float]]]]:
    """The oracle stages for the reasoner, which has no tagger input and makes the
    classifier's and the extractor's choices in one decision: oracle tagger = its own result;
    oracle classifier = the reasoner searching arguments under the gold operations (one per
    binary step of the gold program, and that many steps); oracle extractor = the gold
    program."""
    from mycelium.specialists.models.reasoner import binarize

    rows = [row for _, row in labelled]
    plans = [None if isinstance(steps := binarize(row), str) else [s.op for s in steps]
             for row in rows]
    found: list = []
    for offset in range(0, len(rows), SOLVE_CHUNK):
        part = slice(offset, offset + SOLVE_CHUNK)
        found += specialists.reasoner.solve([row.text for row in rows[part]], config,
                                            plans=plans[part])
        report("oracle_classifier", len(found), len(rows))
    gold = [parse_number(row.answer) for row in rows]
    oracle = {
        "oracle_tagger": [records[index].correct for index, _ in labelled],
        "oracle_classifier": [result.answer is not None and result.answer == value
                              for result, value in zip(found, gold, strict=True)],
        "oracle_extractor": [True] * len(rows),
    }
    # the operations of the predicted program itself ("s1 = MUL(...)"), in the shape the
    # classifier's scores take
    predicted = [[{line.split(" = ", 1)[1].split("(", 1)[0]: 0.0}
                  for line in records[index].program if " = " in line]
                 for index, _ in labelled]
    return oracle, predicted


def plan_layout(row: ProblemLabels) -> tuple[Layout, list[tuple[int, str]]]:
    """The gold step structure as a layout whose groups are the gold groups, and its plan."""
    spans = tagged_spans(row.words, row.tags)
    quantities, _, mention_of, tagged = quantity_mentions(row.text, spans)
    groups = [step.group for step in row.steps]
    inside, _ = group_constraints(groups, quantities, [])
    layout = Layout(row.text, spans, groups, [], [], quantities, row.constants, mention_of,
                    tagged, inside, [False] * len(groups))
    return layout, [(index, step.label) for index, step in enumerate(row.steps)]


def _in_chunks(layouts: list[Layout], specialists: Specialists, config: SearchConfig,
               plans: list | None, stage: str, report: Progress) -> list[SearchResult]:
    results: list[SearchResult] = []
    for offset in range(0, len(layouts), SOLVE_CHUNK):
        part = slice(offset, offset + SOLVE_CHUNK)
        results += search_layouts(layouts[part], specialists, config,
                                  plans[part] if plans is not None else None)
        report(stage, len(results), len(layouts))
    return results


def _hit(result: SearchResult, row: ProblemLabels) -> bool:
    return result.answer is not None and result.answer == parse_number(row.answer)


def summarize(dataset: str, records: Sequence[EvalRecord]) -> dict[str, Any]:
    n = len(records)
    correct = sum(record.correct for record in records)
    by_track: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = by_track.setdefault(record.track or "none", {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += record.correct
    for entry in by_track.values():
        entry["accuracy"] = round(entry["correct"] / entry["n"], 4)
    labelled = [record for record in records if record.oracle_correct]
    stage_accuracy = {}
    if labelled:
        stage_accuracy["pipeline"] = _share(sum(r.correct for r in labelled), len(labelled))
        for stage in STAGES:
            stage_accuracy[stage] = _share(sum(r.oracle_correct[stage] for r in labelled),
                                           len(labelled))
    confusion: dict[str, Counter] = {}
    by_steps: dict[int, dict[str, int]] = {}
    for record in labelled:
        # in step order; the reasoner's predicted program may have another step count
        for gold, predicted in zip(record.gold_ops, record.predicted_ops, strict=False):
            confusion.setdefault(gold, Counter())[predicted] += 1
        entry = by_steps.setdefault(record.gold_steps or 0, {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += record.correct
    summary = {
        "schema": SCHEMA_VERSION, "dataset": dataset, "n": n, "correct": correct,
        "accuracy": _share(correct, n),
        "beam_hit": _share(sum(record.beam_hit for record in records), n),
        "invalid": sum(record.status == "invalid" for record in records),
        "no_answer": sum(record.status == "no_answer" for record in records),
        "by_track": by_track,
        "attribution": dict(Counter(r.attribution for r in records if not r.correct)
                            .most_common()),
        "labelled": len(labelled), "stage_accuracy": stage_accuracy,
        "op_confusion": {gold: dict(counts) for gold, counts in sorted(confusion.items())},
        "accuracy_by_steps": {str(steps): entry for steps, entry in sorted(by_steps.items())},
    }
    if any(record.meta.get("subject") for record in records):
        summary["by_subject"] = by_subject_and_level(records)
    return summary


def by_subject_and_level(records: Sequence[EvalRecord]) -> dict[str, dict[str, Any]]:
    """{subject: {n, correct, accuracy, by_level: {level: {n, correct, accuracy}}}} from each
    record's problem metadata (MATH's `subject` and `level`; "?" where MATH has none)."""
    table: dict[str, dict[str, Any]] = {}
    for record in records:
        subject = str(record.meta.get("subject") or "?")
        level = record.meta.get("level")
        entry = table.setdefault(subject, {"n": 0, "correct": 0, "by_level": {}})
        cell = entry["by_level"].setdefault("?" if level is None else str(level),
                                            {"n": 0, "correct": 0})
        for counts in (entry, cell):
            counts["n"] += 1
            counts["correct"] += record.correct
    for entry in table.values():
        entry["accuracy"] = _share(entry["correct"], entry["n"])
        entry["by_level"] = dict(sorted(entry["by_level"].items()))
        for cell in entry["by_level"].values():
            cell["accuracy"] = _share(cell["correct"], cell["n"])
    return dict(sorted(table.items()))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def write_eval(out_dir: Path, records: Sequence[EvalRecord], summary: dict[str, Any]) -> Path:
    """samples.jsonl, report.html, then results.json (last: the completion marker)."""
    from mycelium.evaluation.report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out_dir / "samples.jsonl", (record.model_dump() for record in records))
    write_text_atomic(out_dir / "report.html", render_report(records, summary))
    results = out_dir / "results.json"
    write_text_atomic(results, json.dumps(summary, indent=2) + "\n")
    return results
