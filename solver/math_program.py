"""Programs over the LaTeX math of a MATH problem: SOLVE, EVALUATE and SIMPLIFY steps, run by sympy
in the time-limited worker.

A problem's math is its LaTeX spans ("$2x+3=11$", "\\[f(x)=3x+2\\]"); `expressions[i]` is the
text of the i-th (specialists/labels_math.py finds them). A step refers to an expression by its
index, or carries a little LaTeX of its own: the unknown "x" of an objective that names none, a
constraint "x > 0" read from the words "x is positive". Steps, in order:

  SOLVE     solve the `given` equations for all their unknowns (function definitions such as
            f(x)=3x+2 are substituted first, not solved), keep the solutions that satisfy the
            `given` constraints, and give the value of `target`: a solved symbol or an expression
            in the solved symbols ("Find $xy$"). When the equations leave some unknowns free, the
            target is solved for as a new unknown of its own ("If $2x+4y=10$, find $x+2y$": 5).
            `pick` says which value when several remain: unique (there must be one), all (the
            list, "2, 3"), sum, product, max, min, difference (max - min).
  EVALUATE  the exact value of `target` after substituting the `given` definitions (f(x)=...,
            x=3) and the symbols earlier steps solved.
  SIMPLIFY  `target` after the same substitutions, simplified, expanded or factored (`form`).

Number and polynomial steps (solver/math_numbers.py and math_structure.py propose them from the
objective's words). Each reads `target` and `operands` as EVALUATE reads its target, unless said
otherwise:
  REMAINDER      `target` modulo `operands[0]`: of an integer the least nonnegative residue
                 ("the remainder when $2^{10}$ is divided by $7$": 2; a units digit is the
                 remainder by 10), of a fraction p/q the residue of p times q's inverse
                 ("$3^{-1} \\pmod{7}$": 5); between polynomials in one variable the polynomial
                 remainder ("$x^3+2$ divided by $x-1$": 3).
  GCD, LCM       of `target` and the integers of `operands`.
  DIVISORS       the positive divisors of the integer `target`, combined by `pick` ("how many
                 divisors does $24$ have": count, 8).
  PRIME_FACTORS  the distinct primes dividing `target`, combined by `pick` (max: the largest).
  DIGITS         the digits of the integer `target` in base `operands[0]`, every one (repeats
                 count), combined by `pick`: sum, product, count, max, min, all ("the sum of the
                 digits of $2^{10}$": 1+0+2+4 = 7).
  BASE           the integer `target` written in base `operands[0]` ("1200_7"; in base 10 the
                 plain integer). Numerals with a base subscript ("555_6") are read at their
                 value wherever they appear (latex2sympy would drop the subscript).
  INTEGERS       the integers `target` (a symbol) that satisfy the `given` constraints and
                 equations, combined by `pick` ("the largest integer $x$ with $13x + 8 < 35$":
                 max, 2); every pick but max and min needs them bounded.
  VIETA          `target`, symmetric in the roots `operands[1:]` of the polynomial
                 `operands[0]` (an equation "x^3 + 7x^2 - 11x - 2 = 0", a definition, or an
                 expression), from its coefficients alone ("Let $a,$ $b,$ $c$ be the roots of
                 ... Find $a + b + c$": -7); the `given` definitions are substituted first.
`pick` of these and of SOLVE may also be count: how many distinct values there are.

Counting and probability steps (solver/math_counting.py proposes them from the objective's
words). Every number they read is an integer but a TRIALS chance:
  CHOOSE         the ways to choose `operands[0]` of `target` things, times the ways to choose
                 `operands[2]` of `operands[1]` and so on ("a subcommittee with 3 of the 8
                 Republicans and 2 of the 6 Democrats": C(8,3) C(6,2) = 840).
  PERMUTE        the same pairs, in order: `operands[0]` of `target` things lined up, n!/(n-k)!
                 ("a president and a vice-president from 20 members": 380; n of n is n!).
  ARRANGE        the orders of `target` things of which `operands` are the sizes of the groups
                 of alike ones, n!/(m1! m2! ...) ("the letters of MISSISSIPPI": 11 with 4, 4
                 and 2 alike, 34650).
  DISTRIBUTE     the ways to put `target` objects into `operands[0]` boxes, `operands[1]` 1
                 when the objects are alike (else 0), `operands[2]` 1 when the boxes are: k^n,
                 C(n+k-1, k-1), the set partitions of n into at most k blocks, or the integer
                 partitions of n into at most k parts.
  TRIALS         the probability that `target` independent trials of chance `operands[2]`
                 succeed between `operands[0]` and `operands[1]` times, both included ("a fair
                 coin flipped 7 times, at least 5 heads": 29/128).
  DRAW           the probability that `operands[0]` things drawn at random from `target` hold
                 exactly `operands[2]` of a group of `operands[1]` (and `operands[4]` of a group
                 of `operands[3]` ...), the rest from the others: a ratio of CHOOSE counts.

Geometry steps (solver/math_geometry.py proposes them from the question's words): a measure of
a named figure from its stated dimensions. `form` names the figure and so the formula
(GEOMETRY_FORMS); `target` is its first number, `operands` the rest, in the order the formula
lists them. Every dimension must be positive (a coordinate may be any real number):
  AREA           circle (r), square (side), rectangle (length, width), triangle (base, height),
                 triangle_sides (three sides, Heron), equilateral (side), trapezoid (the two
                 bases, height), rhombus (the two diagonals), parallelogram (base, height),
                 polygon (x1, y1, x2, y2, ...: the vertices in order, the shoelace formula).
  PERIMETER      circle (r: the circumference), square, rectangle, rhombus (diagonals), regular
                 (sides, side length), sides (every side: their sum), polygon (vertices).
  VOLUME         cube (edge), box (length, width, height), cylinder (r, h), cone (r, h), sphere
                 (r), hemisphere (r).
  SURFACE        cube, box, cylinder (total), cylinder_lateral (the curved face), sphere,
                 hemisphere (curved face and base).
  LENGTH         hypotenuse (two legs), leg (hypotenuse, the other leg), distance (x1, y1, x2,
                 y2, or three coordinates a point), diagonal (a rectangle's or box's sides),
                 inradius and indiameter (of the circle inscribed in a triangle of three sides).
  POLYGON        a regular polygon's angles in degrees: interior_sum, interior, exterior (of n
                 sides), and its sides from one angle: sides_from_interior, sides_from_exterior
                 (an angle that gives no whole number of sides is refused).
  ANGLE          clock (hours, minutes): the lesser angle between a clock's hands, in degrees.
("How many cubic feet are in the volume of a round swimming pool which is 16 feet in diameter
and 4 feet deep": VOLUME cylinder of 16/2 and 4, 256 pi.)

Optima (solver/math_extrema.py proposes them from the question's words):
  EXTREMUM       the largest or smallest value (`pick` max, min) of `target` over the real
                 numbers its `given` constraints allow (definitions substituted; no equations),
                 or (`form` argument, else value) the one point where it is reached. One
                 variable: the critical points and closed ends of the interval on which it is
                 defined and continuous, checked against its limits at the open ends (an
                 optimum not reached is refused as unbounded); several: a quadratic polynomial
                 with a definite Hessian ("the minimum value of $x^2+y^2-6x+4y+18$": 5).

Points and slopes (solver/math_coordinates.py proposes them from the question's words):
  COORDINATE     `form` COORDINATE_FORMS: midpoint (x1, y1, x2, y2, or three coordinates each),
                 endpoint (the midpoint's coordinates, then one endpoint's: the other endpoint),
                 slope and perpendicular_slope (through two points), line_slope and
                 line_perpendicular_slope (of `target`, a line's equation in x and y). A point
                 is answered as a point (pick all) or the sum or product of its coordinates.

Integers of a range (solver/math_sieve.py proposes them from the question's words):
  SIEVE          the integers from `target` to `operands[0]`, both included, that meet every
                 condition `form` lists, comma-separated (SIEVE_CONDITIONS: multiple,
                 not_multiple, residue, coprime, odd, even, square, cube, prime, units_digit,
                 has_digit, no_digit, odd_digits, even_digits, distinct_digits, digit_sum,
                 palindrome; "integer": no test), their parameters the other operands in that
                 order; combined by `pick` (count, sum, max, min, all). min may run up to
                 "\\infty", max down from "-\\infty" ("How many three-digit numbers are multiples
                 of neither 5 nor 7?": 100 to 999, not_multiple 5, not_multiple 7, count: 618).
  DICE           the probability that `target` fair dice of `operands[0]` faces roll a sum
                 from `operands[1]` to `operands[2]` meeting the SIEVE conditions `form` lists
                 (their parameters the other operands): "Two standard 6-sided dice are tossed.
                 What is the probability that the sum ... is a prime number?": 5/12
                 (solver/math_dice.py).

A step whose target is a bare symbol binds that symbol to its value for the steps after it. The
answer is the last step's value as LaTeX (`sympy.latex`; a complex number as "8+4i", which
math-verify reads as one), the form `math_equivalent` compares.

    program = MathProgram((MathStep(MathOp.SOLVE, target=0, given=(1,)),))
    execute_math_program(program, ["x", "2x + 3 = 11"], timeout_s=2.0)   # -> "4"

Conventions MATH text follows: `i` is the imaginary unit; decimals are exact ("3.7" is 37/10);
x^\\circ is x*pi/180 (latex2sympy drops the degree sign, and sympy's trigonometry is in radians);
when several values remain and some are real, the real ones are kept (a problem about complex
numbers says so, and its answers then are single values). An elided series ("1 + 2 + \\dots +
49", "1 - \\frac{2}{7} + \\frac{4}{49} - \\dots") stands for its value: solver/math_series.py
cuts it into its written terms, and `_series_value` sums or multiplies the terms they imply.

Safety. LaTeX reaches sympy only through `parse_latex`; all sympy work of a call runs in one
`with_time_limit` call, and only strings come back: latex2sympy leaves powers unevaluated, and
unpickling `9^{9^{9^9}}` in the caller would evaluate it there, outside any limit. Inside the
worker, numbers whose size bound passes MAX_VALUE_BITS are refused before sympy evaluates them.

Two deadlines. Inside the worker a timer signal stops the sympy work at `timeout_s` (sympy is
Python, so a signal interrupts it), and the call ends as ExecutionError("timeout") with the worker
alive; `with_time_limit`, HARD_MARGIN_S later, kills the worker only for what a signal cannot
interrupt (one long C call) or may not (the LaTeX parser, see `_parsed`). Measured on MATH
train, a killed worker costs ~1 s to restart plus its warm parser caches, which was most of the
labelling time of the problems that time out.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sympy
from sympy.core.function import AppliedUndef
from sympy.functions.combinatorial.numbers import stirling
from sympy.polys.polyfuncs import symmetrize

from mycelium.solver.executor import ExecutionError, with_time_limit
from mycelium.solver.latex import check_value_size as _check_size
from mycelium.solver.latex import parse_latex
from mycelium.solver.math_series import MAX_TERMS as MAX_SERIES_TERMS
from mycelium.solver.math_series import PLACEHOLDER, STEP, Series, read_series

# 2**17 bits is ~40,000 digits: past any MATH answer (2^{2005} mod 7 needs 2,005 bits), small
# enough that sympy's arithmetic on it is instant.
# An answer longer than this is not a MATH answer, and math-verify would spend seconds on it.
MAX_ANSWER_CHARS = 400
DEFAULT_TIMEOUT_S = 2.0
HARD_MARGIN_S = 1.0  # past the soft deadline, for what a signal cannot interrupt
# "^\circ", "^{\circ}": a product with pi/180 binds into a trigonometric argument the way the
# degree sign does ("\sin 240 \cdot \frac{\pi}{180}" parses as sin(240*pi/180)).
_DEGREES = re.compile(r"\^\s*(?:\\circ|\{\s*\\circ\s*\})")
PICKS = ("unique", "all", "sum", "product", "max", "min", "difference", "count")
FORMS = ("simplify", "expand", "factor")

Ref = int | str  # an index into the problem's expressions, or LaTeX the program writes itself


# A numeral with a base subscript, "555_6", "A5_{12}", "1011_2": the digits then the base. It
# must hold a decimal digit (so "A_1", a point, is no numeral) and follow no letter or digit
# (so neither the "x_1" of a sequence nor the "2_3" inside "x12_3" is one); a numeral whose
# digits the base does not have is left alone.
_BASE_NUMERAL = re.compile(r"(?<![A-Za-z0-9\\_^])(?=[0-9A-Z]*[0-9])([0-9A-Z]+)_\{?(\d{1,2})\}?")
# Integers factored (DIVISORS, PRIME_FACTORS) up to this size: past it sympy's factorint may
# spend minutes, and no MATH problem asks for the divisors of a larger number.
MAX_FACTOR_BITS = 64
# Things a counting step counts over, at most: 10,000! has 35,660 digits, under MAX_VALUE_BITS,
# and no MATH count is over a larger set.
MAX_COUNT_ITEMS = 10_000


class MathOp(StrEnum):
    SOLVE = "SOLVE"
    EVALUATE = "EVALUATE"
    SIMPLIFY = "SIMPLIFY"
    REMAINDER = "REMAINDER"
    GCD = "GCD"
    LCM = "LCM"
    DIVISORS = "DIVISORS"
    PRIME_FACTORS = "PRIME_FACTORS"
    DIGITS = "DIGITS"
    BASE = "BASE"
    INTEGERS = "INTEGERS"
    VIETA = "VIETA"
    CHOOSE = "CHOOSE"
    PERMUTE = "PERMUTE"
    ARRANGE = "ARRANGE"
    DISTRIBUTE = "DISTRIBUTE"
    TRIALS = "TRIALS"
    DRAW = "DRAW"
    AREA = "AREA"
    PERIMETER = "PERIMETER"
    VOLUME = "VOLUME"
    SURFACE = "SURFACE"
    LENGTH = "LENGTH"
    POLYGON = "POLYGON"
    ANGLE = "ANGLE"
    SIEVE = "SIEVE"
    EXTREMUM = "EXTREMUM"
    COORDINATE = "COORDINATE"
    DICE = "DICE"


@dataclass(frozen=True)
class GeometryForm:
    """One formula of a geometry step: how many numbers it takes (`counts`; None: the vertices
    of a polygon, coordinate pairs of three points or more) and its exact value over them."""

    counts: tuple[int, ...] | None
    formula: Callable[..., sympy.Expr]
    # numbers that may be zero or negative (coordinates); otherwise each must be positive
    signed: bool = False

    def takes(self, count: int) -> bool:
        if self.counts is None:
            return count >= 6 and count % 2 == 0
        return count in self.counts


def _heron(a: sympy.Expr, b: sympy.Expr, c: sympy.Expr) -> sympy.Expr:
    """A triangle's area from its sides (Heron's formula); three lengths that make no triangle
    are refused."""
    if not (a + b > c and a + c > b and b + c > a):
        raise ExecutionError("not_a_measure", f"no triangle has sides {a}, {b}, {c}")
    half = (a + b + c) / 2
    return sympy.sqrt(half * (half - a) * (half - b) * (half - c))


def _vertices(numbers: Sequence[sympy.Expr]) -> list[tuple[sympy.Expr, sympy.Expr]]:
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _shoelace(*numbers: sympy.Expr) -> sympy.Expr:
    """The area inside the polygon whose vertices are listed in order (the shoelace formula)."""
    points = _vertices(numbers)
    twice = sum(x1 * y2 - x2 * y1
                for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))
    return abs(twice) / 2


def _around(*numbers: sympy.Expr) -> sympy.Expr:
    """The perimeter of the polygon whose vertices are listed in order."""
    points = _vertices(numbers)
    return sum(_distance(*first, *second)
               for first, second in zip(points, points[1:] + points[:1], strict=True))


def _distance(*numbers: sympy.Expr) -> sympy.Expr:
    """Between two points given by their coordinates, the first point's then the second's."""
    half = len(numbers) // 2
    return sympy.sqrt(sum((a - b) ** 2 for a, b in zip(numbers[:half], numbers[half:],
                                                      strict=True)))


def _leg(hypotenuse: sympy.Expr, leg: sympy.Expr) -> sympy.Expr:
    if not hypotenuse > leg:
        raise ExecutionError("not_a_measure", f"a leg {leg} of a hypotenuse {hypotenuse}")
    return sympy.sqrt(hypotenuse ** 2 - leg ** 2)


def _sides(angle: sympy.Expr, exterior: bool) -> sympy.Expr:
    """A regular polygon's number of sides from one interior or exterior angle (degrees)."""
    outside = angle if exterior else 180 - angle
    sides = 360 / outside if outside > 0 else sympy.nan
    if not (isinstance(sides, sympy.Integer) and sides >= 3):
        raise ExecutionError("not_a_measure", f"no regular polygon has a {angle} degree angle")
    return sides


def _regular(formula: Callable[[sympy.Integer], sympy.Expr]
             ) -> Callable[[sympy.Expr], sympy.Expr]:
    """A regular polygon's angle formula, for a whole number of sides (3 or more) only."""
    def angle(sides: sympy.Expr) -> sympy.Expr:
        if not (isinstance(sides, sympy.Integer) and sides >= 3):
            raise ExecutionError("not_a_measure", f"a polygon of {sides} sides")
        return formula(sides)
    return angle


def _clock(hours: sympy.Expr, minutes: sympy.Expr) -> sympy.Expr:
    """The lesser angle (degrees) between a clock's hands at hours:minutes: the hour hand
    turns 30 degrees an hour and half a degree a minute, the minute hand 6 degrees a minute."""
    if not (isinstance(hours, sympy.Integer) and isinstance(minutes, sympy.Integer)
            and 1 <= hours <= 24 and 0 <= minutes < 60):
        raise ExecutionError("not_a_measure", f"no time {hours}:{minutes}")
    angle = abs(30 * (hours % 12) - sympy.Rational(11, 2) * minutes) % 360
    return sympy.Min(angle, 360 - angle)


def _inradius(a: sympy.Expr, b: sympy.Expr, c: sympy.Expr) -> sympy.Expr:
    """The radius of a triangle's inscribed circle: its area over half its perimeter."""
    return _heron(a, b, c) / ((a + b + c) / 2)


_PI = sympy.pi
# op -> figure -> formula: the geometry steps the module docstring lists
GEOMETRY_FORMS: dict[MathOp, dict[str, GeometryForm]] = {
    MathOp.AREA: {
        "circle": GeometryForm((1,), lambda r: _PI * r ** 2),
        "square": GeometryForm((1,), lambda side: side ** 2),
        "rectangle": GeometryForm((2,), lambda length, width: length * width),
        "triangle": GeometryForm((2,), lambda base, height: base * height / 2),
        "triangle_sides": GeometryForm((3,), _heron),
        "equilateral": GeometryForm((1,), lambda side: sympy.sqrt(3) / 4 * side ** 2),
        "trapezoid": GeometryForm((3,), lambda a, b, height: (a + b) * height / 2),
        "rhombus": GeometryForm((2,), lambda p, q: p * q / 2),
        "parallelogram": GeometryForm((2,), lambda base, height: base * height),
        "polygon": GeometryForm(None, _shoelace, signed=True)},
    MathOp.PERIMETER: {
        "circle": GeometryForm((1,), lambda r: 2 * _PI * r),
        "square": GeometryForm((1,), lambda side: 4 * side),
        "rectangle": GeometryForm((2,), lambda length, width: 2 * (length + width)),
        "rhombus": GeometryForm((2,), lambda p, q: 2 * sympy.sqrt(p ** 2 + q ** 2)),
        "regular": GeometryForm((2,), lambda sides, side: sides * side),
        "sides": GeometryForm((3, 4, 5, 6), lambda *sides: sympy.Add(*sides)),
        "polygon": GeometryForm(None, _around, signed=True)},
    MathOp.VOLUME: {
        "cube": GeometryForm((1,), lambda edge: edge ** 3),
        "box": GeometryForm((3,), lambda length, width, height: length * width * height),
        "cylinder": GeometryForm((2,), lambda r, height: _PI * r ** 2 * height),
        "cone": GeometryForm((2,), lambda r, height: _PI * r ** 2 * height / 3),
        "sphere": GeometryForm((1,), lambda r: sympy.Rational(4, 3) * _PI * r ** 3),
        "hemisphere": GeometryForm((1,), lambda r: sympy.Rational(2, 3) * _PI * r ** 3)},
    MathOp.SURFACE: {
        "cube": GeometryForm((1,), lambda edge: 6 * edge ** 2),
        "box": GeometryForm((3,), lambda length, width, height:
                            2 * (length * width + length * height + width * height)),
        "cylinder": GeometryForm((2,), lambda r, height:
                                 2 * _PI * r ** 2 + 2 * _PI * r * height),
        "cylinder_lateral": GeometryForm((2,), lambda r, height: 2 * _PI * r * height),
        "sphere": GeometryForm((1,), lambda r: 4 * _PI * r ** 2),
        "hemisphere": GeometryForm((1,), lambda r: 3 * _PI * r ** 2)},
    MathOp.LENGTH: {
        "hypotenuse": GeometryForm((2,), lambda a, b: sympy.sqrt(a ** 2 + b ** 2)),
        "leg": GeometryForm((2,), _leg),
        "distance": GeometryForm((4, 6), _distance, signed=True),
        "inradius": GeometryForm((3,), _inradius),
        "indiameter": GeometryForm((3,), lambda a, b, c: 2 * _inradius(a, b, c)),
        "diagonal": GeometryForm((2, 3), lambda *sides: sympy.sqrt(
            sympy.Add(*(side ** 2 for side in sides))))},
    MathOp.POLYGON: {
        "interior_sum": GeometryForm((1,), _regular(lambda sides: 180 * (sides - 2))),
        "interior": GeometryForm((1,), _regular(lambda sides: 180 * (sides - 2) / sides)),
        "exterior": GeometryForm((1,), _regular(lambda sides: 360 / sides)),
        "sides_from_interior": GeometryForm((1,), lambda angle: _sides(angle, exterior=False)),
        "sides_from_exterior": GeometryForm((1,), lambda angle: _sides(angle, exterior=True))},
    MathOp.ANGLE: {
        "clock": GeometryForm((2,), _clock, signed=True)},
}



def _decimal_digits(number: int) -> str:
    return str(abs(number))


def _is_power(number: int, exponent: int) -> bool:
    if number < 0:
        return exponent % 2 == 1 and _is_power(-number, exponent)
    root = sympy.integer_nthroot(number, exponent)
    return bool(root[1])


@dataclass(frozen=True)
class SieveCondition:
    """One test a SIEVE step puts each integer to: how many integer parameters it reads from
    the step's operands (in `form` order) and the test itself."""

    arity: int
    holds: Callable[..., bool]


# The conditions a SIEVE step's `form` may list, comma-separated ("multiple,not_multiple").
SIEVE_CONDITIONS: dict[str, SieveCondition] = {
    "integer": SieveCondition(0, lambda n: True),  # every integer of the range
    "multiple": SieveCondition(1, lambda n, k: k != 0 and n % k == 0),
    "not_multiple": SieveCondition(1, lambda n, k: k != 0 and n % k != 0),
    "residue": SieveCondition(2, lambda n, r, m: m > 0 and n % m == r % m),
    "coprime": SieveCondition(1, lambda n, k: math.gcd(n, k) == 1),
    "odd": SieveCondition(0, lambda n: n % 2 == 1),
    "even": SieveCondition(0, lambda n: n % 2 == 0),
    "square": SieveCondition(0, lambda n: n >= 0 and _is_power(n, 2)),
    "cube": SieveCondition(0, lambda n: _is_power(n, 3)),
    "prime": SieveCondition(0, lambda n: bool(sympy.isprime(n))),
    "units_digit": SieveCondition(1, lambda n, d: abs(n) % 10 == d),
    "has_digit": SieveCondition(1, lambda n, d: 0 <= d <= 9 and str(d) in _decimal_digits(n)),
    "no_digit": SieveCondition(1, lambda n, d: 0 <= d <= 9 and str(d) not in _decimal_digits(n)),
    "odd_digits": SieveCondition(0, lambda n: all(int(d) % 2 for d in _decimal_digits(n))),
    "even_digits": SieveCondition(0, lambda n: not any(int(d) % 2 for d in _decimal_digits(n))),
    "distinct_digits": SieveCondition(0, lambda n: len(set(_decimal_digits(n)))
                                      == len(_decimal_digits(n))),
    "digit_sum": SieveCondition(1, lambda n, total: sum(map(int, _decimal_digits(n))) == total),
    "palindrome": SieveCondition(0, lambda n: _decimal_digits(n) == _decimal_digits(n)[::-1]),
}
SIEVE_PICKS = ("count", "sum", "max", "min", "all")
EXTREMUM_FORMS = ("value", "argument")
# COORDINATE forms -> how many numbers (target and operands) each takes
COORDINATE_FORMS = {"midpoint": (4, 6), "endpoint": (4, 6), "slope": (4,),
                    "perpendicular_slope": (4,), "line_slope": (1,),
                    "line_perpendicular_slope": (1,)}  # the optimum itself, or where it is reached
# Critical points an EXTREMUM step compares, at most; digits its comparisons are evaluated to.
MAX_CRITICAL_POINTS = 20
_COMPARE_DIGITS = 30
# Integers a SIEVE step tests, at most: a MATH range ("positive integers less than 10,000",
# the sum of the three-digit integers) is far smaller, and a plain loop over this many takes
# well under a second.
MAX_SIEVE_INTEGERS = 200_000
MAX_DICE = 5  # dice a DICE step rolls, at most (6^5 rolls enumerated at once)


def sieve_conditions(form: str) -> list[tuple[str, SieveCondition]]:
    """The conditions a SIEVE `form` lists; ValueError for a name not in SIEVE_CONDITIONS."""
    names = form.split(",")
    unknown = [name for name in names if name not in SIEVE_CONDITIONS]
    if unknown:
        raise ValueError(f"unknown SIEVE conditions {unknown}")
    return [(name, SIEVE_CONDITIONS[name]) for name in names]


def sieve_arity(form: str) -> int:
    """How many parameters the conditions of a SIEVE `form` read, all together."""
    return sum(condition.arity for _, condition in sieve_conditions(form))

# How `render` joins a number step's operands to its target.
_JOINS = {MathOp.REMAINDER: " by ", MathOp.GCD: ", ", MathOp.LCM: ", ", MathOp.BASE: " in base ",
          MathOp.DIGITS: " in base ", MathOp.VIETA: " over the roots of ",
          MathOp.CHOOSE: " choose ", MathOp.PERMUTE: " permute ", MathOp.ARRANGE: " with alike ",
          MathOp.DISTRIBUTE: " into ", MathOp.TRIALS: " trials succeeding ",
          MathOp.DRAW: " drawing ", MathOp.SIEVE: " to "}
_PICKED = (MathOp.SOLVE, MathOp.DIVISORS, MathOp.PRIME_FACTORS, MathOp.DIGITS, MathOp.INTEGERS,
           MathOp.SIEVE, MathOp.EXTREMUM, MathOp.COORDINATE)


@dataclass(frozen=True)
class MathStep:
    op: MathOp
    target: Ref
    given: tuple[Ref, ...] = ()
    pick: str = "unique"  # SOLVE, DIVISORS, PRIME_FACTORS, DIGITS, INTEGERS
    form: str = "simplify"  # SIMPLIFY's form; a geometry step's figure (GEOMETRY_FORMS)
    # REMAINDER (the divisor), GCD, LCM, DIGITS and BASE (the base), VIETA (polynomial, roots),
    # the counting and probability steps (their numbers, as the module docstring lists them)
    operands: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class MathProgram:
    steps: tuple[MathStep, ...]
    # Provenance, not semantics: how many candidate programs label validation executed to find
    # this one (1: the first shape tried reproduced the gold answer).
    tried: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [{"op": step.op.value, "target": step.target, "given": list(step.given),
                       "pick": step.pick, "form": step.form, "operands": list(step.operands)}
                      for step in self.steps],
            "tried": self.tried,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MathProgram:
        """The program `to_json` gave; ExecutionError('bad_program') for anything else."""
        try:
            steps = tuple(_step_from_json(item) for item in data["steps"])
            tried = data.get("tried", 1)
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            raise ExecutionError("bad_program", str(error)) from None
        if not steps or type(tried) is not int or tried < 1:
            raise ExecutionError("bad_program", "no steps, or a bad `tried` count")
        return cls(steps, tried)

    def render(self, expressions: Sequence[str] = ()) -> str:
        """One line per step: `s1 = SOLVE $x$ given $2x + 3 = 11$`."""
        def show(ref: Ref) -> str:
            if isinstance(ref, str):
                return f"${ref}$"
            return f"${expressions[ref]}$" if ref < len(expressions) else f"#{ref}"

        lines = []
        for number, step in enumerate(self.steps, 1):
            line = f"s{number} = {step.op.value} {show(step.target)}"
            if step.operands:
                line += _JOINS.get(step.op, ", ") + ", ".join(show(ref) for ref in step.operands)
            if step.given:
                line += " given " + ", ".join(show(ref) for ref in step.given)
            if step.op in _PICKED and step.pick != "unique":
                line += f" ({step.pick})"
            if step.op is MathOp.SIMPLIFY and step.form != "simplify" or \
                    step.op in GEOMETRY_FORMS or \
                    step.op in (MathOp.SIEVE, MathOp.EXTREMUM, MathOp.COORDINATE, MathOp.DICE):
                line += f" ({step.form})"
            lines.append(line)
        return "\n".join(lines)


def _step_from_json(item: dict[str, Any]) -> MathStep:
    refs = [item["target"], *item.get("given", []), *item.get("operands", [])]
    if not all(isinstance(ref, str) or (type(ref) is int and ref >= 0) for ref in refs):
        raise ValueError(f"references must be expression indices or LaTeX: {refs!r}")
    step = MathStep(MathOp(item["op"]), item["target"], tuple(item.get("given", [])),
                    item.get("pick", "unique"), item.get("form", "simplify"),
                    tuple(item.get("operands", [])))
    forms = GEOMETRY_FORMS.get(step.op, dict.fromkeys(FORMS))
    if step.op is MathOp.SIEVE:
        if step.pick not in SIEVE_PICKS or len(step.operands) != 1 + sieve_arity(step.form):
            raise ValueError(f"SIEVE {step.form!r} ({step.pick}) with {len(step.operands)} "
                             "operands")
    elif step.op is MathOp.DICE:
        if len(step.operands) != 3 + sieve_arity(step.form):
            raise ValueError(f"DICE {step.form!r} with {len(step.operands)} operands")
    elif step.op is MathOp.COORDINATE:
        counts = COORDINATE_FORMS.get(step.form)
        if counts is None or 1 + len(step.operands) not in counts or \
                step.pick not in ("unique", "all", "sum", "product"):
            raise ValueError(f"COORDINATE {step.form!r} ({step.pick}) with "
                             f"{len(step.operands)} operands")
    elif step.op is MathOp.EXTREMUM:
        if step.pick not in ("max", "min") or step.form not in EXTREMUM_FORMS:
            raise ValueError(f"EXTREMUM {step.form!r} ({step.pick})")
    elif step.pick not in PICKS or step.form not in forms:
        raise ValueError(f"unknown pick {step.pick!r} or form {step.form!r}")
    if step.op in GEOMETRY_FORMS and \
            not GEOMETRY_FORMS[step.op][step.form].takes(1 + len(step.operands)):
        raise ValueError(f"{step.op.value} {step.form} with {len(step.operands)} operands")
    wanted = {MathOp.REMAINDER: 1, MathOp.BASE: 1, MathOp.DIGITS: 1}.get(step.op)
    if wanted is not None and len(step.operands) != wanted or \
            step.op in (MathOp.GCD, MathOp.LCM) and not step.operands or \
            step.op is MathOp.VIETA and len(step.operands) < 3 or \
            step.op in (MathOp.CHOOSE, MathOp.PERMUTE) and len(step.operands) % 2 != 1 or \
            step.op in (MathOp.DISTRIBUTE, MathOp.TRIALS) and len(step.operands) != 3 or \
            step.op is MathOp.DRAW and (len(step.operands) < 3 or len(step.operands) % 2 != 1):
        raise ValueError(f"{step.op.value} with {len(step.operands)} operands")
    return step


@dataclass(frozen=True)
class MathFacts:
    """What one expression is, for the labeller: `kind` is equation (an Eq, or several: "x=2,
    y=3"), definition (f(x)=... over distinct symbols), constraint (<, >, \\le, \\ge, \\ne),
    expression, other (sets, intervals, tuples), or why it could not be read (unparseable,
    too_large, timeout); `symbols` the LaTeX of its free symbols (of a definition: its
    parameters, the a of f(x)=ax+3, not its variable x); `functions` the names of the undefined
    functions it applies (a definition's own included); `text` its sympy str, for display."""

    kind: str
    symbols: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    text: str = ""


# --- public entry points (caller side) ----------------------------------------------------------


def execute_math_program(program: MathProgram, expressions: Sequence[str],
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The program's answer as LaTeX, computed within `timeout_s`. ExecutionError with a
    snake_case reason otherwise: invalid_reference, unparseable, too_large, timeout, bad_given,
    not_solvable (no unknowns), underdetermined, no_solution, not_single_answer, not_real (max,
    min or difference of complex values), undefined (division by zero), not_an_expression,
    sympy_failed (sympy raised); for number steps also not_an_integer, not_positive, no_variable
    (a polynomial remainder needs one variable), not_invertible, bad_base; unreadable_series for
    an elided series whose written terms imply none; unbounded (INTEGERS without a bound);
    not_symmetric (a VIETA target that is not); for counting steps not_a_count (a negative
    count, more chosen than there are, a chance outside [0, 1]) and too_large; for geometry
    steps not_a_measure (a dimension that is no positive number, sides that make no triangle,
    an angle of no regular polygon)."""
    for step in program.steps:
        for ref in (step.target, *step.given, *step.operands):
            if isinstance(ref, int) and not 0 <= ref < len(expressions):
                raise ExecutionError("invalid_reference", f"expression #{ref} of "
                                     f"{len(expressions)}")
    return with_time_limit(_within, timeout_s, _run_program, program, tuple(expressions),
                           seconds=timeout_s + HARD_MARGIN_S)


def describe_math(expressions: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S
                  ) -> list[MathFacts]:
    """The facts of every expression, parsed in one worker call (which also warms the worker's
    parse cache for the programs executed next); `timeout_s` applies to each expression, and one
    that overruns it is of kind "timeout"."""
    return with_time_limit(_describe_all, tuple(expressions), timeout_s,
                           seconds=timeout_s * len(expressions) + HARD_MARGIN_S)


# --- worker side: everything below runs inside with_time_limit ----------------------------------


class _Expired(BaseException):
    """The soft deadline passed. A BaseException, so that sympy's own `except Exception` (and
    `except ValueError`) handlers cannot swallow it."""


def _within(seconds: float, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, stopped by a timer signal at `seconds` as ExecutionError("timeout").
    Off the main thread, where no signal can be set, the caller's hard limit alone applies."""
    if threading.current_thread() is not threading.main_thread():
        return function(*args)

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            return function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        raise ExecutionError("timeout", f"over {seconds:g} s") from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _describe_all(expressions: tuple[str, ...], seconds: float) -> list[MathFacts]:
    facts = []
    for text in expressions:
        try:
            facts.append(_within(seconds, _describe, text))
        except ExecutionError as error:
            facts.append(MathFacts(error.reason))
    return facts


def _describe(text: str) -> MathFacts:
    try:
        parsed = _parsed(text)
    except ExecutionError as error:
        return MathFacts(error.reason)
    except Exception:  # sympy, while reading the parse (a recursion too deep, ...)
        return MathFacts("unparseable")
    kind = _kind(parsed)
    free = parsed.free_symbols - (set(parsed.lhs.args) if kind == "definition" else set())
    symbols = tuple(sorted(sympy.latex(symbol) for symbol in free))
    functions = tuple(sorted({str(call.func) for call in parsed.atoms(AppliedUndef)}))
    try:
        text = str(parsed)[:200]
    except ValueError:  # an integer past Python's 4,300 digits of str(): "2004^{2004}"
        return MathFacts("too_large")
    return MathFacts(kind, symbols, functions, text)


def _kind(parsed: sympy.Basic) -> str:
    if _equations(parsed) is not None:
        return "definition" if _definition(parsed) else "equation"
    if _constraints(parsed) is not None:
        return "constraint"
    return "expression" if isinstance(parsed, sympy.Expr) else "other"


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> sympy.Basic:
    """`text` parsed, decimals made exact, `i` read as the imaginary unit, sizes checked.

    The soft deadline's signal is held off while the parser runs: the ANTLR parser shares a
    prediction cache between parses, and one stopped midway could leave it half-updated for every
    later parse in this worker. A pending signal fires as soon as the parse returns; a parse that
    overruns on its own meets the hard limit."""
    text = _BASE_NUMERAL.sub(_base_value, _DEGREES.sub(r" \\cdot \\frac{\\pi}{180}", text))
    text, series = read_series(text)
    expression = _exact_numbers(_parse_held(text))
    if series:
        values = {_parse_held(PLACEHOLDER.format(index)): _series_value(item)
                  for index, item in enumerate(series)}
        expression = expression.subs(values)
    _check_size(expression)
    return expression


def _parse_held(text: str) -> sympy.Basic:
    """parse_latex with the soft deadline's signal held off (see `_parsed`)."""
    held = {signal.SIGALRM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        return parse_latex(text)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _exact_numbers(expression: sympy.Basic) -> sympy.Basic:
    """Decimals exact ("3.7" is 37/10), `i` the imaginary unit."""
    expression = expression.replace(lambda node: isinstance(node, sympy.Float),
                                    lambda node: sympy.Rational(str(node)))
    return expression.subs(sympy.Symbol("i"), sympy.I)


def _series_value(series: Series) -> sympy.Expr:
    """An elided series' value (the readings of solver/math_series.py): its general term summed
    or multiplied over its count, else the progression its written terms' values make."""
    combine = sympy.Add if series.kind == "sum" else sympy.Mul
    template = series.template()
    if template is not None:
        general, count = template
        term = _exact_numbers(_parse_held(general))
        step = _parse_held(STEP)
        _check_size(term.subs(step, count))
        return combine(*(term.subs(step, index) for index in range(count))).doit()
    values = [sign * _parsed(text) for sign, text in (*series.before, *series.after)]
    values = [sympy.simplify(value.doit()) for value in values]
    if not all(value.is_number for value in values):
        raise ExecutionError("unreadable_series", "the terms follow no template")
    return _progression(values, len(series.before), series)


def _same(first: sympy.Expr, second: sympy.Expr) -> bool:
    difference = first - second
    return difference == 0 if isinstance(difference, sympy.Rational) else \
        sympy.simplify(difference) == 0


def _progression(values: list[sympy.Expr], written: int, series: Series) -> sympy.Expr:
    """The value of an arithmetic or geometric progression whose first `written` terms and
    last terms are `values`."""
    head, tail = values[:written], values[written:]
    difference = head[1] - head[0]
    ratio = sympy.simplify(head[1] / head[0]) if head[0] != 0 else None
    steps = zip(head, head[1:], strict=False)
    if all(_same(b - a, difference) for a, b in steps) and tail:
        count = (tail[-1] - head[0]) / difference + 1 if difference != 0 else None
        if count is None or not (count.is_integer and written <= count <= MAX_SERIES_TERMS):
            raise ExecutionError("unreadable_series", "no whole count of terms")
        terms = [head[0] + index * difference for index in range(int(count))]
    elif ratio is not None and all(_same(b, a * ratio)
                                   for a, b in zip(head, head[1:], strict=False)):
        if not tail:
            if series.kind != "sum" or not abs(ratio) < 1:
                raise ExecutionError("unreadable_series", "an infinite series that diverges")
            return sympy.simplify(head[0] / (1 - ratio))
        terms = [head[0]]
        # past the last term's size the progression never comes back to it
        passed = (lambda term: abs(term) > abs(tail[-1])) if abs(ratio) > 1 else \
            (lambda term: abs(term) < abs(tail[-1])) if abs(ratio) < 1 else (lambda term: False)
        while len(terms) < MAX_SERIES_TERMS and not _same(terms[-1], tail[-1]) \
                and not passed(terms[-1]):
            terms.append(terms[-1] * ratio)
        if not _same(terms[-1], tail[-1]):
            raise ExecutionError("unreadable_series", "the last term is not in the progression")
    else:
        raise ExecutionError("unreadable_series", "neither arithmetic nor geometric")
    if not all(_same(value, term)
               for value, term in zip(tail[::-1], terms[::-1], strict=False)):
        raise ExecutionError("unreadable_series", "the last terms are not in the progression")
    return sympy.simplify((sympy.Add if series.kind == "sum" else sympy.Mul)(*terms))


def _base_value(match: re.Match[str]) -> str:
    """A base-subscript numeral as its decimal value; as written when it is none."""
    digits, base = match.group(1), int(match.group(2))
    try:
        return str(int(digits, base)) if 2 <= base <= 36 else match.group()
    except ValueError:  # a digit the base does not have
        return match.group()


def _equations(parsed: sympy.Basic) -> list[sympy.Eq] | None:
    """The equations `parsed` states ("a=b=3" and "x=2, y=3" state two), or None."""
    if isinstance(parsed, sympy.Eq):
        return [parsed]
    if isinstance(parsed, sympy.And | sympy.FiniteSet) and parsed.args and all(
            isinstance(arg, sympy.Eq) for arg in parsed.args):
        return list(parsed.args)
    return None


def _constraints(parsed: sympy.Basic) -> list[sympy.Basic] | None:
    """The inequalities `parsed` states ("0 < y < x" states two), or None."""
    relations = parsed.args if isinstance(parsed, sympy.And) else (parsed,)
    if relations and all(isinstance(item, sympy.core.relational.Relational)
                         and not isinstance(item, sympy.Eq) for item in relations):
        return list(relations)
    return None


def _definition(parsed: sympy.Basic) -> bool:
    """f(x) = ... with distinct symbols as the arguments."""
    if not isinstance(parsed, sympy.Eq) or not isinstance(parsed.lhs, AppliedUndef):
        return False
    arguments = parsed.lhs.args
    return all(isinstance(arg, sympy.Symbol) for arg in arguments) and \
        len(set(arguments)) == len(arguments)


def _run_program(program: MathProgram, expressions: tuple[str, ...]) -> str:
    bound: dict[sympy.Symbol, sympy.Basic] = {}
    values: list[sympy.Basic] = []
    try:
        for step in program.steps:
            values = _STEPS[step.op](step, expressions, bound)
            target = _ref(step.target, expressions)
            if isinstance(target, sympy.Symbol) and len(values) == 1 and \
                    step.op is not MathOp.BASE:
                bound[target] = values[0]
        last = program.steps[-1]
        if last.op is MathOp.BASE:
            return in_base(int(values[0]), _integer(last.operands[0], last, expressions, bound))
        return _answer(values)
    except ExecutionError:
        raise
    except Exception as error:  # sympy raises anything: NotImplementedError, TypeError, ...
        raise ExecutionError("sympy_failed", f"{type(error).__name__}: {error}"[:200]) from None


def _ref(ref: Ref, expressions: tuple[str, ...]) -> sympy.Basic:
    return _parsed(expressions[ref] if isinstance(ref, int) else ref)


@dataclass
class _Given:
    definitions: list[sympy.Eq]
    equations: list[sympy.Eq]
    constraints: list[sympy.Basic]


def _sort_given(step: MathStep, expressions: tuple[str, ...]) -> _Given:
    given = _Given([], [], [])
    for ref in step.given:
        parsed = _ref(ref, expressions)
        equations, constraints = _equations(parsed), _constraints(parsed)
        if _definition(parsed):
            given.definitions.append(parsed)
        elif equations is not None:
            given.equations.extend(equations)
        elif constraints is not None:
            given.constraints.extend(constraints)
        else:
            raise ExecutionError("bad_given", f"{str(parsed)[:60]} is no equation or constraint")
    return given


def _substitute(expression: sympy.Basic, definitions: list[sympy.Eq],
                bound: dict[sympy.Symbol, sympy.Basic]) -> sympy.Basic:
    """Defined functions replaced by their bodies (nested ones too, a few levels deep), then the
    bound symbols by their values."""
    expression = _applications(expression, {str(item.lhs.func) for item in definitions})
    for _ in range(4):
        before = expression
        for definition in definitions:
            body = sympy.Lambda(definition.lhs.args, definition.rhs)
            expression = expression.replace(definition.lhs.func, body)
        if expression == before:
            break
    _check_size(expression)
    return expression.subs(bound)


def _applications(expression: sympy.Basic, names: set[str]) -> sympy.Basic:
    """latex2sympy reads "f(g(2))" as the product f*g(2); where f is a defined function, a
    product of the symbol f and one other factor is f applied to that factor."""
    def is_function(factor: sympy.Basic) -> bool:
        return isinstance(factor, sympy.Symbol) and factor.name in names

    def misread(node: sympy.Basic) -> bool:
        return isinstance(node, sympy.Mul) and len(node.as_coeff_mul()[1]) == 2 and \
            any(is_function(factor) for factor in node.as_coeff_mul()[1])

    def applied(node: sympy.Mul) -> sympy.Basic:
        coefficient, factors = node.as_coeff_mul()
        function, argument = sorted(factors, key=lambda factor: not is_function(factor))
        return coefficient * sympy.Function(function.name)(argument)

    return expression.replace(misread, applied) if names else expression


def _solve_step(step: MathStep, expressions: tuple[str, ...],
                bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    given = _sort_given(step, expressions)
    equations = [_equation(*(_substitute(side, given.definitions, bound)
                             for side in (equation.lhs, equation.rhs)))
                 for equation in given.equations]
    target = _substitute(_ref(step.target, expressions), given.definitions, bound)
    unknowns = sorted(set().union(*(equation.free_symbols for equation in equations)), key=str)
    if not unknowns:
        raise ExecutionError("not_solvable", "no unknowns in the equations")
    values = _target_values(equations, unknowns, target, given.constraints)
    return _pick([_exact(value) for value in values], step.pick)


def _target_values(equations: list[sympy.Expr], unknowns: list[sympy.Symbol],
                   target: sympy.Expr, constraints: list[sympy.Basic]) -> list[sympy.Expr]:
    if len(equations) < len(unknowns):
        # Unknowns left free: the target may still be determined ("x + 2y" when 2x + 4y = 10).
        # Only for linear equations and targets: sympy's parametric solutions of nonlinear ones
        # (a cubic solved for x in terms of y) take it past any time limit.
        if not all(_is_linear(item, unknowns) for item in (*equations, target)):
            raise ExecutionError("underdetermined", f"{len(equations)} equations in "
                                 f"{len(unknowns)} unknowns, not all linear")
        value_symbol = sympy.Dummy("target")
        solutions = sympy.solve([*equations, value_symbol - target], [value_symbol, *unknowns],
                                dict=True)
        values = [solution[value_symbol] for solution in solutions
                  if value_symbol in solution and _satisfies(solution, constraints)]
    else:
        solutions = [solution for solution in _solutions(equations, unknowns)
                     if _satisfies(solution, constraints)]
        values = [target.subs(solution) for solution in solutions]
    if any(value.free_symbols & set(unknowns) for value in values):
        raise ExecutionError("underdetermined", "the equations leave the target free")
    if not values:
        raise ExecutionError("no_solution", "no solution satisfies the equations and constraints")
    return values


def _equation(left: sympy.Expr, right: sympy.Expr) -> sympy.Expr:
    """left = right as an expression equal to zero. Between products of powers of positive
    numbers ("9^{18n} = 27^{24}") it is the difference of the logarithms, linear in the
    exponents: sympy's solve takes seconds on the powers themselves (measured on MATH train),
    milliseconds on their logarithms; for real unknowns both sides are positive, so nothing is
    lost."""
    if _positive_powers(left) and _positive_powers(right) and \
            (left.free_symbols or right.free_symbols):
        return sympy.expand_log(sympy.log(left) - sympy.log(right), force=True)
    return left - right


def _positive_powers(expression: sympy.Expr) -> bool:
    return all(factor.is_Number and factor.is_positive
               or (isinstance(factor, sympy.Pow) and factor.base.is_Number
                   and factor.base.is_positive)
               for factor in sympy.Mul.make_args(expression))


def _solutions(equations: list[sympy.Expr], unknowns: list[sympy.Symbol]
               ) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """sympy's solutions. One equation in one unknown goes to solveset over the reals first:
    solve spends seconds on some ("5^b + 5^b + 5^b + 5^b + 5^b = 625^{b-1}") that solveset
    answers at once; without a finite set of real solutions, solve finds the complex ones."""
    if len(equations) == 1 and len(unknowns) == 1:
        real = sympy.solveset(equations[0], unknowns[0], sympy.S.Reals)
        if isinstance(real, sympy.FiniteSet) and real:
            return [{unknowns[0]: value} for value in real]
    return sympy.solve(equations, unknowns, dict=True)


def _is_linear(expression: sympy.Expr, unknowns: list[sympy.Symbol]) -> bool:
    try:
        return sympy.Poly(expression, *unknowns).total_degree() <= 1
    except sympy.PolynomialError:  # not a polynomial in the unknowns (exp, log, 1/x ...)
        return False


def _satisfies(solution: dict[sympy.Symbol, sympy.Expr], constraints: list[sympy.Basic]) -> bool:
    """False only for a constraint the solution provably breaks; one still undecided (a free
    symbol left) does not rule it out."""
    for constraint in constraints:
        try:
            if constraint.subs(solution) == sympy.false:
                return False
        except TypeError:  # a comparison with a non-real value: the constraint cannot hold
            return False
    return True


def _evaluate_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    given = _sort_given(step, expressions)
    assignments = {equation.lhs: equation.rhs for equation in given.equations
                   if isinstance(equation.lhs, sympy.Symbol)}
    target = _substitute(_ref(step.target, expressions), given.definitions,
                         {**assignments, **bound})
    if step.op is MathOp.EVALUATE:
        return [_exact(target)]
    transform = {"simplify": sympy.simplify, "expand": sympy.expand, "factor": sympy.factor}
    return [transform[step.form](target.doit())]


def _exact(value: sympy.Basic) -> sympy.Basic:
    if not isinstance(value, sympy.Expr):
        raise ExecutionError("not_an_expression", f"{str(value)[:60]}")
    _check_size(value)
    value = value.doit()
    # simplify is the slow part of most programs, and a rational needs none
    value = value if isinstance(value, sympy.Rational) else sympy.simplify(value)
    if value.has(sympy.zoo, sympy.nan):
        raise ExecutionError("undefined", f"{str(value)[:60]}")
    return value


def _pick(values: list[sympy.Expr], pick: str) -> list[sympy.Expr]:
    distinct = list(dict.fromkeys(values))
    real = [value for value in distinct if value.is_real]
    if len(distinct) > 1 and real:
        distinct = real
    if pick == "count":
        return [sympy.Integer(len(distinct))]
    if pick == "all":
        return sorted(distinct, key=_order)
    if pick == "unique":
        if len(distinct) != 1:
            raise ExecutionError("not_single_answer", f"{len(distinct)} values")
        return distinct
    if pick in ("max", "min", "difference") and len(real) != len(distinct):
        raise ExecutionError("not_real", f"{pick} of non-real values")
    combine: dict[str, Callable[[list[sympy.Expr]], sympy.Expr]] = {
        "sum": lambda items: sympy.Add(*items), "product": lambda items: sympy.Mul(*items),
        "max": lambda items: sympy.Max(*items), "min": lambda items: sympy.Min(*items),
        "difference": lambda items: sympy.Max(*items) - sympy.Min(*items)}
    return [sympy.simplify(combine[pick](distinct))]


def _order(value: sympy.Expr) -> tuple[int, float, str]:
    """Real values in numeric order, then the others by their text."""
    if value.is_real:
        return (0, float(value.evalf()), "")
    return (1, 0.0, str(value))


def _answer(values: list[sympy.Basic]) -> str:
    answer = ", ".join(_latex(value) for value in values)
    if len(answer) > MAX_ANSWER_CHARS:
        raise ExecutionError("too_large", f"an answer of {len(answer)} characters")
    return answer


def _value(ref: Ref, step: MathStep, expressions: tuple[str, ...],
           bound: dict[sympy.Symbol, sympy.Basic]) -> sympy.Expr:
    """`ref` with the step's definitions and assignments and the bound symbols substituted, as
    EVALUATE reads its target; a number made exact, a polynomial left as it is (simplifying
    $x^{44} + x^{33} + 1$ would only cost time)."""
    given = _sort_given(step, expressions)
    assignments = {equation.lhs: equation.rhs for equation in given.equations
                   if isinstance(equation.lhs, sympy.Symbol)}
    value = _substitute(_ref(ref, expressions), given.definitions, {**assignments, **bound})
    if not isinstance(value, sympy.Expr):
        raise ExecutionError("not_an_expression", f"{str(value)[:60]}")
    return _exact(value) if value.is_number else value.doit()


def _integer(ref: Ref, step: MathStep, expressions: tuple[str, ...],
             bound: dict[sympy.Symbol, sympy.Basic]) -> int:
    value = _value(ref, step, expressions, bound)
    if not isinstance(value, sympy.Integer):
        raise ExecutionError("not_an_integer", f"{str(value)[:60]}")
    return int(value)


def _factored(step: MathStep, expressions: tuple[str, ...],
              bound: dict[sympy.Symbol, sympy.Basic]) -> int:
    """The target as a positive integer small enough to factor."""
    number = _integer(step.target, step, expressions, bound)
    if number < 1:
        raise ExecutionError("not_positive", f"{number}")
    if number.bit_length() > MAX_FACTOR_BITS:
        raise ExecutionError("too_large", f"factoring a {number.bit_length()}-bit number")
    return number


def _remainder_step(step: MathStep, expressions: tuple[str, ...],
                    bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    dividend = _value(step.target, step, expressions, bound)
    divisor = _value(step.operands[0], step, expressions, bound)
    if divisor == 0:
        raise ExecutionError("undefined", "division by zero")
    if isinstance(dividend, sympy.Rational) and isinstance(divisor, sympy.Integer):
        modulus = abs(int(divisor))
        try:  # p/q is p times the inverse of q: "3^{-1} + 3^{-2} \pmod{25}"
            inverse = pow(int(dividend.q), -1, modulus)
        except ValueError:
            raise ExecutionError("not_invertible", f"{dividend.q} modulo {modulus}") from None
        return [sympy.Integer(int(dividend.p) * inverse % modulus)]
    variables = dividend.free_symbols | divisor.free_symbols
    if len(variables) != 1:
        raise ExecutionError("no_variable", f"a remainder in {len(variables)} variables")
    (variable,) = variables
    if not (dividend.is_polynomial(variable) and divisor.is_polynomial(variable)):
        raise ExecutionError("not_an_integer", "a remainder of what is no polynomial")
    return [sympy.expand(sympy.rem(dividend, divisor, variable))]


def _gcd_step(step: MathStep, expressions: tuple[str, ...],
              bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    numbers = [_integer(ref, step, expressions, bound) for ref in (step.target, *step.operands)]
    combine = math.gcd if step.op is MathOp.GCD else math.lcm
    return [sympy.Integer(combine(*numbers))]


def _divisors_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    number = _factored(step, expressions, bound)
    if step.op is MathOp.DIVISORS:
        values = sympy.divisors(number)
    else:
        values = sorted(sympy.factorint(number))
    if not values:  # 1 has no prime factors
        raise ExecutionError("no_solution", f"{number} has no prime factors")
    return _pick([sympy.Integer(value) for value in values], step.pick)


def _base_step(step: MathStep, expressions: tuple[str, ...],
               bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    base = _integer(step.operands[0], step, expressions, bound)
    if not 2 <= base <= 36:
        raise ExecutionError("bad_base", f"base {base}")
    return [sympy.Integer(_integer(step.target, step, expressions, bound))]


def _digits_step(step: MathStep, expressions: tuple[str, ...],
                 bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    base = _integer(step.operands[0], step, expressions, bound)
    if not 2 <= base <= 36:
        raise ExecutionError("bad_base", f"base {base}")
    digits = [sympy.Integer(digit)
              for digit in _base_digits(_integer(step.target, step, expressions, bound), base)]
    combine: dict[str, Callable[[list[sympy.Integer]], list[sympy.Basic]]] = {
        "sum": lambda items: [sympy.Add(*items)], "product": lambda items: [sympy.Mul(*items)],
        "count": lambda items: [sympy.Integer(len(items))], "max": lambda items: [max(items)],
        "min": lambda items: [min(items)], "all": lambda items: items}
    if step.pick not in combine:
        raise ExecutionError("bad_program", f"DIGITS with pick {step.pick}")
    return combine[step.pick](digits)


def _integers_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    unknown = _ref(step.target, expressions)
    if not isinstance(unknown, sympy.Symbol):
        raise ExecutionError("not_solvable", f"{str(unknown)[:60]} is no symbol")
    given = _sort_given(step, expressions)
    relations = [_substitute(item, given.definitions, bound)
                 for item in (*given.constraints, *given.equations)]
    if not relations or any(item.free_symbols - {unknown} for item in relations):
        raise ExecutionError("underdetermined", "constraints in other unknowns, or none")
    region: sympy.Set = sympy.S.Reals
    for relation in relations:
        region = region.intersect(sympy.solveset(relation, unknown, sympy.S.Reals))
    low, high = region.inf, region.sup
    if step.pick == "max" and high.is_finite:
        found = _first_integer(region, sympy.floor(high), -1)
    elif step.pick == "min" and low.is_finite:
        found = _first_integer(region, sympy.ceiling(low), 1)
    elif low.is_finite and high.is_finite:
        if high - low > MAX_SERIES_TERMS:
            raise ExecutionError("too_large", f"{high - low} integers to try")
        found = [sympy.Integer(value) for value in range(int(sympy.ceiling(low)),
                                                          int(sympy.floor(high)) + 1)
                 if region.contains(sympy.Integer(value)) == sympy.true]
    else:
        raise ExecutionError("unbounded", f"{step.pick} of the integers in {region}")
    if not found and step.pick != "count":
        raise ExecutionError("no_solution", "no integer satisfies the constraints")
    return _pick(found, step.pick)


def _first_integer(region: sympy.Set, start: sympy.Expr, direction: int) -> list[sympy.Integer]:
    """The first integer from `start` on, in `direction`, that lies in `region` (a few steps:
    past MAX_SERIES_TERMS of them, none)."""
    for offset in range(MAX_SERIES_TERMS):
        value = sympy.Integer(int(start) + direction * offset)
        if region.contains(value) == sympy.true:
            return [value]
    return []


def _vieta_step(step: MathStep, expressions: tuple[str, ...],
                bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    polynomial = _ref(step.operands[0], expressions)
    if isinstance(polynomial, sympy.Eq):
        polynomial = polynomial.rhs if _definition(polynomial) else \
            polynomial.lhs - polynomial.rhs
    roots = [_ref(ref, expressions) for ref in step.operands[1:]]
    variables = polynomial.free_symbols if isinstance(polynomial, sympy.Expr) else set()
    if len(variables) != 1 or not all(isinstance(root, sympy.Symbol) for root in roots):
        raise ExecutionError("not_solvable", "a polynomial in one variable and root symbols")
    (variable,) = variables
    coefficients = sympy.Poly(polynomial, variable).all_coeffs()
    if len(coefficients) - 1 != len(roots):
        raise ExecutionError("bad_given", f"{len(roots)} roots of a polynomial of degree "
                             f"{len(coefficients) - 1}")
    # Vieta: the k-th elementary symmetric polynomial of the roots is (-1)^k a_{n-k} / a_n
    elementary = [(-1) ** k * coefficients[k] / coefficients[0]
                  for k in range(1, len(coefficients))]
    given = _sort_given(step, expressions)
    target = sympy.together(_substitute(_ref(step.target, expressions), given.definitions,
                                        bound).doit())
    parts = []
    for part in sympy.fraction(target):
        symmetric, remainder, names = symmetrize(sympy.expand(part), roots, formal=True)
        if remainder != 0:
            raise ExecutionError("not_symmetric", f"{str(part)[:60]}")
        parts.append(symmetric.subs({name: elementary[index]
                                     for index, (name, _) in enumerate(names)}))
    numerator, denominator = parts
    if denominator == 0:
        raise ExecutionError("undefined", "division by zero")
    return [_exact(numerator / denominator)]


def _counts(step: MathStep, expressions: tuple[str, ...],
            bound: dict[sympy.Symbol, sympy.Basic]) -> list[int]:
    """The target and operands of a counting step as nonnegative integers small enough that
    their factorials are instant."""
    numbers = [_integer(ref, step, expressions, bound) for ref in (step.target, *step.operands)]
    if any(number < 0 for number in numbers):
        raise ExecutionError("not_a_count", f"{min(numbers)}")
    if max(numbers) > MAX_COUNT_ITEMS:
        raise ExecutionError("too_large", f"counting over {max(numbers)} things")
    return numbers


def _pairs(numbers: list[int]) -> list[tuple[int, int]]:
    """(n, k) pairs, each k at most its n."""
    pairs = list(zip(numbers[::2], numbers[1::2], strict=True))
    if any(k > n for n, k in pairs):
        raise ExecutionError("not_a_count", f"more chosen than there are: {pairs}")
    return pairs


def _choose_step(step: MathStep, expressions: tuple[str, ...],
                 bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    pairs = _pairs(_counts(step, expressions, bound))
    count = sympy.binomial if step.op is MathOp.CHOOSE else sympy.ff  # falling factorial
    return [sympy.Mul(*(count(n, k) for n, k in pairs))]


def _arrange_step(step: MathStep, expressions: tuple[str, ...],
                  bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    total, *alike = _counts(step, expressions, bound)
    if sum(alike) > total:
        raise ExecutionError("not_a_count", f"{sum(alike)} alike of {total}")
    return [sympy.factorial(total) / sympy.Mul(*(sympy.factorial(size) for size in alike))]


def _distribute_step(step: MathStep, expressions: tuple[str, ...],
                     bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    objects, boxes, objects_alike, boxes_alike = _counts(step, expressions, bound)
    if objects_alike > 1 or boxes_alike > 1:
        raise ExecutionError("bad_program", "DISTRIBUTE flags are 0 or 1")
    if not objects_alike and not boxes_alike:
        return [sympy.Integer(boxes) ** objects]
    if objects_alike and not boxes_alike:
        return [sympy.binomial(objects + boxes - 1, objects)]
    if not objects_alike:  # set partitions of the objects into at most `boxes` blocks
        return [sympy.Add(*(stirling(objects, blocks)
                            for blocks in range(min(boxes, objects) + 1)))]
    return [sympy.Integer(_partitions(objects, boxes))]


def _partitions(number: int, parts: int) -> int:
    """The partitions of `number` into at most `parts` parts (equally: into parts no larger
    than `parts`), by the usual table over the largest part allowed."""
    ways = [1] + [0] * number
    for part in range(1, parts + 1):
        for total in range(part, number + 1):
            ways[total] += ways[total - part]
    return ways[number]


def _trials_step(step: MathStep, expressions: tuple[str, ...],
                 bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    trials, low, high = (_integer(ref, step, expressions, bound)
                         for ref in (step.target, *step.operands[:2]))
    chance = _value(step.operands[2], step, expressions, bound)
    if not isinstance(chance, sympy.Rational) or not 0 <= chance <= 1:
        raise ExecutionError("not_a_count", f"a chance of {str(chance)[:60]}")
    if not 0 <= low <= high <= trials or trials > MAX_COUNT_ITEMS:
        raise ExecutionError("not_a_count", f"{low} to {high} of {trials} trials")
    return [sympy.Add(*(sympy.binomial(trials, wins) * chance ** wins
                        * (1 - chance) ** (trials - wins) for wins in range(low, high + 1)))]


def _draw_step(step: MathStep, expressions: tuple[str, ...],
               bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    total, drawn, *groups = _counts(step, expressions, bound)
    pairs = _pairs(groups)
    rest, rest_drawn = total - sum(n for n, _ in pairs), drawn - sum(k for _, k in pairs)
    if drawn > total or rest < 0 or not 0 <= rest_drawn <= rest:
        raise ExecutionError("not_a_count", f"drawing {drawn} of {total} as {pairs}")
    favourable = sympy.Mul(*(sympy.binomial(n, k) for n, k in [*pairs, (rest, rest_drawn)]))
    return [favourable / sympy.binomial(total, drawn)]


def _geometry_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    """A measure of a figure: its numbers read as EVALUATE reads a target (exact real numbers,
    positive unless they are coordinates), then its form's formula."""
    form = GEOMETRY_FORMS[step.op].get(step.form)
    refs = (step.target, *step.operands)
    if form is None or not form.takes(len(refs)):
        raise ExecutionError("bad_program", f"{step.op.value} {step.form} of {len(refs)}")
    numbers = [_value(ref, step, expressions, bound) for ref in refs]
    for number in numbers:
        if not (number.is_number and number.is_real) or \
                not form.signed and not number.is_positive:
            raise ExecutionError("not_a_measure", f"{str(number)[:60]} as a dimension")
    return [_exact(form.formula(*numbers))]


def _extremum_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    """The largest or smallest value (`pick`) that `target` takes over the real numbers its
    `given` constraints allow, or (form argument) the one point where it takes it. One
    variable: the critical points and closed ends of the one interval on which the target is
    defined and continuous, against its limits at the open ends, so that an optimum that is
    not reached (a limit beyond every value) is refused as unbounded. Several variables: a
    quadratic polynomial with a definite Hessian and no constraints (the one critical
    point)."""
    given = _sort_given(step, expressions)
    if given.equations:
        raise ExecutionError("underdetermined", "an optimum under equations")
    target = _ref(step.target, expressions)
    if isinstance(target, sympy.Eq) and _definition(target):
        target = target.rhs  # "the minimum value of $f(x) = x^2 - 4x$"
    target = _substitute(target, given.definitions, bound)
    if not isinstance(target, sympy.Expr):
        raise ExecutionError("not_an_expression", f"{str(target)[:60]}")
    target = target.doit()
    variables = sorted(target.free_symbols, key=str)
    if target.has(sympy.Abs, sympy.floor, sympy.ceiling, sympy.Max, sympy.Min,
                  sympy.Piecewise, sympy.sign, sympy.I):
        raise ExecutionError("not_solvable", "an optimum of a piecewise or complex target")
    if len(variables) == 1:
        return [_one_variable_optimum(target, variables[0], given.constraints, step)]
    if len(variables) > 1 and not given.constraints and step.form == "value":
        return [_quadratic_optimum(target, variables, step.pick)]
    raise ExecutionError("not_solvable", f"an optimum over {len(variables)} variables")


def _one_variable_optimum(target: sympy.Expr, variable: sympy.Symbol,
                          constraints: list[sympy.Basic], step: MathStep) -> sympy.Expr:
    region: sympy.Set = sympy.S.Reals
    for constraint in constraints:
        if constraint.free_symbols - {variable}:
            raise ExecutionError("underdetermined", "a constraint on another unknown")
        region = region.intersect(sympy.solveset(constraint, variable, sympy.S.Reals))
    region = sympy.calculus.util.continuous_domain(target, variable, region)
    if not isinstance(region, sympy.Interval):
        raise ExecutionError("not_solvable", f"the target lives on {str(region)[:60]}")
    critical = sympy.solveset(sympy.diff(target, variable), variable, region.interior)
    if not (critical is sympy.S.EmptySet or isinstance(critical, sympy.FiniteSet)) or \
            len(critical) > MAX_CRITICAL_POINTS:
        raise ExecutionError("not_solvable", f"critical points {str(critical)[:60]}")
    points = [*critical, *(end for end, open_end in ((region.start, region.left_open),
                                                      (region.end, region.right_open))
                           if not open_end and end.is_finite)]
    if not points:
        raise ExecutionError("no_solution", "no critical point and no closed end")
    reached = [(sympy.simplify(target.subs(variable, point)), point) for point in points]
    sign = 1 if step.pick == "max" else -1
    best = max(reached, key=lambda item: sign * _numeric(item[0]))
    for end, open_end, side in ((region.start, region.left_open, "+"),
                                (region.end, region.right_open, "-")):
        if not (open_end or not end.is_finite):
            continue
        edge = sympy.limit(target, variable, end, side)
        if edge in (sympy.oo, -sympy.oo):
            beyond = sign * edge == sympy.oo
        elif edge.is_finite:
            beyond = sign * _numeric(edge - best[0]) > 0
        else:  # no limit, or a complex infinity
            raise ExecutionError("unbounded", f"no limit of the target at {end}")
        if beyond:
            raise ExecutionError("unbounded", f"{step.pick} not reached: {edge} at {end}")
    if step.form == "value":
        return _exact(best[0])
    ties = [point for value, point in reached if _numeric(value - best[0]).is_zero]
    if len(ties) != 1:
        raise ExecutionError("not_single_answer", f"the optimum is reached at {len(ties)} points")
    return _exact(best[1])


def _numeric(value: sympy.Expr) -> sympy.Float:
    """`value` to _COMPARE_DIGITS digits, zero when it is zero to within them."""
    number = sympy.N(value, _COMPARE_DIGITS)
    if not number.is_real:
        raise ExecutionError("not_real", f"{str(value)[:60]}")
    return number if abs(number) > sympy.Float(10) ** (5 - _COMPARE_DIGITS) else sympy.S.Zero


def _quadratic_optimum(target: sympy.Expr, variables: list[sympy.Symbol],
                       pick: str) -> sympy.Expr:
    try:
        degree = sympy.Poly(target, *variables).total_degree()
    except sympy.PolynomialError:
        degree = None
    if degree != 2:
        raise ExecutionError("not_solvable", "an optimum over several variables of no quadratic")
    hessian = sympy.hessian(target, variables)
    definite = hessian.is_positive_definite if pick == "min" else \
        (-hessian).is_positive_definite
    if not definite:
        raise ExecutionError("unbounded", f"the quadratic has no {pick}")
    (solution,) = sympy.solve([sympy.diff(target, variable) for variable in variables],
                              variables, dict=True)
    return _exact(target.subs(solution))


def _coordinate_step(step: MathStep, expressions: tuple[str, ...],
                     bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    """A point or a slope in the coordinate plane (COORDINATE_FORMS): the midpoint of two
    points (x1, y1, x2, y2, or three coordinates each), the other endpoint of a segment from
    its midpoint and one endpoint, the slope of the line through two points or of a line's
    equation (`target`, linear in x and y), or the slope perpendicular to either. A point is
    the answer itself (pick all), or the sum or product of its coordinates."""
    if step.form.startswith("line_"):
        line = _ref(step.target, expressions)
        x, y = sympy.Symbol("x"), sympy.Symbol("y")
        if not isinstance(line, sympy.Eq) or line.free_symbols != {x, y}:
            raise ExecutionError("not_a_measure", f"{str(line)[:60]} is no line in x and y")
        relation = sympy.expand(line.lhs - line.rhs)
        if not _is_linear(relation, [x, y]) or relation.coeff(y) == 0:
            raise ExecutionError("not_a_measure", f"{str(line)[:60]}: no slope")
        slope = -relation.coeff(x) / relation.coeff(y)
    else:
        numbers = [_value(ref, step, expressions, bound) for ref in (step.target, *step.operands)]
        if not all(number.is_number and number.is_real for number in numbers):
            raise ExecutionError("not_a_measure", "coordinates that are no real numbers")
        half = len(numbers) // 2
        first, second = numbers[:half], numbers[half:]
        if step.form == "midpoint":
            return _point([(a + b) / 2 for a, b in zip(first, second, strict=True)], step.pick)
        if step.form == "endpoint":
            return _point([2 * a - b for a, b in zip(first, second, strict=True)], step.pick)
        if second[0] == first[0]:
            raise ExecutionError("undefined", "a vertical line has no slope")
        slope = (second[1] - first[1]) / (second[0] - first[0])
    if step.form.endswith("perpendicular_slope"):
        if slope == 0:
            raise ExecutionError("undefined", "a vertical line has no slope")
        slope = -1 / slope
    return [_exact(slope)]


def _point(coordinates: list[sympy.Expr], pick: str) -> list[sympy.Basic]:
    coordinates = [_exact(coordinate) for coordinate in coordinates]
    if pick == "sum":
        return [_exact(sympy.Add(*coordinates))]
    if pick == "product":
        return [_exact(sympy.Mul(*coordinates))]
    if pick != "all":
        raise ExecutionError("bad_program", f"a point picked by {pick}")
    return [sympy.Tuple(*coordinates)]


def _sieve_tests(step: MathStep, refs: Sequence[Ref], expressions: tuple[str, ...],
                 bound: dict[sympy.Symbol, sympy.Basic]
                 ) -> list[tuple[Callable[..., bool], list[int]]]:
    """The conditions `step.form` lists, each with its parameters read from `refs` in order."""
    try:
        conditions = sieve_conditions(step.form)
    except ValueError as error:
        raise ExecutionError("bad_program", str(error)) from None
    parameters = [_integer(ref, step, expressions, bound) for ref in refs]
    if len(parameters) != sum(condition.arity for _, condition in conditions):
        raise ExecutionError("bad_program", f"{step.form} with {len(parameters)} numbers")
    tests = []
    for _, condition in conditions:
        taken, parameters = parameters[:condition.arity], parameters[condition.arity:]
        tests.append((condition.holds, taken))
    return tests


def _dice_step(step: MathStep, expressions: tuple[str, ...],
               bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    """The probability that `target` fair dice of `operands[0]` faces (1 to n) roll a sum from
    `operands[1]` to `operands[2]` that meets the conditions `form` lists (SIEVE's): every roll
    enumerated, the favourable ones counted."""
    dice, faces, low, high = (_integer(ref, step, expressions, bound)
                              for ref in (step.target, *step.operands[:3]))
    if not (1 <= dice <= MAX_DICE and 2 <= faces <= 100 and faces ** dice <= 10 ** 5):
        raise ExecutionError("not_a_count", f"{dice} dice of {faces} faces")
    tests = _sieve_tests(step, step.operands[3:], expressions, bound)
    favourable = sum(1 for roll in itertools.product(range(1, faces + 1), repeat=dice)
                     if low <= sum(roll) <= high
                     and all(holds(sum(roll), *taken) for holds, taken in tests))
    return [sympy.Rational(favourable, faces ** dice)]


def _sieve_step(step: MathStep, expressions: tuple[str, ...],
                bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    """The integers from `target` to `operands[0]` (both included) that meet every condition
    `form` lists, combined by `pick`. An open end is allowed where the pick does not need it:
    up to infinity for min, down from minus infinity for max; the integers are then tried
    from the closed end until one meets the conditions (MAX_SIEVE_INTEGERS at most)."""
    ends = [_value(ref, step, expressions, bound) for ref in (step.target, step.operands[0])]
    tests = _sieve_tests(step, step.operands[1:], expressions, bound)
    low, high = ends
    if step.pick == "min" and high == sympy.oo and isinstance(low, sympy.Integer):
        high = low + MAX_SIEVE_INTEGERS - 1
    elif step.pick == "max" and low == -sympy.oo and isinstance(high, sympy.Integer):
        low = high - MAX_SIEVE_INTEGERS + 1
    if not (isinstance(low, sympy.Integer) and isinstance(high, sympy.Integer)):
        raise ExecutionError("unbounded", f"SIEVE from {str(low)[:30]} to {str(high)[:30]} "
                             f"({step.pick})")
    if high - low + 1 > MAX_SIEVE_INTEGERS:
        raise ExecutionError("too_large", f"{high - low + 1} integers to sieve")
    numbers = range(int(high), int(low) - 1, -1) if step.pick == "max" else \
        range(int(low), int(high) + 1)
    found = []
    for number in numbers:
        if all(holds(number, *taken) for holds, taken in tests):
            found.append(sympy.Integer(number))
            if step.pick in ("min", "max"):
                break
    if not found and step.pick != "count":
        raise ExecutionError("no_solution", f"no integer from {low} to {high} meets {step.form}")
    if step.pick == "all" and len(found) > MAX_SERIES_TERMS:
        raise ExecutionError("too_large", f"{len(found)} integers listed")
    return _pick(found, step.pick)


def in_base(number: int, base: int) -> str:
    """`number` written in `base` with the subscript MATH answers carry ("1200_7", "-37_8",
    "A5_{12}"); in base 10 the plain numeral."""
    if base == 10:
        return str(number)
    digits = "".join("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit]
                     for digit in _base_digits(number, base))
    subscript = str(base) if base < 10 else "{" + str(base) + "}"
    return ("-" if number < 0 else "") + digits + "_" + subscript


def _base_digits(number: int, base: int) -> list[int]:
    """The digits of |number| in `base`, most significant first."""
    digits = []
    rest = abs(number)
    while True:
        rest, digit = divmod(rest, base)
        digits.append(digit)
        if rest == 0:
            return digits[::-1]


_STEPS = {MathOp.SOLVE: _solve_step, MathOp.EVALUATE: _evaluate_step,
          MathOp.SIMPLIFY: _evaluate_step, MathOp.REMAINDER: _remainder_step,
          MathOp.GCD: _gcd_step, MathOp.LCM: _gcd_step, MathOp.DIVISORS: _divisors_step,
          MathOp.PRIME_FACTORS: _divisors_step, MathOp.DIGITS: _digits_step,
          MathOp.BASE: _base_step, MathOp.INTEGERS: _integers_step, MathOp.VIETA: _vieta_step,
          MathOp.CHOOSE: _choose_step, MathOp.PERMUTE: _choose_step,
          MathOp.ARRANGE: _arrange_step, MathOp.DISTRIBUTE: _distribute_step,
          MathOp.TRIALS: _trials_step, MathOp.DRAW: _draw_step, MathOp.SIEVE: _sieve_step,
          MathOp.EXTREMUM: _extremum_step, MathOp.COORDINATE: _coordinate_step,
          MathOp.DICE: _dice_step,
          **dict.fromkeys(GEOMETRY_FORMS, _geometry_step)}


def _latex(value: sympy.Basic) -> str:
    """`sympy.latex`, but a complex number as "a + bi": math-verify reads "8 + 4i" as 8+4i and
    sympy's "8 + 4 i" as 8 + 4 times a symbol i."""
    if not (isinstance(value, sympy.Expr) and value.is_number and value.is_real is False):
        return sympy.latex(value)
    real, imaginary = value.as_real_imag()
    unit = {1: "i", -1: "-i"}.get(imaginary, sympy.latex(imaginary) + "i")
    if real == 0:
        return unit
    return sympy.latex(real) + ("" if unit.startswith("-") else "+") + unit
