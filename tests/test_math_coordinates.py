"""COORDINATE steps of MATH programs (midpoints, other endpoints, slopes): the executor against
hand computations (a midpoint is half way along each axis, a segment's endpoints are the same
distance from its midpoint, perpendicular slopes multiply to -1), the rules that read them from a
question's words (solver/math_coordinates.py), problems whose words say more (left alone), and
MATH train problems labelled end to end against their dataset answers."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy
from conftest import labelled_math_step_ops

from mycelium.data.records import Problem
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.solver.executor import ExecutionError
from mycelium.solver.latex import parse_latex
from mycelium.solver.math_coordinates import coordinate_candidates
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program
from mycelium.solver.math_structure import math_spans


def coordinate(form: str, *numbers: str, pick: str = "unique",
               expressions: tuple[str, ...] = ()) -> str:
    target, *operands = numbers or (0,)
    return execute_math_program(MathProgram((MathStep(
        MathOp.COORDINATE, target, operands=tuple(operands), form=form, pick=pick),)),
        list(expressions))


def number(latex: str) -> sympy.Expr:
    return sympy.nsimplify(parse_latex(latex).doit())


def test_midpoint_and_endpoint_undo_each_other():
    a, b = (7, -6), (-3, 4)
    middle = (Fraction(a[0] + b[0], 2), Fraction(a[1] + b[1], 2))
    assert number(coordinate("midpoint", *map(str, (*a, *b)), pick="sum")) == sum(middle)
    assert number(coordinate("midpoint", *map(str, (*a, *b)), pick="product")) == \
        middle[0] * middle[1]
    # the other endpoint of the midpoint and a: b again, its coordinates summed and multiplied
    numbers = [str(value) for value in (*middle, *a)]
    assert number(coordinate("endpoint", *numbers, pick="sum")) == sum(b)
    assert number(coordinate("endpoint", *numbers, pick="product")) == b[0] * b[1]
    assert coordinate("midpoint", "1", "2", "3", "4", "5", "6", pick="all") == \
        sympy.latex(sympy.Tuple(sympy.Rational(5, 2), sympy.Rational(7, 2), sympy.Rational(9, 2)))


def test_slopes_rise_over_run_and_perpendiculars_multiply_to_minus_one():
    assert number(coordinate("slope", "-3", "5", "2", "-5")) == Fraction(-5 - 5, 2 + 3)
    slope = number(coordinate("slope", "4", "-7", "-5", "-1"))
    assert slope * number(coordinate("perpendicular_slope", "4", "-7", "-5", "-1")) == -1
    # 3x + 5y = 20 is y = -3/5 x + 4
    assert number(coordinate("line_slope", expressions=("3x+5y=20",))) == Fraction(-3, 5)
    assert number(coordinate("line_perpendicular_slope", expressions=("3x+5y=20",))) == \
        Fraction(5, 3)


@pytest.mark.parametrize("form,numbers,expressions", [
    ("slope", ("1", "2", "1", "5"), ()),                       # a vertical line
    ("perpendicular_slope", ("0", "2", "3", "2"), ()),         # perpendicular to a level one
    ("line_slope", (), ("x = 3",))])                           # no y: no slope
def test_lines_without_a_slope_are_refused(form, numbers, expressions):
    with pytest.raises(ExecutionError):
        coordinate(form, *numbers, expressions=expressions)


def test_coordinate_steps_survive_json():
    program = MathProgram((MathStep(MathOp.COORDINATE, "1", operands=("2", "3", "4"),
                                    form="midpoint", pick="sum"),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    with pytest.raises(ExecutionError):
        MathProgram.from_json({"steps": [{"op": "COORDINATE", "target": "1", "form": "slope",
                                          "operands": ["2", "3"]}]})


def read(text: str) -> list[MathStep]:
    question = text.rindex(".", 0, len(text) - 1) + 1 if "." in text[:-1] else 0
    return [step for steps in coordinate_candidates(text, math_spans(text),
                                                    (question, len(text)))
            for step in steps]


@pytest.mark.parametrize("text", [
    # a translation, a distance, a third number, the x-coordinate alone
    "Segment $s_1$ has endpoints at $(4,1)$ and $(-8,5)$.  Segment $s_2$ is obtained by "
    "translating $s_1$ by $2$ units to the right and $3$ units up. Find the midpoint of segment "
    "$s_2$.",
    "What is the distance from the midpoint of the segment with endpoints $(1,2)$ and $(3,4)$ "
    "to the origin?",
    "The midpoint of the segment with endpoints $(1,2)$ and $(3,4)$ is moved 5 units up. What "
    "is the midpoint now?",
    "What is the $x$-coordinate of the midpoint of the segment with endpoints $(1,2)$ and "
    "$(3,4)$?"])
def test_rules_leave_questions_that_say_more_alone(text):
    assert read(text) == []


# MATH train problems (every 4th row), with their dataset answers
TRAIN = [
    ("The midpoint of a line segment is located at $(1, -2)$. If one of the endpoints is "
     "$(4, 5)$, what is the other endpoint? Express your answer as an ordered pair.", "(-2,-9)"),
    ("Point $M(4,4)$ is the midpoint of $\\overline{AB}$. If point $A$ has coordinates $(8,4)$, "
     "what is the sum of the coordinates of point $B$?", "4"),
    ("What is the midpoint of the segment with endpoints (7,-6) and (-3,4)?", "(2,-1)"),
    ("The endpoints of a line segment are (2, 3) and (8, 15). What is the sum of the "
     "coordinates of the midpoint of the segment?", "14"),
    ("What is the slope of a line parallel to the line $2x - 4y = 9$? Express your answer as a "
     "common fraction.", "\\frac{1}{2}"),
]


@pytest.mark.parametrize("text,answer", TRAIN)
def test_math_train_coordinate_problems(text, answer):
    assert labelled_math_step_ops(text, answer) == [MathOp.COORDINATE]


def test_structure_track_answers_a_slope():
    (result,) = solve_math_problems([Problem.create(
        "math", "What is the slope of the line passing through $(-3,5)$ and $(2,-5)$?")])
    assert (result.track, result.answer) == ("structure", "-2")
