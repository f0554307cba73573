"""Problems with their written numbers replaced by large random ones, and gold answers recomputed
by executing each problem's validated reference program on the new numbers: an exact executor
does not care about size, so accuracy here should match accuracy on the originals.

    mycelium large-numbers runs/split/dev.jsonl --out runs/dev-large.jsonl
    mycelium eval --file runs/dev-large.jsonl --checkpoints ... --out runs/eval-large

Which numbers: every mention written in digits ("48", "1,200", "2.5") that stands for one value
only. Words ("half", "twice"), percentages and other mentions with several readings keep their
text. What is kept: a variant whose every step keeps the original's kind of value (whole where
the original step was whole, positive where it was positive), so the problem still reads as a
word problem; first independent random values in [1,000, 100,000) are tried, then the originals
scaled by one random factor (which keeps ratios, and so whole quotients, whole). A problem whose
reference labels do not validate, or for which no sensible variant turns up, is left out and
counted.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_jsonl_atomic
from mycelium.data.progress import Progress
from mycelium.solver.executor import ExecutionError
from mycelium.solver.program import format_number
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.gsm8k import step_values
from mycelium.specialists.labels.schema import LabelQuantity, ProblemLabels

NUMERAL = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
INDEPENDENT_TRIES = 30
SCALED_TRIES = 30


def _kinds(values: list[Fraction]) -> list[tuple[bool, bool]]:
    return [(value.denominator == 1, value > 0) for value in values]


def _random_like(value: Fraction, rng: random.Random) -> Fraction:
    """A large random number written like `value`: as many decimals, if any."""
    decimals = 0
    while (value * 10**decimals).denominator != 1 and decimals < 4:
        decimals += 1
    return Fraction(rng.randrange(1_000 * 10**decimals, 100_000 * 10**decimals), 10**decimals)


def large_number_variant(row: ProblemLabels, rng: random.Random
                         ) -> tuple[str, Fraction] | str:
    """(new text, its exact answer), or the reason no variant is kept."""
    by_mention: dict[tuple[int, int], list[int]] = {}
    for index, quantity in enumerate(row.quantities):
        by_mention.setdefault((quantity.start, quantity.end), []).append(index)
    replaceable = [indices[0] for indices in by_mention.values()
                   if len(indices) == 1 and NUMERAL.fullmatch(row.quantities[indices[0]].text)]
    if not replaceable:
        return "no_written_numbers"
    try:
        original = _kinds(step_values(row))
    except ExecutionError as error:
        return error.reason
    originals = {index: Fraction(row.quantities[index].value) for index in replaceable}
    candidates = [{index: _random_like(value, rng) for index, value in originals.items()}
                  for _ in range(INDEPENDENT_TRIES)]
    for _ in range(SCALED_TRIES):
        factor = rng.randrange(11, 1_000)
        candidates.append({index: value * factor for index, value in originals.items()})
    for values in candidates:
        quantities = list(row.quantities)
        for index, value in values.items():
            quantities[index] = replace(quantities[index], value=str(value))
        try:
            computed = step_values(replace(row, quantities=quantities))
        except ExecutionError:
            continue
        if _kinds(computed) == original:
            return _rewrite(row.text, quantities, values), computed[-1]
    return "no_sensible_variant"


def _rewrite(text: str, quantities: list[LabelQuantity], values: dict[int, Fraction]) -> str:
    for index in sorted(values, key=lambda i: -quantities[i].start):
        quantity = quantities[index]
        text = text[:quantity.start] + format_number(values[index]) + text[quantity.end:]
    return text


def large_number_rows(items: Sequence[GoldProblem], *, seed: int = 0,
                      progress: Progress | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """GSM8K-format rows ({"question", "answer": "... #### N", "original_id"}) of the kept
    variants, and the counts of what was left out and why."""
    labels, manifest = build_labels(items, dataset="gsm8k", source="reference",
                                    progress=progress)
    counts: Counter = Counter({f"labels_{reason}": count
                               for reason, count in manifest.dropped.items()})
    rng = random.Random(seed)
    rows = []
    for row in labels:
        variant = large_number_variant(row, rng)
        if isinstance(variant, str):
            counts[variant] += 1
            continue
        text, answer = variant
        # the original's id: plain accuracy on the same problems is a filter of its eval
        rows.append({"question": text, "answer": f"#### {format_number(answer)}",
                     "original_id": row.problem_id})
        counts["kept"] += 1
    return rows, counts


def write_large_numbers(items: Sequence[GoldProblem], out: Path, *, seed: int = 0,
                        progress: Progress | None = None) -> Counter:
    rows, counts = large_number_rows(items, seed=seed, progress=progress)
    write_jsonl_atomic(out, rows)
    return counts
