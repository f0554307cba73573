"""Elided series ("1 + 2 + \\dots + 49") in MATH programs: how solver/math_series.py cuts them,
their values against sums worked out by hand here, and MATH train problems labelled end to end
against their dataset answers."""

from __future__ import annotations

import pytest

from mycelium.data.errors import Dropped
from mycelium.data.gold import Gold, GoldProblem
from mycelium.data.math_answers import math_equivalent
from mycelium.data.records import Problem
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program
from mycelium.solver.math_series import read_series
from mycelium.specialists.labels.math import label_math_problem


def evaluate(latex: str) -> str:
    return execute_math_program(MathProgram((MathStep(MathOp.EVALUATE, 0),)), [latex])


def test_read_series_cuts_the_innermost_group():
    text, (series,) = read_series("\\frac{1 + 2 + \\dots + 10}{5}")
    assert text == "\\frac{\\Xi_{0}}{5}"
    assert (series.kind, series.before, series.after) == (
        "sum", ((1, "1"), (1, "2")), ((1, "10"),))
    assert series.template() == ("(1+1\\kappa)", 10)
    text, series_list = read_series("(x + 1)(x^{4} + x^{2} + \\dots + 1) = 0")
    assert text == "(x + 1)(\\Xi_{0}) = 0" and series_list[0].after == ((1, "1"),)


def test_read_series_leaves_what_it_cannot_read():
    for latex in ("\\sqrt{12 + \\sqrt{12 + \\cdots}}", "a_1, a_2, \\dots", "1 + x"):
        assert read_series(latex) == (latex, [])


@pytest.mark.parametrize(("latex", "answer"), [
    # 1 + ... + 49 = 49*50/2
    ("1+2+3+4+\\dots +48+49", "1225"),
    # the numerals of the template step: 1^2 + ... + 10^2 = 10*11*21/6
    ("1^2 + 2^2 + 3^2 + \\dots + 10^2", "385"),
    # signs alternating: 1 - 2 + 3 - 4 + 5 - 6 = -3
    ("1 - 2 + 3 - \\dots - 6", "-3"),
    # a product whose terms telescope: 2/3 * 3/4 * ... * 8/9 = 2/9
    ("\\frac{2}{3} \\times \\frac{3}{4} \\times \\dotsm \\times \\frac{8}{9}", "\\frac{2}{9}"),
    # exponents 1..5 over 2, 4, 6: x^15 / x^12... here x^(1+2+3) / x^(2+4+6) = x^-6
    ("\\frac{x^1 \\cdot x^2 \\cdots x^{3}}{x^2 \\cdot x^4 \\cdots x^{6}}", "\\frac{1}{x^{6}}"),
    # geometric by value: 2 + 4 + ... + 1024 = 2^11 - 2
    ("2 + 4 + 8 + \\dots + 1024", "2046"),
    # infinite geometric: ratio -2/3, so 1 / (1 + 2/3) = 3/5
    ("1 - \\frac{2}{3} + \\frac{4}{9} - \\dots", "\\frac{3}{5}"),
    # inside a larger expression: 2 * (1 + 1/2 + 1/4 + ...) = 4
    ("2\\left(1 + \\frac{1}{2} + \\frac{1}{4} + \\cdots\\right)", "4"),
])
def test_series_values(latex, answer):
    assert evaluate(latex) == answer


@pytest.mark.parametrize("latex", [
    "1 + 2 + 4 + \\dots + 100",  # neither arithmetic nor geometric
    "1 + 2 + 4 + \\dots",  # infinite, ratio 2
    "3 + 5 + 7 + \\dots + 10",  # 10 is not in 3, 5, 7, ...
])
def test_unreadable_series_are_typed(latex):
    with pytest.raises(ExecutionError) as caught:
        evaluate(latex)
    assert caught.value.reason == "unreadable_series"


def gold_problem(text: str, answer: str) -> GoldProblem:
    problem = Problem.create("math", text)
    return GoldProblem(problem=problem, gold=Gold(problem_id=problem.id, answer=answer,
                                                  solution=""))


@pytest.mark.parametrize(("text", "answer"), [
    ("Evaluate $$\\lceil\\sqrt{5}\\rceil + \\lceil\\sqrt{6}\\rceil + \\lceil\\sqrt{7}\\rceil + "
     "\\cdots + \\lceil\\sqrt{29}\\rceil$$", "112"),
    ("Find \\[\\binom{100}{0} - \\binom{100}{1} + \\binom{100}{2} - \\dots + "
     "\\binom{100}{100}.\\]", "0"),
    ("Evaluate the infinite geometric series: $$1-\\frac{2}{7}+\\frac{4}{49}-\\frac{8}{343}+"
     "\\dots$$", "\\frac{7}{9}"),
    ("What is the remainder when the sum $1^2 + 2^2 + 3^2 + \\dots + 10^2$ is divided by 11?",
     "0"),
])
def test_math_train_series(text, answer):
    labels = label_math_problem(gold_problem(text, answer))
    assert labels.program


def test_a_wrong_series_sum_is_not_reproduced():
    with pytest.raises(Dropped) as drop:
        label_math_problem(gold_problem("Find the sum: $1+2+3+4+\\dots +48+49$", "1224"))
    assert drop.value.reason == "answer_not_reproduced"
    assert math_equivalent("1225", evaluate("1+2+3+4+\\dots +48+49"))
