"""Points and slopes in the coordinate plane, read from a MATH question's words: the COORDINATE
step (solver/math_program.py). Pure, no gold answer: the structure parser
(solver/math_structure.py) puts these candidates with the number rules'.

    coordinate_candidates(text, math_spans(text), objective_clause)
    # "What is the midpoint of the segment with endpoints (7,-6) and (-3,4)?"
    #   -> [(MathStep(MathOp.COORDINATE, "7", operands=("-6", "-3", "4"), form="midpoint",
    #                 pick="all"),)]

What is read (the text as math_numbers reads it: lowercased, math spans as "@k@"); the problem
states exactly two points ("(7,-6)", "$A(1,8)$", "$M = (4, 4)$") and no other number, or one
line's equation and no point, and the question's sentence asks for
  midpoint   the midpoint of the two points, as a point or the sum / product of its coordinates;
  endpoint   the other endpoint, when one of the points is the midpoint ("$M(4,4)$ is the
             midpoint", "its midpoint is $(2,9)$");
  slope      of the line through the two points, or perpendicular to it; of a line's equation
             ("the slope of a line parallel to the line $2x - 4y = 9$"), or perpendicular to it.
Words that move or relate figures (translated, reflected, a circle, an intercept, a distance,
`_OTHER`) mean a different question, and the problem is left alone. Measured on every 4th row of
MATH train: ~18 problems ask for a midpoint and ~12 for a slope, most in Algebra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mycelium.solver.math_numbers import LatexSpan, Span, Steps, marked_text
from mycelium.solver.math_program import MathOp, MathStep

_NUMBER = r"-?\s*(?:\d+(?:\.\d+)?|\\[dt]?frac\{-?\d+\}\{\d+\})"
_POINT = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")
# A math span that only names a point or a segment: "$A$", "$\overline{AB}$", "$B$"
_LABEL = re.compile(r"[A-Z](?:_\d)?|[A-Z]{2}|\\overline\{[A-Z]{2}\}")
# A span that is a labelled point: "A(1,8)", "A = (1, 8)", "(4, 4)"
_POINT_SPAN = re.compile(rf"(?:[A-Z]\s*=?\s*)?\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")
_OTHER = re.compile(
    r"\b(?:translat\w*|reflect\w*|rotat\w*|dilat\w*|distance|length|area|perimeter|circles?|"
    r"parabola|triangle|squares?|rectangle|bisector|intercepts?|trisect\w*|ratio|third|"
    r"quarter|graphs?|tangent|intersect\w*|vertex|vertices|origin|x-coordinate|y-coordinate|"
    r"equation|form|integers?|value)\b")
# An answer asked as a decimal or a percent: the exact value would be judged against a rounding
_APPROXIMATE = re.compile(r"\b(?:nearest|decimal|percent)\b")
_EXPRESS = re.compile(r"(?:express|give|write|enter)\b[^.?!]*[.?!]?")
_SUM = re.compile(r"\bsum of the coordinates\b")
_PRODUCT = re.compile(r"\bproduct of the coordinates\b")
_AS_POINT = re.compile(r"\b(?:what|find) (?:is |are |will be )?the (?:coordinates of the )?"
                       r"(?:midpoint|other endpoint|coordinates)\b|"
                       r"\bat what (?:coordinate|point)\b|\bordered pair\b")
# The midpoint named at one of the points: "its midpoint is (2,9)", "M(4,4) is the midpoint"
_MIDPOINT_AT = re.compile(r"midpoint(?: of [^.?]*?)? (?:is|at|is located at|is at) (?:point )?$")
_MIDPOINT_BEFORE = re.compile(r"^ ?(?:is|be) the midpoint\b")


def coordinate_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The COORDINATE step the question asks for (none when the words do not fit)."""
    marked, origin = marked_text(text, spans)
    marked = _EXPRESS.sub(" ", marked)
    ends = [match.end() for match in re.finditer(r"[.?!](?:\s|$)", text)]
    start = max((end for end in ends if end <= objective[0]), default=0)
    end = min((end for end in ends if end >= objective[1]), default=len(text))
    asked = "".join(char for char, position in zip(marked, origin, strict=False)
                    if start <= position < end)
    if _OTHER.search(marked) or _APPROXIMATE.search(text.lower()):
        return []
    points, rest = _points(marked, spans)
    lines = [int(found[1]) for found in re.finditer(r"@(\d+)@", rest)
             if not _LABEL.fullmatch(spans[int(found[1])].latex.strip())]
    if re.search(r"\d", re.sub(r"@\d+@", " ", rest)):
        return []  # a number that is no point's
    if re.search(r"\bslope\b", asked):
        return _slopes(asked, points, lines)
    if lines or len(points) != 2 or not re.search(r"\bmidpoint\b", marked):
        return []
    pick = "sum" if _SUM.search(asked) else "product" if _PRODUCT.search(asked) else \
        "all" if _AS_POINT.search(asked) else None
    if pick is None:
        return []
    middle = [index for index, (position, _) in enumerate(points)
              if _MIDPOINT_AT.search(marked[:position]) or
              _MIDPOINT_BEFORE.search(marked[_end_of(marked, position):])]
    coordinates = [number for _, point in points for number in point]
    if not middle and re.search(r"\bmidpoint\b", asked) and \
            not re.search(r"\bendpoint\b", asked):
        return [(MathStep(MathOp.COORDINATE, coordinates[0], operands=tuple(coordinates[1:]),
                          form="midpoint", pick=pick),)]
    if len(middle) == 1 and re.search(r"\b(?:other endpoint|point (?:[a-z]\b|@\d+@))", asked):
        given = [points[middle[0]][1], points[1 - middle[0]][1]]
        numbers = [number for point in given for number in point]
        return [(MathStep(MathOp.COORDINATE, numbers[0], operands=tuple(numbers[1:]),
                          form="endpoint", pick=pick),)]
    return []


def _slopes(asked: str, points: list[tuple[int, tuple[str, str]]],
            lines: list[int]) -> list[Steps]:
    perpendicular = re.search(r"\bperpendicular\b", asked) is not None
    if not re.search(r"\b(?:what|find|compute)\b[^.?]*\bslope of (?:the |a )?(?:line|segment)\b",
                     asked):
        return []
    if len(points) == 2 and not lines:
        numbers = [number for _, point in points for number in point]
        form = "perpendicular_slope" if perpendicular else "slope"
        return [(MathStep(MathOp.COORDINATE, numbers[0], operands=tuple(numbers[1:]),
                          form=form),)]
    if len(lines) == 1 and not points:
        form = "line_perpendicular_slope" if perpendicular else "line_slope"
        return [(MathStep(MathOp.COORDINATE, lines[0], form=form),)]
    return []


def _end_of(marked: str, position: int) -> int:
    """Where the point token starting at `position` ends."""
    if marked.startswith("@", position):
        return marked.index("@", position + 1) + 1
    return marked.index(")", position) + 1


def _points(marked: str, spans: Sequence[LatexSpan]
            ) -> tuple[list[tuple[int, tuple[str, str]]], str]:
    """The points the problem states, with where each starts in the marked text, and the
    marked text with them blanked."""
    found: list[tuple[int, tuple[str, str]]] = []
    rest = list(marked)

    def blank(start: int, stop: int) -> None:
        rest[start:stop] = " " * (stop - start)

    for match in _POINT.finditer(marked):
        found.append((match.start(), (_clean(match[1]), _clean(match[2]))))
        blank(*match.span())
    for marker in re.finditer(r"@(\d+)@", marked):
        latex = spans[int(marker[1])].latex.strip()
        point = _POINT_SPAN.fullmatch(latex)
        if point is not None:
            found.append((marker.start(), (_clean(point[1]), _clean(point[2]))))
            blank(*marker.span())
    return sorted(found), "".join(rest)


def _clean(number: str) -> str:
    return re.sub(r"\s+", "", number)
