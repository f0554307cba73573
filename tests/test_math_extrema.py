"""EXTREMUM steps of MATH programs (the largest or smallest value of an expression, or where it is
reached): the executor against hand computations (the vertex of a parabola, AM-GM's equality
case, a quadratic form completed to squares), optima that are not reached (refused), the rules
that read them from a question's words (solver/math_extrema.py) and the structure parser's
given, and MATH train problems labelled end to end against their dataset answers."""

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
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program


def optimum(target: str, pick: str, form: str = "value", given: tuple[str, ...] = ()) -> str:
    return execute_math_program(MathProgram((MathStep(
        MathOp.EXTREMUM, target, given=given, pick=pick, form=form),)), [])


def value(latex: str) -> sympy.Expr:
    return sympy.nsimplify(parse_latex(latex).doit())


@pytest.mark.parametrize("a,b,c", [(1, 11, -5), (-5, 40, -12), (9, 18, 7)])
def test_a_parabola_turns_at_its_vertex(a, b, c):
    # ax^2 + bx + c turns at x = -b/2a, where it is c - b^2/4a
    vertex = Fraction(-b, 2 * a)
    pick = "min" if a > 0 else "max"
    assert value(optimum(f"{a}x^2 + {b}x + {c}", pick, "argument")) == vertex
    assert value(optimum(f"{a}x^2 + {b}x + {c}", pick)) == c - Fraction(b * b, 4 * a)


def test_am_gm_equality_cases():
    # 4x + 1/x^4 = x + x + x + x + 1/x^4 >= 5 (x^4 / x^4)^(1/5) = 5, with equality at x = 1
    assert optimum("4x + \\frac{1}{x^4}", "min", given=("x > 0",)) == "5"
    assert optimum("4x + \\frac{1}{x^4}", "min", "argument", given=("x > 0",)) == "1"
    # sqrt(25 + x) + sqrt(25 - x) on [-25, 25]: its square is 50 + 2 sqrt(625 - x^2) <= 100
    assert optimum("\\sqrt{25 + x} + \\sqrt{25 - x}", "max",
                   given=("-25 \\le x \\le 25",)) == "10"


def test_a_closed_interval_reaches_its_optimum_at_an_end():
    # x^2 on [-1, 3] is largest at 3; x on [2, 3] smallest at 2 (no critical point at all)
    assert optimum("x^2", "max", given=("-1 \\le x \\le 3",)) == "9"
    assert optimum("x", "min", given=("2 \\le x \\le 3",)) == "2"


def test_a_quadratic_form_completed_to_squares():
    # x^2 + y^2 - 6x + 4y + 18 = (x - 3)^2 + (y + 2)^2 + 5
    assert optimum("x^2+y^2-6x+4y+18", "min") == "5"
    # 2x^2 + 2y^2 + 5z^2 - 2xy - 4yz - 4x - 2z + 15 = (x - y)^2 + (x - 2)^2 + (y - 2z)^2
    #   + (z - 1)^2 + 10
    x, y, z = sympy.symbols("x y z")
    squares = (x - y) ** 2 + (x - 2) ** 2 + (y - 2 * z) ** 2 + (z - 1) ** 2 + 10
    assert sympy.expand(squares) == \
        2 * x**2 + 2 * y**2 + 5 * z**2 - 2 * x * y - 4 * y * z - 4 * x - 2 * z + 15
    assert optimum("2x^2 + 2y^2 + 5z^2 - 2xy - 4yz - 4x - 2z + 15", "min") == "10"


@pytest.mark.parametrize("target,pick,given,reason", [
    ("x^3", "min", (), "unbounded"),                      # down to minus infinity
    ("x^2", "max", (), "unbounded"),
    ("\\frac{1}{x^2+1}", "min", (), "unbounded"),         # tends to 0, never reaches it
    ("\\frac{1}{x}", "min", ("x > 0",), "no_solution"),    # the same, with no critical point
    ("x^2 - y^2", "min", (), "unbounded"),                # a saddle
    ("x^2 + y^2", "min", ("x > 1",), "not_solvable"),     # several variables, constrained
    ("x + y", "max", ("x + y = 1",), "underdetermined")])  # an optimum under an equation
def test_optima_that_are_not_reached_or_not_read_are_refused(target, pick, given, reason):
    with pytest.raises(ExecutionError) as error:
        optimum(target, pick, given=given)
    assert error.value.reason == reason


def test_a_tie_has_no_single_argument():
    # x^4 - 2x^2 is smallest (-1) at both x = 1 and x = -1
    assert optimum("x^4-2x^2", "min") == "-1"
    with pytest.raises(ExecutionError) as error:
        optimum("x^4-2x^2", "min", "argument")
    assert error.value.reason == "not_single_answer"


def test_extremum_steps_survive_json():
    program = MathProgram((MathStep(MathOp.EXTREMUM, 0, given=("x > 0",), pick="min",
                                    form="argument"),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    for pick, form in (("sum", "value"), ("min", "simplify")):
        with pytest.raises(ExecutionError):
            MathProgram.from_json({"steps": [{"op": "EXTREMUM", "target": 0, "pick": pick,
                                              "form": form}]})


def candidate_ops(text: str) -> list[list[MathOp]]:
    from mycelium.data.errors import Dropped
    from mycelium.signals.clauses import clause_spans
    from mycelium.solver.math_structure import math_structure

    try:
        _, candidates = math_structure(text, clauses=clause_spans(text))
    except Dropped:  # no candidate at all
        return []
    return [[step.op for step in candidate.steps] for candidate in candidates]


@pytest.mark.parametrize("text", [
    # an optimum under an equation; over integers; the numbers stated in words; a second
    # expression the step would not read
    "Let $x$ and $y$ be real numbers such that $x + y = 1.$  Find the maximum value of $xy.$",
    "What is the maximum value of $-x^2 + 4x$ for integers $x$?",
    "The numbers $a,$ $b,$ $c,$ $d$ are equal to 1, 2, 3, 4, in some order.  Find the largest "
    "possible value of $ab + bc + cd + da.$",
    "Let $g(x) = x + 1$ on the interval $[0, 2]$. Find the maximum value of $x^2 - 4x$."])
def test_rules_leave_other_optima_alone(text):
    assert all(MathOp.EXTREMUM not in ops for ops in candidate_ops(text))


# MATH train problems (every 4th row), with their dataset answers
TRAIN = [
    ("What value of $x$ will give the minimum value for $x^2 + 11x - 5$?", "-\\frac{11}{2}"),
    ("What is the maximum value of the expression $-5r^2 + 40r - 12$ for real $r$?", "68"),
    ("Find the minimum value of\n\\[4x + \\frac{1}{x^4}\\]for $x > 0.$", "5"),
    ("Find the minimum value of\n\\[\\frac{x^2 + 7}{\\sqrt{x^2 + 3}}\\]over all real numbers "
     "$x.$", "4"),
    ("For real numbers $x,$ $y,$ and $z,$ find the minimum value of\n\\[2x^2 + 5y^2 + 2z^2 + "
     "4xy - 4yz - 2z - 2x.\\]", "-1"),
]


@pytest.mark.parametrize("text,answer", TRAIN)
def test_math_train_extremum_problems(text, answer):
    assert labelled_math_step_ops(text, answer) == [MathOp.EXTREMUM]


def test_structure_track_answers_an_optimum():
    (result,) = solve_math_problems([Problem.create(
        "math", "What is the minimum value of $a^2+6a-7$?")])
    assert (result.track, result.answer) == ("structure", "-16")
