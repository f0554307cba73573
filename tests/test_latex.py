"""LaTeX through latex2sympy2-extended under the worker time limit: exact values, typed errors."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from mycelium.solver.executor import ExecutionError
from mycelium.solver.latex import MAX_LATEX, parse_latex, simplify_latex, to_fraction


@pytest.mark.parametrize(("latex", "value"), [
    (r"\frac{1}{2}+\frac{1}{3}", Fraction(5, 6)),  # 3/6 + 2/6, by hand
    (r"\dfrac{3}{4}\cdot 8", Fraction(6)),
    (r"2^{10}", Fraction(1024)),
    (r"\sqrt{16}", Fraction(4)),
    (r"(1+2)\times 3 - 4", Fraction(5)),
])
def test_exact_values(latex, value):
    assert to_fraction(simplify_latex(latex)) == value


def test_equations_and_symbols_parse():
    equation = parse_latex(r"x^2 - 5x + 6 = 0")
    assert isinstance(equation, sympy.Eq)
    assert set(sympy.solve(equation)) == {2, 3}


def test_irrational_is_not_a_fraction():
    assert to_fraction(simplify_latex(r"\sqrt{2}")) is None


@pytest.mark.parametrize("latex", [r"\frac{1}{", r"\__import__('os')", "", "   "])
def test_unparseable_is_typed(latex):
    with pytest.raises(ExecutionError) as caught:
        parse_latex(latex)
    assert caught.value.reason == "unparseable"


def test_oversized_input_is_refused_before_parsing():
    with pytest.raises(ExecutionError) as caught:
        parse_latex("1+" * MAX_LATEX + "1")
    assert caught.value.reason == "too_large"


def test_huge_tower_is_refused_instead_of_hanging():
    with pytest.raises(ExecutionError) as caught:
        simplify_latex(r"9^{9^{9}}", timeout_s=1)
    assert caught.value.reason in ("timeout", "too_large")
    assert to_fraction(simplify_latex(r"\frac{2}{4}")) == Fraction(1, 2)  # the worker recovers


def test_unevaluated_tower_does_not_hang_the_caller():
    # The parse alone leaves the tower unevaluated; it must not come back to the caller as an
    # object that evaluates itself outside the limit (unpickling rebuilds sympy with evaluation).
    with pytest.raises(ExecutionError) as caught:
        parse_latex(r"9^{9^{9^9}}", timeout_s=1)
    assert caught.value.reason in ("timeout", "too_large")


def test_integer_beyond_the_size_bound_is_refused():
    with pytest.raises(ExecutionError) as caught:
        parse_latex(r"2^{200000}", timeout_s=5)
    assert caught.value.reason == "too_large"
    assert to_fraction(parse_latex(r"2^{10}")) == 2**10
