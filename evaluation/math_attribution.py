"""Oracle-swap attribution for MATH: which of the MATH students (tagger, classifier, extractor)
a failure comes from, read from the problems' MATH reference labels.

For each dev problem with validated MATH labels, the structure track runs again with the
students' predictions replaced by the labels' roles one student at a time, cumulatively
(`oracle_roles`):
    oracle_tagger      the labels' word tags in place of the tagger's
    oracle_classifier  also the labels' clause roles in place of the classifier's
    oracle_extractor   also the labels' span roles (from the labelled program) in place of the
                       extractor's
and the first candidate that executes, in the order those roles give, is that stage's answer.
A failure's `attribution` is the first stage whose oracle answers it correctly; a labelled
failure no oracle answers (a candidate with the same roles as the labelled one but another
answer comes first), and every unlabelled one, keeps its track and reason
("structure:no_target"). The labels' own program is in the candidates by construction (it was
validated from them), so oracle_extractor measures what perfect roles would give.

    records = attribute_math(items, records, specialists, labels=None, report=report)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from mycelium.data.errors import Dropped
from mycelium.data.gold import GoldProblem
from mycelium.data.progress import Progress
from mycelium.data.records import EvalRecord
from mycelium.inference.math_choice import (
    STUDENTS,
    UNSEEN,
    RolePredictions,
    candidate_order,
    predict_roles,
)
from mycelium.inference.math_tracks import run_structure
from mycelium.signals.clauses import clause_spans_many
from mycelium.solver.math_program import MathProgram
from mycelium.solver.math_structure import (
    DEFAULT_TIMEOUT_S,
    MathReading,
    MathStructure,
    math_structure,
)
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.math_roles import SPAN_ROLES, program_span_roles
from mycelium.specialists.registry import Specialists

STAGES = tuple(f"oracle_{student}" for student in STUDENTS)


def math_reference_labels(items: Sequence[GoldProblem], report: Progress
                          ) -> dict[str, ProblemLabels]:
    """Validated MATH reference labels of the evaluation problems (only the oracles read them)."""
    rows, _ = build_labels(items, dataset="math", source="reference", progress=report)
    return {row.problem_id: row for row in rows}


def oracle_roles(predictions: RolePredictions, reading: MathReading, row: ProblemLabels,
                 replaced: Sequence[str]) -> RolePredictions:
    """`predictions` with the students named in `replaced` (of STUDENTS) swapped for the label
    row's roles: its word tags, its steps' clause roles, its program's span roles, each
    certain (log-prob 0) and every other role UNSEEN."""
    def certain(role: str, names: Sequence[str]) -> dict[str, float]:
        return {name: 0.0 if name == role else UNSEEN for name in names}

    updates = {}
    if "tagger" in replaced:
        tags = sorted({*row.tags, *(tag for scores in predictions.words for tag in scores)})
        updates["words"] = [certain(tag, tags) for tag in row.tags]
    if "classifier" in replaced:
        role_of = {tuple(step.group[0]): step.label for step in row.steps if step.group}
        updates["clauses"] = [certain(role_of.get(tuple(clause), ""), [*role_of.values()])
                              for clause in reading.clauses]
    if "extractor" in replaced:
        roles = program_span_roles(row.program, len(reading.spans))
        updates["spans"] = [certain(role, SPAN_ROLES) for role in roles]
    return replace(predictions, **updates)


def _track_reason(record: EvalRecord) -> EvalRecord:
    if record.correct or record.attribution:
        return record
    return record.model_copy(update={
        "attribution": f"{record.track or 'none'}:{record.reason or 'wrong_answer'}"})


def attribute_math(items: Sequence[GoldProblem], records: list[EvalRecord],
                   specialists: Specialists | None, labels: dict[str, ProblemLabels] | None,
                   report: Progress, timeout_s: float = DEFAULT_TIMEOUT_S
                   ) -> list[EvalRecord]:
    """`records` with the oracle stages (module docstring) on the labelled problems, when the
    MATH students are loaded; every other failure attributed to its track and reason.
    `labels`: the problems' MATH labels (None: built here; {}: no attribution)."""
    from mycelium.evaluation.evaluate import answers_match

    if specialists is None or not specialists.reads_math or labels == {}:
        return [_track_reason(record) for record in records]
    if labels is None:
        labels = math_reference_labels(items, report)
    labelled = [index for index, record in enumerate(records)
                if record.problem_id in labels and record.status != "invalid"]
    rows = [labels[records[index].problem_id] for index in labelled]
    readings, kept = [], []
    for position, (row, clauses) in enumerate(zip(rows, clause_spans_many(
            row.text for row in rows), strict=True)):
        try:
            readings.append(math_structure(row.text, clauses=clauses, timeout_s=timeout_s))
            kept.append(position)
        except Dropped:  # labelled through the same parser, so only a timeout lands here
            continue
    predictions = predict_roles(specialists, [reading for reading, _ in readings])
    classifier_roles = specialists.math_classifier.predict(
        [rows[position].text for position in kept],
        [[step.group for step in rows[position].steps] for position in kept])
    records = list(records)
    for done, (position, (reading, candidates), prediction, roles) in enumerate(zip(
            kept, readings, predictions, classifier_roles, strict=True), 1):
        index, row = labelled[position], rows[position]
        structure = MathStructure([span.latex for span in reading.spans],
                                  [MathProgram(candidate.steps) for candidate in candidates])
        oracle = {}
        for count, stage in enumerate(STAGES, 1):
            order = candidate_order(reading, candidates,
                                    oracle_roles(prediction, reading, row, STUDENTS[:count]))
            outcome = run_structure(structure, timeout_s, order)
            oracle[stage] = not isinstance(outcome, str) and answers_match(
                "math", items[index].gold.answer, outcome[1])
        updates = {
            "oracle_correct": oracle, "gold_steps": len(row.steps),
            "gold_ops": [step.label for step in row.steps],
            "predicted_ops": [max(scores, key=scores.get) for scores in roles],
            "gold_program": MathProgram.from_json(json.loads(row.program)).render(
                structure.expressions).splitlines(),
        }
        if not records[index].correct:
            stage = next((stage for stage in STAGES if oracle[stage]), None)
            if stage is not None:
                updates["attribution"] = stage.removeprefix("oracle_")
        records[index] = records[index].model_copy(update=updates)
        report("oracle_math", done, len(kept))
    return [_track_reason(record) for record in records]
