"""The problem as both sides read it: the words tags are given over, the quantity and constant
candidates an argument can point at, the question clause, and the tag names. The label builders
(labels/) and inference (mycelium.inference) build on exactly this, so training and solving see
the same candidates; nothing here knows of a gold answer.

    words = problem_words(text)                  # spaCy tokens as (start, end) char spans
    quantities = candidate_quantities(text)      # every number, once per value it can stand for
    constants = candidate_constants(text)        # named constants the words allow
    question = question_span(text, clause_spans(text))
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mycelium.signals.clauses import Span
from mycelium.solver.quantities import Linker, find_mentions
from mycelium.specialists.labels.schema import LabelConstant, LabelQuantity

OPERAND_TAG = "I-OPERAND"
QUESTION_TAG = "I-QUESTION"
_ASKS = re.compile(r"\?|^\s*(?:how|what|find|calculate|determine|compute)\b", re.IGNORECASE)


def candidate_quantities(text: str) -> list[LabelQuantity]:
    """Every number written in `text`, once per value it can stand for, the written value first:
    the extractor's `quantity` candidates, the same at training and at inference."""
    candidates: list[LabelQuantity] = []
    for mention in find_mentions(text):
        values = [mention.value, *sorted(mention.aliases - {mention.value})]
        candidates.extend(LabelQuantity(str(value), mention.start, mention.end, mention.text)
                          for value in values)
    return candidates


def candidate_constants(text: str) -> list[LabelConstant]:
    """The named constants the problem's words make plausible (solver/quantities.py)."""
    return [LabelConstant(spec.name, str(spec.value)) for spec in Linker(text).constants]


def question_span(text: str, clauses: Sequence[Span]) -> Span | None:
    """The clause that asks: the last one with a '?' or opening with how/what/find/..., else the
    last clause."""
    asking = [clause for clause in clauses if _ASKS.search(text[clause[0]:clause[1]])]
    if asking:
        return asking[-1]
    return clauses[-1] if clauses else None


def problem_words(text: str) -> list[tuple[int, int]]:
    """The words tags are given over: spaCy's tokens (regex words without a spaCy model), the
    same tokenisation at training and at inference."""
    from mycelium.signals.clauses import io_tags

    return [(start, end) for _, start, end, _ in io_tags(text, [])]
