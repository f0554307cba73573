"""Geometry measures of MATH problems over stated numbers, read from their words: the AREA,
PERIMETER, VOLUME, SURFACE, LENGTH and POLYGON steps (solver/math_program.py) a question asks
for, with the figure they measure and its dimensions. Pure, no gold answer: the structure parser
(solver/math_structure.py) puts these candidates with the number and counting rules', before its
SOLVE / EVALUATE / SIMPLIFY ones, and lets a problem whose objective it would call out of scope
(an area, a volume, a distance) through when one of these rules reads it.

    geometry_candidates(text, math_spans(text), objective_clause)
    # "How many cubic feet are in the volume of a round swimming pool which is 16 feet in
    #  diameter and 4 feet deep throughout? Express your answer in terms of $\\pi$."
    #   -> [(MathStep(MathOp.VOLUME, "\\frac{16}{2}", operands=("4",), form="cylinder"),)]

How a problem is read (its text as math_numbers reads it: lowercased, math spans as "@k@"):
  1. The measure: the words of the question's sentence (the one that holds the objective
     clause): "surface area", "volume" or "cubic feet", "area" or "square inches", "perimeter",
     "circumference", "distance", "hypotenuse", "diagonal", "interior angle", "how many sides".
  2. The figure: the one figure the whole problem names ("a round swimming pool": a circle,
     which a cylinder's words, "deep", make a cylinder). A problem that names two figures that
     are not parts of one another (a sphere inscribed in a cube, a square and a circle) names
     no measure here.
  3. The dimensions: each the figure's formula needs, read once by the phrases that state it
     ("16 feet in diameter", "a radius of 3 cm", "legs of length 6 and 8", "50 feet long and 10
     feet wide", vertices "(4, -1), (10, 3) and (4, 5)"); a dimension stated twice with two
     values, or not at all, names no measure.
Two questions are read before these steps, each whole or not at all: the lesser angle between
a clock's hands at the one time stated (ANGLE clock: "the acute angle formed by the hour hand
and the minute hand ... at 6:48"), and the circle inscribed in a triangle whose three sides the
math states and nothing else (LENGTH inradius, indiameter: "if $AB = 5, AC=6, BC=7$").
Every number the problem states must be one of the dimensions read: a number left over (the
"11" of "Eleven 9-inch by 12-inch pictures", a "doubled" radius, an unknown "$x+4$") means the
question is about something the plain formula does not compute, and so do the words of
`_CHANGED` ("doubled", "inscribed", "ratio", ...). Only the sentences that say how to write the
answer ("Express your answer ...") are left out of that count. Measured on MATH train (no
[asy] diagram): these rules read 58 problems, each to its dataset answer; on every 4th row they
validate 22 (distances 4, polygon areas from vertices 4, sides from an interior angle 3, ...).
Most geometry questions left are about figures the words relate (inscribed, similar, cut), a
measure stated and a dimension asked (a cone's volume given, its radius asked), or a figure an
[asy] diagram draws: none is a formula over stated numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mycelium.solver.math_numbers import LatexSpan, Span, Steps, marked_text
from mycelium.solver.math_program import MathOp, MathStep, Ref
from mycelium.solver.quantities import CARDINALS

_WORDS = "|".join(sorted((word for word in CARDINALS if word not in ("zero", "one")),
                         key=len, reverse=True))
# A stated number: a math span, a numeral of the prose ("2.5", "1,000"), a number word.
_NUMBER = rf"(?:@\d+@|(?<![\w.,])\d{{1,3}}(?:,\d{{3}})+(?![\d])|(?<![\w.,])\d+(?:\.\d+)?|" \
    rf"\b(?:{_WORDS})\b)"
_UNIT = r"(?:\s*-?\s*(?:units?|inch(?:es)?|in\.|feet|foot|ft\.?|yards?|yd|meters?|metres?|m|" \
    r"centimeters?|cm|millimeters?|mm|kilometers?|km|miles?|@\d+@(?=\s)))?"
_COORDINATE = r"-?\s*(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\}|\\dfrac\{\d+\}\{\d+\})"
_POINT = re.compile(rf"\(\s*({_COORDINATE})\s*,\s*({_COORDINATE})\s*\)")
# Words that change or relate figures: the measure they ask for is no plain formula of the
# numbers stated.
_CHANGED = re.compile(
    r"\b(?:doubled?|tripled?|quadrupled?|halved|half|twice|thrice|times|increased|decreased|"
    r"reduced|enlarged|shrunk|scaled|ratio|inscribed|circumscribed|tangent|cut|removed|shaded|"
    r"remaining|occupied|border|similar|congruent|new|original|percent|maximum|minimum|largest|"
    r"smallest|greatest|least|possible|integers?|painted|melted|filled|poured|revolutions?|"
    r"each of|difference|combined|per|cost|trip|fold|folded|shadow|slant|frustum|"
    r"midpoints?|altitudes?|medians?|bisector|projection|reflected|rotated|translated|"
    r"region|bounded|graph|equation|parabola|sectors?|arcs?|semicircles?|semicircular|"
    r"quarter)\b")
# The sentences that only say how to write the answer, whose numbers ("the nearest tenth", "in
# the form $a\\sqrt{b}$") are no dimensions.
_EXPRESS = re.compile(r"(?:^|(?<=[.?!]\s))(?:express|give|write|round|your answer)[^.?!]*[.?!]?")
_UNIT_SPAN = re.compile(r"(?:\\(?:text|mbox|mathrm)\s*\{[^{}]*\}|\^\s*\{?\s*[23]\s*\}?|\s)+")
_CLEAN = re.compile(r"\\[,!;: ]|\\(?:text|mbox|mathrm)\s*\{[^{}]*\}|\^\s*\{?\s*\\circ\s*\}?|"
                    r"\\%|\s+")
_NUMERIC_LATEX = re.compile(r"(?:[\d.+\-*/{}()^]|\\(?:frac|dfrac|tfrac|sqrt|cdot|pi)\b)+")


@dataclass(frozen=True)
class _Figure:
    """A figure's name and the words that name it; `parts` are the figures its words may
    also name (a cylinder's circular base)."""

    name: str
    words: str
    parts: tuple[str, ...] = ()


_FIGURES = (
    _Figure("hemisphere", r"hemispher(?:e|es|ical)"),
    _Figure("sphere", r"spheres?|spherical|balls?", ("circle",)),
    _Figure("cylinder", r"cylinders?|cylindrical", ("circle",)),
    _Figure("cone", r"cones?|conical", ("circle",)),
    _Figure("cube", r"cubes?", ("square",)),
    _Figure("pyramid", r"pyramids?", ("square", "rectangle", "triangle")),
    _Figure("box", r"(?:box|boxes|prisms?|rectangular solids?|parallelepipeds?)",
            ("rectangle", "square")),
    _Figure("circle", r"circles?|circular|round|disks?|discs?"),
    _Figure("square", r"squares?(?!\s+(?:units?|inch|inches|feet|foot|yards?|meters?|"
                      r"centimeters?|millimeters?|kilometers?|miles?|roots?|of))"),
    _Figure("rectangle", r"rectangles?|rectangular"),
    _Figure("rhombus", r"rhombus|rhombi"),
    _Figure("trapezoid", r"trapezoids?"),
    _Figure("parallelogram", r"parallelograms?"),
    _Figure("triangle", r"triangles?|triangular"),
    _Figure("polygon", r"polygons?|quadrilaterals?|pentagons?|hexagons?|heptagons?|octagons?|"
                       r"nonagons?|decagons?|dodecagons?|\d+-gons?"),
)
_SIDES_OF = {"triangle": 3, "square": 4, "quadrilateral": 4, "pentagon": 5, "hexagon": 6,
             "heptagon": 7, "octagon": 8, "nonagon": 9, "decagon": 10, "dodecagon": 12}


def _measured(phrase: str) -> str:
    """A dimension phrase with a number (group `n`) and its unit: "NUM" stands for them."""
    return phrase.replace("NUM", rf"(?P<n>{_NUMBER}){_UNIT}").replace(" ", r"\s+")


def _patterns(*phrases: str) -> list[re.Pattern[str]]:
    return [re.compile(_measured(phrase)) for phrase in phrases]


_OF = r"(?:of |is |are |measuring |measures |that measures |equal to |with length |of length )?"
_DIMENSIONS = {
    "radius": _patterns(rf"radius {_OF}(?:length )?NUM", r"NUM radius", r"radius,? NUM"),
    "diameter": _patterns(rf"diameter {_OF}(?:length )?NUM", r"NUM (?:in )?diameter"),
    "side": _patterns(rf"(?:side|edge)(?: length)?s? {_OF}(?:(?:length|each) )?NUM",
                      r"NUM (?:sides?|edges?)\b"),
    "length": _patterns(rf"length {_OF}NUM", r"NUM long\b"),
    "width": _patterns(rf"width {_OF}NUM", r"NUM wide\b"),
    "height": _patterns(rf"(?:height|altitude) {_OF}NUM", r"NUM (?:tall|high|deep)\b"),
    "base": _patterns(rf"base {_OF}(?:length )?NUM"),
    "hypotenuse": _patterns(rf"hypotenuse {_OF}(?:length )?NUM"),
    "leg": _patterns(rf"(?<!other.)leg {_OF}(?:length )?NUM", r"NUM leg"),
}
# "the diagonals of a rhombus measure ...": the figure between a dimension and its numbers
_WHOSE = r"(?: of (?:a|an|the|this|its) (?:[a-z]+ )?[a-z]+)?"
# Two numbers at once ("9-inch by 12-inch", "legs of length 6 and 8"): groups a and b.
_BY = rf"(?P<a>{_NUMBER}){_UNIT} (?:by|x) (?P<b>{_NUMBER}){_UNIT}"
_AND = rf"{_OF}(?:lengths? )?(?P<a>{_NUMBER}){_UNIT},? and (?P<b>{_NUMBER}){_UNIT}"
_PAIRS = {name: re.compile(phrase.replace(" ", r"\s+")) for name, phrase in (
    ("by", _BY), ("legs", rf"legs{_WHOSE} {_AND}"),
    ("diagonals", rf"diagonals?(?: lengths)?{_WHOSE} {_AND}"),
    ("bases", rf"(?:bases|parallel sides){_WHOSE} {_AND}"))}
# Three side lengths: "sides of length 14, 48 and 50", "side lengths 5, 12, and 13"
_THREE_SIDES = re.compile(
    (rf"sides?(?: lengths?)?{_WHOSE} {_OF}(?:lengths? )?(?P<a>{_NUMBER}){_UNIT},? "
     rf"(?P<b>{_NUMBER}){_UNIT},? (?:and )?(?P<c>{_NUMBER}){_UNIT}").replace(" ", r"\s+"))
_ANGLE = rf"(?P<n>{_NUMBER})(?:\s*degrees?|\s*°)?"


def geometry_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The geometry steps the question asks for, from the numbers the problem states (none
    when its words do not determine one)."""
    marked, origin = marked_text(text, spans)
    asked = _asked(marked, origin, text, objective)
    special = _clock_angle(text, marked, asked) or _inscribed_circle(marked, asked, spans)
    if special is not None:
        return [(special,)]
    reading = _Reading(marked, spans)
    if not asked.strip() or _CHANGED.search(reading.marked):
        return []
    measure = _measure(asked)
    if measure is None:
        return []
    steps = _build(measure, asked, reading)
    if steps is None or not reading.all_used() or len(_units(reading.marked)) > 1:
        return []
    return [(steps,)]


_TIME = re.compile(r"(?<![\d.:])(\d{1,2})\s*:\s*(\d{2})(?![\d:])")


def _clock_angle(text: str, marked: str, asked: str) -> MathStep | None:
    """"the acute angle formed by the hour hand and the minute hand ... at 6:48": the lesser
    angle between the hands at the one time the problem states ("$9$:$40$" too), when the
    problem states no other number ("a 12-hour clock" aside) and asks for no other angle."""
    if not (re.search(r"\bhour hand\b", asked) and re.search(r"\bminute hand\b", asked)
            and re.search(r"\bangle\b", asked)) or re.search(
                r"\b(?:larger|largest|greater|obtuse|reflex|inches|long|distance|travel\w*|"
                r"after|before|later|earlier|minutes|hours|seconds?)\b", marked):
        return None
    plain = re.sub(r"\$|\b12-hour\b", " ", text)
    times = list(_TIME.finditer(plain))
    if len(times) != 1 or re.search(r"\d", plain[:times[0].start()] + plain[times[0].end():]):
        return None
    hours, minutes = times[0].groups()
    return MathStep(MathOp.ANGLE, str(int(hours)), operands=(str(int(minutes)),), form="clock")


# "AB = 5", "AB = AC = 7": a segment's length stated in math
_SEGMENT = re.compile(r"([A-Z]{2})\s*=\s*(?:([A-Z]{2})\s*=\s*)?(\d+(?:\.\d+)?)(?![\d.])")


def _inscribed_circle(marked: str, asked: str, spans: Sequence[LatexSpan]) -> MathStep | None:
    """"What is the radius of the circle inscribed in triangle $ABC$ if $AB = 5, AC=6,
    BC=7$?": the inradius (or its double) of the triangle whose three sides the math states,
    when it states nothing else (a fourth segment, an incenter's distance: no candidate)."""
    found = re.search(r"\b(radius|diameter) of the circle inscribed in (?:a |the )?triangle\b|"
                      r"\b(?:the )?(inradius)\b", asked)
    if found is None or re.search(r"\b(?:incenter|isosceles|tangent|area|perimeter|nearest|"
                                  r"decimal|percent)\b", marked):
        return None
    sides: dict[frozenset[str], str] = {}
    for span in spans:
        for match in _SEGMENT.finditer(span.latex):
            for segment in filter(None, match.group(1, 2)):
                if sides.setdefault(frozenset(segment), match[3]) != match[3]:
                    return None
    vertices = set().union(*sides) if sides else set()
    if len(sides) != 3 or len(vertices) != 3 or any(len(side) != 2 for side in sides):
        return None
    stated = sum(len(re.findall(r"\d+(?:\.\d+)?", span.latex)) for span in spans)
    if stated != sum(len(_SEGMENT.findall(span.latex)) for span in spans) or \
            re.search(r"\d", re.sub(r"@\d+@", " ", _EXPRESS.sub(" ", marked))):
        return None  # a number that is no side's
    form = "indiameter" if found[1] == "diameter" else "inradius"
    first, *rest = sides.values()
    return MathStep(MathOp.LENGTH, first, operands=tuple(rest), form=form)


class _Reading:
    """The marked text with its answer-format sentences blanked (`marked`: what is read), its
    number tokens, and the ones the dimensions read so far used."""

    def __init__(self, marked: str, spans: Sequence[LatexSpan]) -> None:
        self.marked = _EXPRESS.sub(lambda found: " " * len(found.group()), marked)
        self.spans = spans
        self.used: list[Span] = []
        self.numbers = [found.span() for found in re.finditer(_NUMBER, self.marked)
                        if self._is_number(found.group())]

    def _is_number(self, token: str) -> bool:
        if not token.startswith("@"):
            return True
        latex = self.spans[int(token.strip("@"))].latex
        return any(char.isdigit() for char in _UNIT_SPAN.sub("", latex))

    def all_used(self) -> bool:
        return all(any(start <= number[0] < end for start, end in self.used)
                   for number in self.numbers)

    def ref(self, token: str) -> Ref | None:
        """A number token as a program reference: a span by index when its LaTeX is a number
        as it stands, else the number it holds with units and degree marks taken off; None
        when it holds no stated number (an unknown, "$x+4$")."""
        if token in CARDINALS:
            return str(CARDINALS[token])
        if not token.startswith("@"):
            return token.replace(",", "")
        index = int(token.strip("@"))
        latex = self.spans[index].latex
        clean = _CLEAN.sub("", latex).replace("{,}", "")
        if not clean or not _NUMERIC_LATEX.fullmatch(clean) or not re.search(r"\d", clean):
            return None
        return index if clean == latex.replace(" ", "") else clean

    def one(self, name: str) -> Ref | None:
        """The single value the problem states for a dimension; None when it states none, or
        two different ones."""
        found = {}
        for pattern in _DIMENSIONS[name]:
            for match in pattern.finditer(self.marked):
                found.setdefault(match["n"], []).append(match.span("n"))
        return self._single(found)

    def pair(self, name: str) -> tuple[Ref, Ref] | None:
        """The one pair of numbers a pair phrase states ("6 and 8" of "legs of length 6 and
        8")."""
        matches = list(_PAIRS[name].finditer(self.marked))
        if len(matches) != 1:
            return None
        (match,) = matches
        refs = self.ref(match["a"]), self.ref(match["b"])
        if refs[0] is None or refs[1] is None:
            return None
        self.used.extend((match.span("a"), match.span("b")))
        return refs[0], refs[1]

    def three_sides(self) -> tuple[Ref, ...] | None:
        matches = list(_THREE_SIDES.finditer(self.marked))
        if len(matches) != 1:
            return None
        (match,) = matches
        refs = tuple(self.ref(match[group]) for group in "abc")
        if any(ref is None for ref in refs):
            return None
        self.used.extend(match.span(group) for group in "abc")
        return refs  # type: ignore[return-value]

    def points(self) -> list[tuple[str, str]]:
        """The points the problem states as coordinates, in order: "(4, -1)" in math or
        prose, "$A(1,2)$"; the origin where it is named."""
        found: list[tuple[int, tuple[str, str]]] = []
        for match in _POINT.finditer(self.marked):
            self.used.append(match.span())
            found.append((match.start(), (match[1], match[2])))
        for marker in re.finditer(r"@(\d+)@", self.marked):
            latex = self.spans[int(marker[1])].latex
            inside = list(_POINT.finditer(latex))
            if inside:
                self.used.append(marker.span())
                found.extend((marker.start() + order, (point[1], point[2]))
                             for order, point in enumerate(inside))
        origin = re.search(r"\bthe origin\b", self.marked)
        if origin is not None:
            found.append((origin.start(), ("0", "0")))
        return [point for _, point in sorted(found)]

    def _single(self, found: dict[str, list[Span]]) -> Ref | None:
        refs = {token: self.ref(token) for token in found}
        values = {ref for ref in refs.values()}
        if len(values) != 1 or None in values:
            return None
        self.used.extend(span for spans in found.values() for span in spans)
        return next(iter(values))


_UNIT_FAMILIES = {"inch": r"inch(?:es)?|in\.", "foot": r"feet|foot|ft", "yard": r"yards?|yd",
                  "meter": r"meters?|metres?", "centimeter": r"centimeters?|cm",
                  "millimeter": r"millimeters?|mm", "kilometer": r"kilometers?|km",
                  "mile": r"miles?"}


def _units(marked: str) -> set[str]:
    """The units of length the problem names: with two ("12-feet by 6-feet ... square yards")
    a plain formula would mix them."""
    return {unit for unit, words in _UNIT_FAMILIES.items()
            if re.search(rf"\b(?:{words})(?!\w)", marked)}


def _asked(marked: str, origin: list[int], text: str, clause: Span) -> str:
    """The marked text of the sentence that holds the objective clause (spaCy often cuts a
    question in two), its answer-format sentences left out."""
    ends = [match.end() for match in re.finditer(r"[.?!](?:\s|$)", text)]
    start = max((end for end in ends if end <= clause[0]), default=0)
    end = min((end for end in ends if end >= clause[1]), default=len(text))
    sentence = "".join(char for char, position in zip(marked, origin, strict=True)
                       if start <= position < end)
    return _EXPRESS.sub(" ", sentence)


_MEASURES = (
    ("surface", re.compile(r"\b(?:surface area|lateral (?:surface )?area|curved surface)\b")),
    ("volume", re.compile(r"\bvolume\b|\bcubic (?:units|inches|feet|yards|meters|centimeters)\b")),
    ("sides", re.compile(r"\bhow many sides\b|\bnumber of sides\b")),
    ("interior_sum", re.compile(r"\bsum of (?:the )?(?:(?:degree )?measures of (?:the |its )?)?"
                                r"(?:interior )?angles\b")),
    ("interior", re.compile(r"\binterior angle\b")),
    ("exterior", re.compile(r"\bexterior angle\b")),
    ("area", re.compile(r"\barea\b|\bsquare (?:units|inches|feet|yards|meters|centimeters|"
                        r"miles|kilometers)\b")),
    ("circumference", re.compile(r"\bcircumference\b")),
    ("perimeter", re.compile(r"\bperimeter\b")),
    ("hypotenuse", re.compile(r"\bhypotenuse\b")),
    ("leg", re.compile(r"\b(?:other|remaining|second) leg\b|\blength of the leg\b")),
    ("diagonal", re.compile(r"\bdiagonal\b")),
    ("distance", re.compile(r"\bdistance\b|\blength of (?:the )?(?:line )?segment\b|"
                            r"\bhow (?:far|long) is (?:the )?segment\b")),
)


def _measure(asked: str) -> str | None:
    return next((name for name, pattern in _MEASURES if pattern.search(asked)), None)


def _figure(marked: str, asked: str) -> str | None:
    """The one figure the problem names: its words' figures, less those that are parts of
    another one named ("a circular base" of a cylinder)."""
    named = [figure for figure in _FIGURES
             if re.search(rf"\b(?:{figure.words})\b", marked)]
    parts = {part for figure in named for part in figure.parts}
    names = {figure.name for figure in named} - parts
    if "sphere" in names and "hemisphere" in names:
        names.discard("sphere")
    if "circle" in names and re.search(r"\b(?:deep|depth|tall|high|height)\b", marked):
        names = (names - {"circle"}) | {"cylinder"}  # "a round pool 4 feet deep"
    return next(iter(names)) if len(names) == 1 else None


def _build(measure: str, asked: str, reading: _Reading) -> MathStep | None:
    """The step for the measure of the problem's figure from its stated dimensions."""
    marked = reading.marked
    if measure == "distance":
        points = reading.points()
        if len(points) != 2 or re.search(r"\b(?:circles?|centers?|curves?|graphs?)\b|"
                                         r"\blines?\b(?!\s+segment)", marked):
            return None
        return _step(MathOp.LENGTH, "distance", [*points[0], *points[1]])
    figure = _figure(marked, asked)
    if figure is None:
        return None
    if measure in ("sides", "interior_sum", "interior", "exterior"):
        return _polygon_angles(measure, marked, reading)
    if measure == "circumference":
        measure = "perimeter" if figure in ("circle", "cylinder", "cone") else ""
    builders = {"area": _area, "perimeter": _perimeter, "volume": _volume,
                "surface": _surface, "hypotenuse": _length, "leg": _length,
                "diagonal": _length}
    build = builders.get(measure)
    return None if build is None else build(measure, figure, asked, reading)


def _step(op: MathOp, form: str, refs: Sequence[Ref | None]) -> MathStep | None:
    if not refs or any(ref is None for ref in refs):
        return None
    first, *rest = refs
    return MathStep(op, first, operands=tuple(rest), form=form)  # type: ignore[arg-type]


def _radius(reading: _Reading) -> Ref | None:
    radius = reading.one("radius")
    if radius is not None:
        return None if reading.one("diameter") is not None else radius
    diameter = reading.one("diameter")
    return None if diameter is None else f"\\frac{{{_latex(diameter, reading)}}}{{2}}"


def _latex(ref: Ref, reading: _Reading) -> str:
    return reading.spans[ref].latex if isinstance(ref, int) else ref


def _sides(reading: _Reading) -> tuple[Ref, Ref] | None:
    """A rectangle's or a box's base: "9-inch by 12-inch", or its length and width."""
    pair = reading.pair("by")
    if pair is not None:
        return pair
    length, width = reading.one("length"), reading.one("width")
    return None if length is None or width is None else (length, width)


def _area(measure: str, figure: str, asked: str, reading: _Reading) -> MathStep | None:
    marked = reading.marked
    if figure == "circle":
        return _step(MathOp.AREA, "circle", [_radius(reading)])
    if figure == "square":
        return _step(MathOp.AREA, "square", [reading.one("side")])
    if figure == "rectangle":
        sides = _sides(reading)
        return None if sides is None else _step(MathOp.AREA, "rectangle", sides)
    if figure == "rhombus":
        diagonals = reading.pair("diagonals")
        return None if diagonals is None else _step(MathOp.AREA, "rhombus", diagonals)
    if figure == "trapezoid":
        bases = reading.pair("bases")
        height = reading.one("height")
        return None if bases is None else _step(MathOp.AREA, "trapezoid", [*bases, height])
    if figure == "parallelogram":
        return _step(MathOp.AREA, "parallelogram", [reading.one("base"), reading.one("height")])
    if figure in ("triangle", "polygon"):
        if re.search(r"\bvertices\b|\bpoints\b", marked):
            points = reading.points()
            if len(points) < 3 or figure == "triangle" and len(points) != 3:
                return None
            return _step(MathOp.AREA, "polygon", [number for point in points for number in point])
        if figure == "polygon":
            return None
        if re.search(r"\bequilateral\b", marked):
            return _step(MathOp.AREA, "equilateral", [reading.one("side")])
        legs = reading.pair("legs") if re.search(r"\bright\b", marked) else None
        if legs is not None:
            return _step(MathOp.AREA, "triangle", legs)
        base, height = reading.one("base"), reading.one("height")
        if base is not None and height is not None:
            return _step(MathOp.AREA, "triangle", [base, height])
        sides = reading.three_sides()
        return None if sides is None else _step(MathOp.AREA, "triangle_sides", sides)
    return None


def _perimeter(measure: str, figure: str, asked: str, reading: _Reading) -> MathStep | None:
    if figure in ("circle", "cylinder", "cone"):
        return _step(MathOp.PERIMETER, "circle", [_radius(reading)])
    if figure == "square":
        return _step(MathOp.PERIMETER, "square", [reading.one("side")])
    if figure == "rectangle":
        sides = _sides(reading)
        return None if sides is None else _step(MathOp.PERIMETER, "rectangle", sides)
    if figure == "rhombus":
        diagonals = reading.pair("diagonals")
        return None if diagonals is None else _step(MathOp.PERIMETER, "rhombus", diagonals)
    if figure in ("triangle", "polygon") and re.search(r"\b(?:vertices|points)\b",
                                                        reading.marked):
        points = reading.points()
        if len(points) < 3:
            return None
        return _step(MathOp.PERIMETER, "polygon",
                     [number for point in points for number in point])
    if figure == "triangle":
        sides = reading.three_sides()
        return None if sides is None else _step(MathOp.PERIMETER, "sides", sides)
    return None


def _volume(measure: str, figure: str, asked: str, reading: _Reading) -> MathStep | None:
    if figure == "cube":
        return _step(MathOp.VOLUME, "cube", [reading.one("side")])
    if figure == "box":
        sides = _box(reading)
        return None if sides is None else _step(MathOp.VOLUME, "box", sides)
    if figure in ("cylinder", "cone"):
        return _step(MathOp.VOLUME, figure, [_radius(reading), reading.one("height")])
    if figure in ("sphere", "hemisphere"):
        return _step(MathOp.VOLUME, figure, [_radius(reading)])
    return None


def _box(reading: _Reading) -> tuple[Ref, ...] | None:
    """A box's three edges: "3 by 4 by 5", or its length, width and height."""
    three = list(re.finditer(
        rf"(?P<a>{_NUMBER}){_UNIT}\s+(?:by|x)\s+(?P<b>{_NUMBER}){_UNIT}\s+(?:by|x)\s+"
        rf"(?P<c>{_NUMBER}){_UNIT}", reading.marked))
    if len(three) == 1:
        refs = tuple(reading.ref(three[0][group]) for group in "abc")
        if any(ref is None for ref in refs):
            return None
        reading.used.extend(three[0].span(group) for group in "abc")
        return refs
    base = _sides(reading)
    height = reading.one("height")
    return None if base is None or height is None else (*base, height)


def _surface(measure: str, figure: str, asked: str, reading: _Reading) -> MathStep | None:
    if figure == "cube":
        return _step(MathOp.SURFACE, "cube", [reading.one("side")])
    if figure == "box":
        sides = _box(reading)
        return None if sides is None else _step(MathOp.SURFACE, "box", sides)
    if figure == "cylinder":
        lateral = re.search(r"\b(?:lateral|curved)\b", asked)
        return _step(MathOp.SURFACE, "cylinder_lateral" if lateral else "cylinder",
                     [_radius(reading), reading.one("height")])
    if figure in ("sphere", "hemisphere"):
        return _step(MathOp.SURFACE, figure, [_radius(reading)])
    return None


def _length(measure: str, figure: str, asked: str, reading: _Reading) -> MathStep | None:
    if measure == "hypotenuse" and figure == "triangle":
        legs = reading.pair("legs")
        return None if legs is None else _step(MathOp.LENGTH, "hypotenuse", legs)
    if measure == "leg" and figure == "triangle":
        return _step(MathOp.LENGTH, "leg", [reading.one("hypotenuse"), reading.one("leg")])
    if measure == "diagonal" and figure in ("rectangle", "box"):
        sides = _sides(reading) if figure == "rectangle" else _box(reading)
        return None if sides is None else _step(MathOp.LENGTH, "diagonal", sides)
    if measure == "diagonal" and figure in ("square", "cube"):
        side = reading.one("side")
        return _step(MathOp.LENGTH, "diagonal", [side] * (2 if figure == "square" else 3))
    return None


def _polygon_angles(measure: str, marked: str, reading: _Reading) -> MathStep | None:
    """A regular polygon's angles from its sides ("a regular octagon", "a polygon with 12
    sides"), or its sides from one angle ("Each interior angle ... measures $140^\\circ$")."""
    if measure == "sides":
        for kind in ("interior", "exterior"):
            found = list(re.finditer(rf"\b{kind} angles?\b[^.?]*?{_ANGLE}", marked))
            if len(found) == 1 and not re.search(
                    r"interior" if kind == "exterior" else r"exterior", marked):
                reading.used.append(found[0].span("n"))
                return _step(MathOp.POLYGON, f"sides_from_{kind}", [reading.ref(found[0]["n"])])
        return None
    if not re.search(r"\bregular\b|\bequilateral\b|\bsquare\b", marked) and \
            measure != "interior_sum":
        return None
    named = [found.group(1) for found in re.finditer(
        r"\b(triangle|square|quadrilateral|pentagon|hexagon|heptagon|octagon|nonagon|decagon|"
        r"dodecagon)s?\b", marked)]
    stated = list(re.finditer(rf"(?P<n>{_NUMBER}) sides\b|(?P<m>{_NUMBER})-(?:sided|gon)\b",
                              marked))
    if len(set(named)) == 1 and not stated:
        sides: Ref | None = str(_SIDES_OF[named[0]])
    elif not named and len(stated) == 1:
        token = stated[0]["n"] or stated[0]["m"]
        reading.used.append(stated[0].span())
        sides = reading.ref(token)
    else:
        return None
    return _step(MathOp.POLYGON, measure, [sides])
