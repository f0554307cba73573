"""The largest or smallest value of an expression, read from a MATH question's words: the EXTREMUM
step (solver/math_program.py), its optimum or where it is reached. Pure, no gold answer: the
structure parser (solver/math_structure.py) puts these candidates with the number rules', and
gives each the definitions and constraints of its expression (`_extremum_given` there), or none
at all when the problem holds math the step would not read.

    extremum_candidates(text, math_spans(text), objective_clause)
    # "What is the maximum value of the expression $-5r^2 + 40r - 12$ for real $r$?"
    #   -> [(MathStep(MathOp.EXTREMUM, 0, pick="max", form="value"),)]

What is read (the text as math_numbers reads it: lowercased, math spans as "@k@"), in the
sentence of the objective clause: "the minimum / maximum / smallest possible / largest possible
value of @k@" (form value), "What value of @x@ will give the minimum value for @k@?" (form
argument). A problem about integers, digits or complex numbers (`_OTHER_OPTIMA`) is a different
question (an optimum over a discrete or complex set), and so is one whose words hold a numeral
("the numbers $a,$ $b,$ $c$ are equal to 1, 2, 3 in some order"): both are left alone.
Measured on every 4th row of MATH train: 63 objectives ask for a maximum or minimum; most
(Intermediate Algebra's AM-GM problems) optimise under an equation ("$x + y + z = 1$") or over
several positive variables, which the step refuses; it answers one variable over an interval,
and quadratics in several. On all of MATH train (no diagram) the rules and the step answer 46
problems, each its dataset answer, and refuse 58.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mycelium.solver.math_numbers import LatexSpan, Span, Steps, marked_text, overlaps
from mycelium.solver.math_program import MathOp, MathStep

_LOW = ("minimum", "smallest possible", "least possible", "minimal", "smallest", "least")
_WORD = r"(?P<word>minimum|maximum|smallest possible|largest possible|greatest possible|" \
    r"least possible|minimal|maximal)"
_VALUE = re.compile(
    rf"\b{_WORD}\s+(?:possible\s+)?value\s+of\s+(?:the\s+(?:expression|function|quantity)\s+)?"
    r"@(?P<target>\d+)@")
_ARGUMENT = re.compile(
    r"\b(?:what|which)\s+(?:real\s+)?value\s+of\s+@\d+@\s+(?:will\s+)?(?:gives?|yields?|"
    r"produces?|results?\s+in)\s+(?:the\s+)?(?P<word>minimum|maximum|smallest|largest)\s+"
    r"value\s+(?:of|for)\s+(?:the\s+expression\s+)?@(?P<target>\d+)@")
# An answer asked as a decimal or a percent: the exact value would be judged against a rounding
_APPROXIMATE = re.compile(r"\b(?:nearest|decimal|percent)\b")
_OTHER_OPTIMA = re.compile(r"\b(?:integers?|integral|digits?|complex|primes?|whole numbers?|"
                           r"ordered|sequence|natural numbers?|multiples?|divisors?|factors?|"
                           r"order)\b")


def marked_prose(marked: str) -> str:
    """The words of the marked text, math markers and answer-format sentences left out."""
    words = re.sub(r"@\d+@", " ", marked)
    return re.sub(r"(?:express|give|write|round|enter)\b[^.?!]*", " ", words)


def extremum_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The EXTREMUM steps the question asks for, their given left for the structure parser."""
    marked, origin = marked_text(text, spans)
    ends = [match.end() for match in re.finditer(r"[.?!](?:\s|$)", text)]
    sentence = (max((end for end in ends if end <= objective[0]), default=0),
                min((end for end in ends if end >= objective[1]), default=len(text)))
    if _OTHER_OPTIMA.search(marked) or re.search(r"\d", marked_prose(marked)) or \
            _APPROXIMATE.search(marked):
        return []  # a numeral in the words says more than the expression ("1, 2, 3, 4")
    found: list[Steps] = []
    for pattern, form in ((_ARGUMENT, "argument"), (_VALUE, "value")):
        for match in pattern.finditer(marked):
            if not overlaps(origin, match.span(), sentence):
                continue
            pick = "min" if match["word"] in _LOW else "max"
            steps = (MathStep(MathOp.EXTREMUM, int(match["target"]), pick=pick, form=form),)
            if steps not in found:
                found.append(steps)
    return found
