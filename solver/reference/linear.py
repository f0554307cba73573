"""Linear equations in one unknown, solved into plain arithmetic over the equation's own numbers.

Worked solutions often reason by algebra ("Let x be ...", "3x + 3 = 36", "x = <<11=11>>11"). The
program IR has no unknowns, so an equation `L = R` is rewritten as its solution's expression:
with L = a1·x + b1 and R = a2·x + b2 (each coefficient kept as an expression *tree over the
written numbers*, not a folded value), x = (b2 - b1) / (a1 - a2). "3x + 3 = 36" becomes
DIV(SUB(36, 3), 3), whose numbers still link back to the problem text.

Only what is linear is accepted: a product of two unknown terms, a division by an unknown or an
unknown in an exponent is rejected (None), as is a solution with a zero coefficient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from mycelium.solver.executor import ExecutionError
from mycelium.solver.expr import Binary, Node, Num, Unary, Var, evaluate, parse_expression
from mycelium.solver.program import Op

# The implicit coefficient of a bare unknown ("x" is 1·x); it has no place in the text.
_ONE = Num(Fraction(1), -1, -1)

# A side of an equation: digits, operators, parentheses, '$' and single letters (the unknown).
_SIDE_CHARS = r"(?:[\d.,()+\-*/×÷−–^ $]|(?<![A-Za-z])[A-Za-z](?![A-Za-z]))"
_LEFT_SIDE = re.compile(rf"{_SIDE_CHARS}+$")
_RIGHT_SIDE = re.compile(rf"{_SIDE_CHARS}+")
_SPACED_TIMES = re.compile(r"(?<=[\d)])\s+[xX]\s+(?=[$\d(.])")
_ARITHMETIC = re.compile(r"[-+*/×÷−–^(]|\d\s*[A-Za-z]")


class _NotLinear(Exception):
    pass


@dataclass(frozen=True)
class _Linear:
    """coefficient·x + constant, each an expression tree or None for zero."""

    coefficient: Node | None
    constant: Node | None


def _combine(op: Op, left: Node | None, right: Node | None) -> Node | None:
    if right is None:
        return left
    if left is None:
        return right if op is Op.ADD else Unary(Op.NEG, right)
    return Binary(op, left, right)


def _scale(op: Op, node: Node | None, factor: Node) -> Node | None:
    if node is _ONE and op is Op.MUL:
        return factor  # 9·x has coefficient 9, not MUL(1, 9)
    return None if node is None else Binary(op, node, factor)


def _linear(node: Node) -> _Linear:
    match node:
        case Num():
            return _Linear(None, node)
        case Var():
            return _Linear(_ONE, None)
        case Unary(op, operand):
            inner = _linear(operand)
            if op is Op.NEG:
                return _Linear(_combine(Op.SUB, None, inner.coefficient),
                               _combine(Op.SUB, None, inner.constant))
            return _Linear(_scale(Op.DIV, inner.coefficient, Num(Fraction(100), -1, -1)),
                           Unary(Op.PERCENT, inner.constant) if inner.constant else None)
        case Binary(op, left, right):
            a, b = _linear(left), _linear(right)
            if op in (Op.ADD, Op.SUB):
                return _Linear(_combine(op, a.coefficient, b.coefficient),
                               _combine(op, a.constant, b.constant))
            if op is Op.MUL:
                if a.coefficient is not None and b.coefficient is not None:
                    raise _NotLinear
                scaled, factor = (a, b) if b.coefficient is None else (b, a)
                if factor.constant is None:
                    return _Linear(None, None)  # times zero
                return _Linear(_scale(Op.MUL, scaled.coefficient, factor.constant),
                               _scale(Op.MUL, scaled.constant, factor.constant))
            if op is Op.DIV and b.coefficient is None and b.constant is not None:
                return _Linear(_scale(Op.DIV, a.coefficient, b.constant),
                               _scale(Op.DIV, a.constant, b.constant))
            if a.coefficient is None and b.coefficient is None:
                return _Linear(None, node)  # POW/MOD of constants
            raise _NotLinear
    raise _NotLinear


def solve_linear(left: str, right: str) -> Node | None:
    """The expression for the unknown of `left = right`, or None if it is not a linear equation
    in exactly one single-letter unknown."""
    left, right = left.strip(" ,."), right.strip(" ,.")
    letters = set(re.findall(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])", left + " " + right))
    if len(letters) != 1 or not _ARITHMETIC.search(left + " = " + right):
        return None  # "x = 10" states a result; it computes nothing
    variable = letters.pop()
    try:
        a = _linear(parse_expression(left.replace("$", ""), variable))
        b = _linear(parse_expression(right.replace("$", ""), variable))
    except (ExecutionError, _NotLinear):
        return None
    coefficient = _combine(Op.SUB, a.coefficient, b.coefficient)
    if coefficient is None:
        return None
    constant = _combine(Op.SUB, b.constant, a.constant) or Num(Fraction(0), -1, -1)
    solution = Binary(Op.DIV, constant, coefficient)
    try:
        if evaluate(coefficient) == 0:
            return None
        evaluate(solution)
    except ExecutionError:
        return None
    return solution


def find_linear_equations(line: str) -> list[tuple[int, Node]]:
    """(position, solution expression) of each linear equation written on the line, including
    each link of a chain "2x = 50 - 10 = 40"."""
    found = []
    # "100 x 1/5": a spaced x between numbers is a times sign, not an unknown.
    line = _SPACED_TIMES.sub(" * ", line)
    parts = line.split("=")
    offset = 0
    for index in range(len(parts) - 1):
        left_match = _LEFT_SIDE.search(parts[index])
        right_match = _RIGHT_SIDE.match(parts[index + 1])
        position = offset + (left_match.start() if left_match else 0)
        offset += len(parts[index]) + 1
        if not left_match or not right_match:
            continue
        solution = solve_linear(left_match.group(), right_match.group())
        if solution is not None:
            found.append((position, solution))
    return found
