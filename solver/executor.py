"""Exact execution of programs over `fractions.Fraction`, with size bounds and typed errors.

Every failure is an `ExecutionError` with a fixed snake_case `reason`:
  division_by_zero, too_large (a value or a power would exceed MAX_BITS), non_integer_exponent
  (the result would be irrational), invalid_reference (a step refers to itself or a later step),
  bad_arity, unparseable (raised by the parsers), timeout (raised by `with_time_limit`).
Bounds are checked *before* the arithmetic is done, so `9**9**9` fails in microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from mycelium.data.limits import TimeLimitExceeded, run_with_time_limit
from mycelium.solver.program import ARITY, Arg, Constant, Literal, Op, Program, Quantity, StepRef

# 4096 bits is ~1233 decimal digits: far beyond any GSM8K/MATH quantity, small enough that every
# operation on such numbers is instant.
MAX_BITS = 4096

T = TypeVar("T")


class ExecutionError(ValueError):
    """A program or expression that cannot be executed exactly; `reason` is snake_case."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # keep reason and detail when pickled back from the sympy worker
        return (ExecutionError, (self.reason, self.detail))


def _bits(value: Fraction) -> int:
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length())


def check_size(value: Fraction) -> Fraction:
    if _bits(value) > MAX_BITS:
        raise ExecutionError("too_large", f"value with {_bits(value)} bits > {MAX_BITS}")
    return value


def power(base: Fraction, exponent: Fraction) -> Fraction:
    """base ** exponent for an integer exponent, refusing results that would exceed MAX_BITS."""
    if exponent.denominator != 1:
        raise ExecutionError("non_integer_exponent", f"{base} ** {exponent}")
    n = exponent.numerator
    if base == 0:
        if n < 0:
            raise ExecutionError("division_by_zero", "0 to a negative power")
        return Fraction(0) if n else Fraction(1)
    if abs(base) == 1:
        return base ** n
    # |result| has about |n| * bits(base) bits; refuse before computing it.
    if abs(n) * max(_bits(base) - 1, 1) > MAX_BITS:
        raise ExecutionError("too_large", f"power with exponent {n}")
    return check_size(base ** n)


def apply(op: Op, values: list[Fraction]) -> Fraction:
    """One operation on exact values."""
    low, high = ARITY[op]
    if len(values) < low or (high is not None and len(values) > high):
        raise ExecutionError("bad_arity", f"{op.value} got {len(values)} arguments")
    match op:
        case Op.ADD:
            result = sum(values, Fraction(0))
        case Op.SUB:
            result = values[0] - values[1]
        case Op.MUL:
            result = Fraction(1)
            for value in values:
                result *= value
                check_size(result)
        case Op.DIV | Op.MOD | Op.FLOOR_DIV:
            if values[1] == 0:
                raise ExecutionError("division_by_zero", f"{op.value}({values[0]}, 0)")
            if op is Op.DIV:
                result = values[0] / values[1]
            elif op is Op.MOD:
                result = values[0] % values[1]
            else:
                result = Fraction(values[0] // values[1])
        case Op.POW:
            result = power(values[0], values[1])
        case Op.NEG:
            result = -values[0]
        case Op.PERCENT:
            result = values[0] / 100
        case Op.CEIL:
            result = Fraction(math.ceil(values[0]))
        case Op.FLOOR:
            result = Fraction(math.floor(values[0]))
    return check_size(result)


def arg_value(arg: Arg, results: list[Fraction]) -> Fraction:
    match arg:
        case StepRef(index):
            if not 0 <= index < len(results):
                raise ExecutionError("invalid_reference",
                                     f"s{index + 1} used before it is computed")
            return results[index]
        case Quantity(value=value) | Constant(value=value) | Literal(value=value):
            return value
    raise ExecutionError("bad_argument", repr(arg))


def execute_steps(program: Program) -> list[Fraction]:
    """The exact value of every step, in order."""
    results: list[Fraction] = []
    for step in program.steps:
        results.append(apply(step.op, [arg_value(arg, results) for arg in step.args]))
    return results


def execute(program: Program) -> Fraction:
    """The program's answer: the exact value of its last step."""
    if not program.steps:
        raise ExecutionError("empty_program")
    return execute_steps(program)[-1]


def with_time_limit(function: Callable[..., T], *args: object, seconds: float) -> T:
    """`function(*args)` in the time-limited worker process (`mycelium.data.limits`);
    ExecutionError('timeout') when it overruns. `function` must be a module-level function."""
    try:
        return run_with_time_limit(function, *args, seconds=seconds)
    except TimeLimitExceeded as error:
        raise ExecutionError("timeout", str(error)) from None
