"""The trace store: each round's store is the previous round's, whole, plus this round's new
traces that re-execute to their gold answer and are not already there (rounds/stages.py's
validate stage writes it as a label store).

    merged = merge_traces(previous_rows, new_rows, order)   # order: problem id -> train position
    merged.rows, merged.added, merged.duplicates, merged.rejected
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


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
    if row.dataset == "math":
        # MATH steps are clause roles: two programs over the same clauses (SOLVE for x then
        # EVALUATE the target, or SOLVE for the target) differ only in the program
        return json.dumps([row.problem_id, steps, json.loads(row.program)["steps"]])
    return json.dumps([row.problem_id, steps])


def merge_traces(previous: Sequence[Any], new: Sequence[Any], order: dict[str, int],
                 ) -> MergeResult:
    """The next trace store: every previous trace (none is ever lost), then each new trace that
    re-executes to its gold answer and is not already there, in train order (`order`: problem
    id → position), so the result is the same whatever the shard count."""
    from mycelium.data.errors import Dropped
    from mycelium.specialists.labels.gsm8k import validate_gsm8k_labels
    from mycelium.specialists.labels.math import validate_math_labels

    validators = {"gsm8k": validate_gsm8k_labels, "math": validate_math_labels}

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
            validators[row.dataset](row)
        except Dropped as drop:
            result.rejected[drop.reason] += 1
            continue
        seen.add(key)
        result.rows.append(row)
        result.added[row.source] += 1
    return result
