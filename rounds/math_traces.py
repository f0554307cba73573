"""Round ≥ 2 of a MATH round (dataset: math): the previous round's MATH students solve the train
problems, and each program they chose that reaches the gold answer becomes a `student` trace.

    rows, outcomes, counts = math_student_traces(plan, items, results)

A program becomes a trace when it is one of the structure parser's candidates (the direct
track's one-expression programs are not: nothing in them is a clause role to learn) and its
labels re-execute to the gold answer (labels/math.py labels_from_math_program). The trace store
keeps it only when it is not already there, so the students' choice adds a trace where it
differs from the reference labels' (the rule order's first right candidate), or where the
reference labels dropped the problem (a timeout in labelling, say).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mycelium.data.errors import Dropped
from mycelium.data.gold import GoldProblem

if TYPE_CHECKING:
    from mycelium.rounds.round import RoundPlan


def math_student_traces(plan: RoundPlan, items: list[GoldProblem], results: list[Any]
                        ) -> tuple[list[Any], list[dict[str, Any]], Counter]:
    """(label rows, one outcome per problem, counts) for the students' `results` on `items`."""
    from mycelium.evaluation.evaluate import answers_match
    from mycelium.signals.clauses import clause_spans_many
    from mycelium.specialists.labels.math import labels_from_math_program

    correct = [answers_match("math", item.gold.answer, result.answer)
               for item, result in zip(items, results, strict=True)]
    structured = [index for index, result in enumerate(results)
                  if correct[index] and result.track == "structure"]
    clauses = dict(zip(structured, clause_spans_many(items[index].problem.text
                                                     for index in structured), strict=True))
    rows, outcomes, counts = [], [], Counter()
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        outcome = {"problem_id": item.problem.id, "status": result.status,
                   "answer": result.answer, "correct": correct[index], "validated": False,
                   "traces": 0, "track": result.track}
        if index in clauses:
            try:
                row = labels_from_math_program(item, result.program, clauses=clauses[index])
            except Dropped as drop:
                outcome["drop"] = drop.reason
            else:
                rows.append(replace(row, round=plan.round, config_hash=plan.config.result_hash()))
                outcome.update(validated=True, traces=1)
        elif correct[index]:
            outcome["drop"] = f"{result.track}_track"
        counts["correct" if correct[index] else "failed"] += 1
        counts["validated"] += outcome["validated"]
        counts["traces"] += outcome["traces"]
        outcomes.append(outcome)
    return rows, outcomes, counts
