"""Program IR rendering and JSON round trip; the exact executor's typed errors; time limits."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import pytest

from mycelium.solver.executor import ExecutionError, execute, execute_steps, with_time_limit
from mycelium.solver.program import (
    Constant,
    Literal,
    Op,
    Program,
    Quantity,
    Step,
    StepRef,
    format_number,
)

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
           "clips in May. How many clips did Natalia sell altogether in April and May?")


def natalia_program() -> Program:
    forty_eight = NATALIA.index("48")
    half = NATALIA.index("half")
    return Program((
        Step(Op.DIV, (Quantity(Fraction(48), forty_eight, forty_eight + 2, "48"),
                      Quantity(Fraction(2), half, half + 4, "half"))),
        Step(Op.ADD, (Quantity(Fraction(48), forty_eight, forty_eight + 2, "48"), StepRef(0))),
    ))


def test_renders_one_readable_line_per_step():
    assert natalia_program().render() == (
        "s1 = DIV(48 [chars 22-24], 2 [chars 68-72])\n"
        "s2 = ADD(48 [chars 22-24], s1)")
    minutes = Program((Step(Op.MUL, (Literal(Fraction(3)), Constant("minutes_per_hour",
                                                                      Fraction(60)))),))
    assert minutes.render() == "s1 = MUL(3 [unlinked], 60 [minutes_per_hour])"


def test_executes_exactly_and_round_trips_through_json():
    program = natalia_program()
    assert execute(program) == 72  # the GSM8K answer of this problem
    again = Program.from_json(program.to_json())
    assert again == program and execute(again) == 72


def test_rationals_stay_exact():
    program = Program((Step(Op.DIV, (Literal(Fraction(1)), Literal(Fraction(3)))),
                       Step(Op.MUL, (StepRef(0), Literal(Fraction(3))))))
    assert execute_steps(program) == [Fraction(1, 3), Fraction(1)]


@pytest.mark.parametrize(("steps", "reason"), [
    ((Step(Op.DIV, (Literal(Fraction(1)), Literal(Fraction(0)))),), "division_by_zero"),
    ((Step(Op.MOD, (Literal(Fraction(1)), Literal(Fraction(0)))),), "division_by_zero"),
    ((Step(Op.POW, (Literal(Fraction(9)), Literal(Fraction(9**9)))),), "too_large"),
    ((Step(Op.POW, (Literal(Fraction(2)), Literal(Fraction(1, 2)))),), "non_integer_exponent"),
    ((Step(Op.POW, (Literal(Fraction(0)), Literal(Fraction(-1)))),), "division_by_zero"),
    ((Step(Op.ADD, (StepRef(0), Literal(Fraction(1)))),), "invalid_reference"),
    ((Step(Op.SUB, (Literal(Fraction(1)),)),), "bad_arity"),
    ((), "empty_program"),
])
def test_typed_errors(steps, reason):
    with pytest.raises(ExecutionError) as caught:
        execute(Program(steps))
    assert caught.value.reason == reason


def test_magnitude_bound_on_products():
    big = Literal(Fraction(10) ** 700)
    with pytest.raises(ExecutionError) as caught:
        execute(Program((Step(Op.MUL, (big, big)),)))
    assert caught.value.reason == "too_large"


def test_floor_ceil_percent_neg():
    value = Literal(Fraction(15, 2))
    assert [execute(Program((Step(op, (value,)),))) for op in
            (Op.FLOOR, Op.CEIL, Op.PERCENT, Op.NEG)] == [7, 8, Fraction(3, 40), Fraction(-15, 2)]


@pytest.mark.parametrize(("value", "text"), [
    (Fraction(72), "72"), (Fraction(-3, 2), "-1.5"), (Fraction(1, 3), "1/3"),
    (Fraction(1, 40), "0.025"), (Fraction(-1, 8), "-0.125")])
def test_format_number(value, text):
    assert format_number(value) == text


def _spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def _huge_power() -> int:
    return 9 ** (9 ** 9)  # one C call: no Python signal handler can interrupt it


def _fail() -> None:
    raise ExecutionError("unparseable", "from the worker")


def test_time_limit_stops_a_call_that_signals_cannot_interrupt():
    started = time.monotonic()
    with pytest.raises(ExecutionError) as caught:
        with_time_limit(_huge_power, seconds=1)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 10
    assert with_time_limit(_spin, 0.01, seconds=5) == "finished"  # a fresh worker serves on


def test_time_limit_works_off_the_main_thread_and_keeps_error_types():
    results: list[object] = []

    def in_thread():
        try:
            with_time_limit(_spin, 30, seconds=0.5)
        except ExecutionError as error:
            results.append(error.reason)
        try:
            with_time_limit(_fail, seconds=5)
        except ExecutionError as error:
            results.append((error.reason, error.detail))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(60)
    assert results == ["timeout", ("unparseable", "from the worker")]
