"""LaTeX math (MATH problems and answers) to sympy, through latex2sympy2-extended, under limits.

The ANTLR-based parser of latex2sympy2-extended is the sanctioned route from LaTeX text to sympy;
nothing here calls `sympify` or `eval` on text. Every call runs under a wall-clock limit
(`with_time_limit`), and inputs longer than MAX_LATEX characters are refused, so a hostile or
pathological expression ends as `ExecutionError("timeout" | "too_large" | "unparseable")`.
"""

from __future__ import annotations

import math
import pickle
from fractions import Fraction

import sympy

# Imported here, in the parent, so the forked worker starts with the parser already loaded.
from latex2sympy2_extended import latex2sympy

from mycelium.solver.executor import MAX_BITS, ExecutionError, with_time_limit

MAX_LATEX = 5_000  # characters; MATH answers are short, problems' formulas rarely pass 1,000
DEFAULT_TIMEOUT_S = 5.0
# A value whose size bound passes this many bits is refused before sympy evaluates it.
MAX_VALUE_BITS = 1 << 17


def parse_latex(text: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> sympy.Basic:
    """Parse LaTeX into a sympy expression (or Eq/relation/set), unevaluated as written."""
    parse_latex_checks(text)
    return with_time_limit(_latex2sympy, text, seconds=timeout_s)


def parse_latex_checks(text: str) -> None:
    """Refuse what is not worth a parser run: empty or oversized input."""
    if len(text) > MAX_LATEX:
        raise ExecutionError("too_large", f"LaTeX longer than {MAX_LATEX} characters")
    if not text.strip():
        raise ExecutionError("unparseable", "empty LaTeX")


def _latex2sympy(text: str) -> sympy.Basic:
    try:
        expression = latex2sympy(text)
    except Exception as error:  # the ANTLR parser raises bare Exceptions
        raise ExecutionError("unparseable", f"{text[:60]!r}: {error}".split("\n")[0]) from None
    # The parse is unevaluated ("9^{9^{9^9}}" stays a tower), but unpickling a sympy object
    # rebuilds it with evaluation: the caller would compute the tower outside any time limit.
    # So the round trip happens here, inside the limit, and what comes back is bounded.
    # A bound computed without evaluating anything goes first, so the tower is refused at once.
    check_value_size(expression)
    return pickle.loads(pickle.dumps(expression))


def value_bits(expression: sympy.Basic) -> float:
    """An upper bound on the bits of |expression|'s value (a symbol counts as a small number),
    computed without evaluating anything."""
    if isinstance(expression, sympy.Integer):
        return abs(int(expression)).bit_length()
    if isinstance(expression, sympy.Rational):
        return max(abs(expression.p).bit_length(), expression.q.bit_length())
    if isinstance(expression, sympy.Pow):
        base, exponent = expression.args
        if base in (sympy.S.Zero, sympy.S.One, sympy.S.NegativeOne):
            return 1
        if isinstance(exponent, sympy.Rational):
            size = math.ceil(abs(exponent))
        else:  # |exponent| < 2**bits(exponent)
            exponent_bits = value_bits(exponent)
            size = math.inf if exponent_bits > 40 else 2 ** exponent_bits
        return max(value_bits(base), 2) * size
    if isinstance(expression, sympy.factorial | sympy.binomial):
        argument_bits = value_bits(expression.args[0])
        return math.inf if argument_bits > 40 else (argument_bits + 1) * 2 ** argument_bits
    if not expression.args:
        return 2  # a symbol, pi, E, I
    return sum(value_bits(arg) for arg in expression.args) + len(expression.args)


def check_value_size(expression: sympy.Basic) -> None:
    if value_bits(expression) > MAX_VALUE_BITS:
        raise ExecutionError("too_large", f"{str(expression)[:60]}: a value past "
                             f"{MAX_VALUE_BITS} bits")


def simplify_latex(text: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> sympy.Basic:
    """Parse and simplify, both inside one time limit."""
    parse_latex_checks(text)
    return with_time_limit(_parse_and_simplify, text, seconds=timeout_s)


def _parse_and_simplify(text: str) -> sympy.Basic:
    expression = _latex2sympy(text)
    return sympy.simplify(expression) if isinstance(expression, sympy.Expr) else expression


def to_fraction(expression: sympy.Basic) -> Fraction | None:
    """The exact rational value of a sympy number, or None if it is not a (bounded) rational."""
    if not isinstance(expression, sympy.Rational):
        return None
    value = Fraction(int(expression.p), int(expression.q))
    if max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise ExecutionError("too_large", "rational beyond the size bound")
    return value
