"""Program IR rendering and JSON round trip; the exact executor's typed errors; time limits."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --------------------------------------------------------------------------- expression keys

LEAVES = [Quantity(Fraction(value), start, start + 1, str(value))
          for start, value in ((0, 3), (10, 5), (20, 3), (30, 7))]  # two mentions of 3


def _sympy_value(program: Program):
    """The program's answer as a sympy expression over one symbol per leaf (the reference)."""
    import sympy

    values: list = []
    for step in program.steps:
        args = [values[arg.index] if isinstance(arg, StepRef) else sympy.Symbol(f"x{arg.start}")
                for arg in step.args]
        match step.op:
            case Op.ADD:
                values.append(sympy.Add(*args))
            case Op.MUL:
                values.append(sympy.Mul(*args))
            case Op.SUB:
                values.append(args[0] - args[1])
            case _:
                values.append(args[0] / args[1])
    return values[-1]


@st.composite
def programs(draw) -> Program:
    steps: list[Step] = []
    for index in range(draw(st.integers(1, 4))):
        refs = [StepRef(earlier) for earlier in range(index)]
        args = tuple(draw(st.sampled_from(LEAVES + refs)) for _ in range(2))
        steps.append(Step(draw(st.sampled_from([Op.ADD, Op.SUB, Op.MUL, Op.DIV])), args))
    return Program(tuple(steps))


@settings(max_examples=150, deadline=None)
@given(programs(), programs(), st.randoms(use_true_random=False))
def test_expression_keys_name_one_expression_and_ignore_argument_order(first, second, random):
    """Programs with one key compute one expression (sympy, a symbol per mention, is the
    reference); shuffling ADD's and MUL's arguments keeps the key."""
    import sympy

    if first.expression_key() == second.expression_key():
        assert sympy.cancel(_sympy_value(first) - _sympy_value(second)) == 0
    shuffled = Program(tuple(
        Step(step.op, tuple(random.sample(step.args, len(step.args))))
        if step.op in (Op.ADD, Op.MUL) else step for step in first.steps))
    assert shuffled.expression_key() == first.expression_key()


def test_expression_keys_of_worked_programs():
    a, b, c, d = LEAVES
    # 3*5 + 3*7, its steps in the other order and each product's factors swapped
    one = Program((Step(Op.MUL, (a, b)), Step(Op.MUL, (c, d)), Step(Op.ADD, (StepRef(0),
                                                                           StepRef(1)))))
    other = Program((Step(Op.MUL, (d, c)), Step(Op.MUL, (b, a)), Step(Op.ADD, (StepRef(1),
                                                                             StepRef(0)))))
    assert one.expression_key() == other.expression_key()
    # (3 + 5) + 7 and 3 + (5 + 7): one sum; a step the answer does not use changes nothing
    left = Program((Step(Op.ADD, (a, b)), Step(Op.ADD, (StepRef(0), d))))
    right = Program((Step(Op.MUL, (a, a)), Step(Op.ADD, (b, d)), Step(Op.ADD, (a, StepRef(1)))))
    assert left.expression_key() == right.expression_key()
    product_then_sum = Program((Step(Op.MUL, (a, b)), Step(Op.ADD, (StepRef(0), d))))
    assert product_then_sum.expression_key() != left.expression_key()  # 3*5 + 7 vs 3 + 5 + 7
    # 3 - 5 is not 5 - 3; the 3 at char 0 is not the 3 at char 20, though their values agree
    assert (Program((Step(Op.SUB, (a, b)),)).expression_key()
            != Program((Step(Op.SUB, (b, a)),)).expression_key())
    assert (Program((Step(Op.ADD, (a, b)),)).expression_key()
            != Program((Step(Op.ADD, (c, b)),)).expression_key())
