"""Label-preserving number variants: a validated label row with its written numbers re-drawn,
the text rewritten, every span moved, and the program re-executed exactly for the new answer.

    variant = number_variant(row, random.Random(0), draw=draw_any_size)   # row or a reason
    rows = with_number_variants(train_rows, per_problem=1, seed=0)        # originals + variants

An exact executor does not care how large a number is, but a student reading numbers as word
pieces does: "48" and "48,213" are different token sequences. Variants teach a number's position
and role rather than its value (issue 13: dev accuracy fell from 20.6% to 11.8% when the numbers
were made large).

Which numbers: every mention written in digits ("48", "1,200", "2.5") that stands for one value
only and lies inside no other mention. Words ("half", "twice"), percentages, the parts of "1/2"
and other mentions with several readings keep their text. What is kept: a variant whose every
step keeps the original's kind of value (whole where the original step was whole, positive where
it was positive), so the problem still reads as a word problem; first independent random draws
are tried, then the originals scaled by one random whole factor (which keeps ratios, and so
whole quotients, whole).

The gold answer of a variant is the re-executed program's value, so variants are built from
training labels only; nothing here is reachable from inference.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction

from mycelium.solver.executor import ExecutionError
from mycelium.solver.program import format_number
from mycelium.specialists.labels.gsm8k import step_values
from mycelium.specialists.labels.schema import LabelArg, LabelStep, ProblemLabels

NUMERAL = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
INDEPENDENT_TRIES = 30
SCALED_TRIES = 30

Draw = Callable[[Fraction, random.Random], Fraction]


def _decimals(value: Fraction) -> int:
    decimals = 0
    while (value * 10**decimals).denominator != 1 and decimals < 4:
        decimals += 1
    return decimals


def draw_large(value: Fraction, rng: random.Random) -> Fraction:
    """A random number in [1,000, 100,000) written like `value`: as many decimals, if any."""
    scale = 10 ** _decimals(value)
    return Fraction(rng.randrange(1_000 * scale, 100_000 * scale), scale)


def draw_any_size(value: Fraction, rng: random.Random) -> Fraction:
    """A random number of any size from 1 to 100,000 (log-uniform, so small numbers stay as
    common as large ones), written like `value`."""
    scale = 10 ** _decimals(value)
    magnitude = math.exp(rng.uniform(0.0, math.log(100_000)))
    return Fraction(max(1, round(magnitude * scale)), scale)


def _kinds(values: list[Fraction]) -> list[tuple[bool, bool]]:
    return [(value.denominator == 1, value > 0) for value in values]


def number_variant(row: ProblemLabels, rng: random.Random, draw: Draw = draw_any_size
                   ) -> ProblemLabels | str:
    """The row with its digit-written numbers re-drawn (text, spans, program and answer
    consistent), or the reason no variant is kept."""
    by_mention: dict[tuple[int, int], list[int]] = {}
    for index, quantity in enumerate(row.quantities):
        by_mention.setdefault((quantity.start, quantity.end), []).append(index)
    spans = list(by_mention)

    def overlaps(span: tuple[int, int]) -> bool:  # "1" and "2" inside "1/2" stay as written
        return any(other != span and other[0] < span[1] and span[0] < other[1]
                   for other in spans)

    replaceable = [indices[0] for span, indices in by_mention.items()
                   if len(indices) == 1 and not overlaps(span)
                   and NUMERAL.fullmatch(row.quantities[indices[0]].text)]
    if not replaceable:
        return "no_written_numbers"
    try:
        original = _kinds(step_values(row))
    except ExecutionError as error:
        return error.reason
    originals = {index: Fraction(row.quantities[index].value) for index in replaceable}
    candidates = [{index: draw(value, rng) for index, value in originals.items()}
                  for _ in range(INDEPENDENT_TRIES)]
    for _ in range(SCALED_TRIES):
        factor = rng.randrange(11, 1_000)
        candidates.append({index: value * factor for index, value in originals.items()})
    for values in candidates:
        if all(values[index] == value for index, value in originals.items()):
            continue  # not a variant
        quantities = list(row.quantities)
        for index, value in values.items():
            quantities[index] = replace(quantities[index], value=str(value))
        try:
            computed = step_values(replace(row, quantities=quantities))
        except ExecutionError:
            continue
        if _kinds(computed) == original:
            return rewrite_numbers(row, values, computed[-1])
    return "no_sensible_variant"


class _Shift:
    """Where a character position of the old text lands after the replacements."""

    def __init__(self, replaced: list[tuple[int, int, int]]) -> None:
        self.replaced = sorted(replaced)  # (start, end, new length)

    def __call__(self, position: int) -> int:
        moved = position
        for start, end, length in self.replaced:
            if position >= end:
                moved += length - (end - start)
            elif position > start:  # inside a replaced number: keep it inside the new one
                moved += min(position - start, length) - (position - start)
        return moved


def rewrite_numbers(row: ProblemLabels, values: dict[int, Fraction], answer: Fraction
                    ) -> ProblemLabels:
    """The row with quantity i written as values[i]: text, word/group/quantity spans, step
    arguments, the program's problem arguments and the answer all follow."""
    written = {index: format_number(value) for index, value in values.items()}
    text = row.text
    for index in sorted(values, key=lambda i: -row.quantities[i].start):
        quantity = row.quantities[index]
        text = text[:quantity.start] + written[index] + text[quantity.end:]
    shift = _Shift([(row.quantities[i].start, row.quantities[i].end, len(written[i]))
                    for i in values])

    def span(pair: tuple[int, int]) -> tuple[int, int]:
        return shift(pair[0]), shift(pair[1])

    quantities = []
    for index, quantity in enumerate(row.quantities):
        start, end = span((quantity.start, quantity.end))
        if index in values:
            quantity = replace(quantity, value=str(values[index]), text=written[index])
        quantities.append(replace(quantity, start=start, end=end))
    steps = [LabelStep(label=step.label, group=[span(pair) for pair in step.group],
                       args=[LabelArg(arg.kind, arg.index, quantities[arg.index].value)
                             if arg.kind == "quantity" else arg for arg in step.args],
                       expression=step.expression)
             for step in row.steps]
    by_span = {(old.start, old.end): new for old, new in zip(row.quantities, quantities,
                                                              strict=True)}
    program = json.loads(row.program)
    for step in program.get("steps", []):
        for arg in step.get("args", []):
            new = by_span.get((arg.get("start"), arg.get("end")))
            if arg.get("kind") == "problem" and new is not None:
                arg.update(value=new.value, start=new.start, end=new.end, text=new.text)
    return replace(row, text=text, answer=format_number(answer),
                   words=[span(pair) for pair in row.words], quantities=quantities, steps=steps,
                   program=json.dumps(program))


def with_number_variants(rows: Sequence[ProblemLabels], per_problem: int, seed: int = 0,
                         draw: Draw = draw_any_size) -> tuple[list[ProblemLabels], Counter]:
    """The rows, then `per_problem` number variants of each (ids suffixed "#v1", ...), and the
    counts of variants made and of those left out, by reason."""
    rng = random.Random(seed)
    variants, counts = [], Counter()
    for number in range(1, per_problem + 1):
        for row in rows:
            variant = number_variant(row, rng, draw)
            if isinstance(variant, str):
                counts[variant] += 1
                continue
            variants.append(replace(variant, problem_id=f"{row.problem_id}#v{number}"))
            counts["made"] += 1
    return [*rows, *variants], counts
