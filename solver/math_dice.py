"""The probability that the sum of a few fair dice meets stated tests, read from a MATH
problem's words: the DICE step (solver/math_program.py). Pure, no gold answer: the structure
parser (solver/math_structure.py) puts these candidates with the counting rules'.

    dice_candidates(text, math_spans(text), objective_clause)
    # "Two standard 6-sided dice are tossed. What is the probability that the sum of the
    #  numbers shown on the dice is a prime number?"
    #   -> [(MathStep(MathOp.DICE, "2", operands=("6", "2", "12"), form="prime"),)]

What is read: the dice ("two fair, standard six-sided dice are rolled", faces 6 unless said),
and the sum the question asks about ("the sum of the numbers shown on the dice is a prime
number", "the sum rolled is 9", "the two numbers rolled sum to 4"), whose words are read as
solver/math_sieve.py reads a range and tests ("less than 11", "between 3 and 11, inclusive", "a
perfect square", "3 or more"). Every word of the problem must be one of these, an answer format
sentence ("Express your answer as a common fraction."), or one that adds nothing ("when",
"are", "rolled"): dice of two colours, one die's face, a product or a difference say more, and
no candidate is proposed. Measured on MATH train: ~23 problems roll two or three dice and ask a
probability; about half ask about the sum alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mycelium.solver.math_numbers import LatexSpan, Span, Steps
from mycelium.solver.math_program import MAX_DICE, MathOp, MathStep
from mycelium.solver.math_sieve import read_integer_words
from mycelium.solver.quantities import CARDINALS

_DICE = re.compile(r"\b(?P<n>\d+) (?:(?:fair|standard|regular|ordinary|cubical)[ ,]+)*"
                   r"(?:(?P<faces>\d+)(?:-| )(?:sided|faced) )?(?:(?:fair|standard)[ ,]+)*dice\b")
_SUM = re.compile(r"\bwhat is the probability (?:that )?(?:the )?(?:(?:\d+ )?numbers? "
                  r"(?:rolled|showing|shown) )?(?:sum(?: of (?:the )?(?:\d+ )?(?:numbers?|"
                  r"integers?|results?)(?: (?:shown|showing|rolled|on (?:the )?top faces|on the "
                  r"dice|shown on the dice))*| rolled)? (?:is|will be) |sum to )(?P<event>[^.?]+)")
# Words around the dice and the question that add nothing to them.
_FILLER = frozenset("if when suppose that we you i are were is rolled tossed thrown roll rolls "
                    "simultaneously once the".split())
_EXPRESS = re.compile(r"(?:express|give|write|enter)\b[^.?!]*[.?!]?")


def dice_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The DICE step the problem asks for (none when its words say more than a sum's tests)."""
    words = _words(text, spans)
    if words is None or re.search(r"\b(?:percent|decimal)\b", text.lower()):
        return []  # the answer is to be written as something other than a fraction
    dice, question = list(_DICE.finditer(words)), list(_SUM.finditer(words))
    if len(dice) != 1 or len(question) != 1:
        return []
    count, faces = int(dice[0]["n"]), int(dice[0]["faces"] or 6)
    event = re.sub(r"\s+", " ", question[0]["event"].replace(",", " ")).strip()
    rest = words[:dice[0].start()] + " " + words[dice[0].end():question[0].start()] + " " + \
        words[question[0].end():]
    if set(re.sub(r"[,.?]", " ", rest).split()) - _FILLER or not 1 <= count <= MAX_DICE:
        return []
    exact = re.fullmatch(r"(\d+)", event)
    if exact is not None:
        low, high, conditions = int(exact[1]), int(exact[1]), []
    else:
        read = read_integer_words(event)
        if read is None or read.pick is not None:
            return []
        low = count if read.low is None else max(read.low, count)
        high = count * faces if read.high is None else min(read.high, count * faces)
        conditions = read.conditions
    names = ",".join(name for name, _ in conditions) or "integer"
    parameters = tuple(str(number) for _, numbers in conditions for number in numbers)
    return [(MathStep(MathOp.DICE, str(count), operands=(str(faces), str(low), str(high),
                                                         *parameters), form=names),)]


def _words(text: str, spans: Sequence[LatexSpan]) -> str | None:
    """The problem's words, lowercased, number words and integer math as numerals, the answer
    format sentences gone; None when its math is more than integers."""
    pieces, position = [], 0
    for span in spans:
        if not re.fullmatch(r"\d+", span.latex.strip()):
            return None
        pieces.extend((text[position:span.start], span.latex.strip()))
        position = span.end
    pieces.append(text[position:])
    words = _EXPRESS.sub(" ", "".join(pieces).lower())
    words = re.sub(r"\b(" + "|".join(word for word in CARDINALS if word != "one") + r")\b",
                   lambda found: str(CARDINALS[found[1]]), words)
    return re.sub(r"\s+", " ", words).strip()
