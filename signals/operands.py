"""Operand matching: the numbers a CoT segment computes with, tied to the problem's quantities.

`match_operands(segment_text, problem_text)` finds every number the segment writes (digits,
number words, fraction words: `find_mentions`) and links each one with the same `Linker` the
GSM8K gold programs use, so teacher labels and reference labels agree on what "the 48" is:
  - "result":   the right side of an equation the segment states ("48/2 = 24": the 24); it is
                computed here, not read from the problem, so it is not linked;
  - "problem":  a problem quantity, with its char span ("2" -> the "half" in "half as many");
  - "constant": a named constant the problem's words make plausible (60 with "hours");
  - "unlinked": none of these (often an earlier step's result, which the caller can resolve).

What counts as one number: "a/b" is a division of two numbers ("48/2", "12/60"), except on an
equation's right side ("= 3/2") or when it is a proper fraction the problem states ("1/2 of 48"
with "half" in the problem), where it is one number. Words that
`find_mentions` reads as counts only because a program used them so ("week" = 7, "both" = 2,
"once") are left out: in a CoT they are prose, and the arithmetic is written in digits.

Pass one `Linker` for all segments of a CoT: like the gold programs, later numbers then prefer
problem mentions not linked yet ("5 apples and 5 pears" link to both fives in turn).

    links = match_operands("Natalia sold 48/2 = 24 clips in May.", problem_text, linker)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from mycelium.solver.quantities import Linker, Mention, find_mentions
from mycelium.solver.reference.prose_math import find_equations

OperandKind = Literal["problem", "constant", "unlinked", "result"]

# Counts only when a program makes them so; as CoT prose they are words (see module doc).
_PROSE_WORDS = {"week", "weekly", "fortnight", "both", "once", "score", "pair", "pairs", "twin",
                "twins", "triplets"}


@dataclass(frozen=True)
class OperandLink:
    """A number at segment_text[segment_start:segment_end] and what it was matched to."""

    segment_start: int
    segment_end: int
    value: Fraction  # as the segment writes it ("20%" is 20, "half" is 1/2)
    kind: OperandKind
    problem_start: int | None = None  # the problem quantity's char span, for kind "problem"
    problem_end: int | None = None
    constant: str | None = None  # the constant's name, for kind "constant"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the value as an exact string such as "24" or "1/2"), for trace records."""
        return {"segment_start": self.segment_start, "segment_end": self.segment_end,
                "value": str(self.value), "kind": self.kind, "problem_start": self.problem_start,
                "problem_end": self.problem_end, "constant": self.constant}


def match_operands(segment_text: str, problem_text: str,
                   linker: Linker | None = None) -> list[OperandLink]:
    """Every number in `segment_text`, in text order, linked to `problem_text` (see module doc).

    `linker` must be built on `problem_text`; pass one per CoT to share its used-mention memory.
    """
    if linker is None:
        linker = Linker(problem_text)
    results = [(equation.equals, equation.end) for equation in find_equations(segment_text)]
    links: list[OperandLink] = []
    for mention in _numbers(segment_text, results, linker):
        if any(start <= mention.start and mention.end <= end for start, end in results):
            links.append(OperandLink(mention.start, mention.end, mention.value, "result"))
        else:
            links.append(_link(mention, linker))
    return links


def _numbers(text: str, results: list[tuple[int, int]], linker: Linker) -> list[Mention]:
    """The segment's numbers, non-overlapping, the longest reading first at each position."""
    stated = {value for mention in linker.mentions for value in mention.aliases}
    numbers: list[Mention] = []
    for mention in find_mentions(text):  # sorted by start, longest first
        if mention.text.lower() in _PROSE_WORDS:
            continue
        on_right = any(start <= mention.start and mention.end <= end for start, end in results)
        stated_fraction = mention.value < 1 and mention.value in stated
        if "/" in mention.text and not (on_right or stated_fraction):
            continue  # "48/2": a division; 48 and 2 follow as mentions of their own
        if numbers and mention.start < numbers[-1].end:
            continue  # inside a longer number taken already: "3" of "3/4", "half" of "half an hour"
        numbers.append(mention)
    return numbers


def _link(mention: Mention, linker: Linker) -> OperandLink:
    # The written value first, then the values it can stand for ("half" is also a division by 2).
    for value in [mention.value, *sorted(mention.aliases - {mention.value})]:
        quantity = linker.quantity(value)
        if quantity is not None:
            return OperandLink(mention.start, mention.end, mention.value, "problem",
                               quantity.start, quantity.end)
    constant = linker.constant(mention.value)
    if constant is not None:
        return OperandLink(mention.start, mention.end, mention.value, "constant",
                           constant=constant.name)
    return OperandLink(mention.start, mention.end, mention.value, "unlinked")
