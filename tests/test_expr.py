"""The whitelisting arithmetic parser: agrees with Python's Fraction arithmetic on random trees,
and rejects everything that is not arithmetic with a typed error, quickly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mycelium.solver.executor import ExecutionError, execute, with_time_limit
from mycelium.solver.expr import Binary, Num, evaluate, leaves, parse_expression, to_steps
from mycelium.solver.program import Literal, Op, Program, Step, StepRef

# ---- random expression trees, rendered to text, against Fraction arithmetic -----------------

_numbers = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(lambda n: (str(n), Fraction(n))),
    st.integers(min_value=0, max_value=10**6).map(lambda n: (f"{n:,}", Fraction(n))),
    st.tuples(st.integers(0, 999), st.integers(1, 999)).map(
        lambda pair: (f"{pair[0]}.{pair[1]:03d}", Fraction(pair[0]) + Fraction(pair[1], 1000))),
)


def _combine(children):
    left, right = children[0], children[1]
    return st.sampled_from(["+", "-", "*", "/", "neg", "pct", "pow"]).map(
        lambda op: _apply_text(op, left, right))


def _apply_text(op, left, right):
    (left_text, left_value), (right_text, right_value) = left, right
    if op == "+":
        return f"({left_text} + {right_text})", left_value + right_value
    if op == "-":
        return f"({left_text} - {right_text})", left_value - right_value
    if op == "*":
        return f"({left_text} * {right_text})", left_value * right_value
    if op == "/":
        if right_value == 0:
            return f"({left_text} + {right_text})", left_value + right_value
        return f"({left_text} / {right_text})", left_value / right_value
    if op == "neg":
        return f"-({left_text})", -left_value
    if op == "pct":
        return f"({left_text})%", left_value / 100
    # small integer exponents keep values bounded
    exponent = int(abs(right_value)) % 4
    return f"({left_text}) ^ {exponent}", left_value ** exponent


_trees = st.recursive(_numbers, lambda inner: st.lists(inner, min_size=2, max_size=2).flatmap(
    _combine), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_random_trees_evaluate_like_fraction_arithmetic(tree):
    text, expected = tree
    assert evaluate(parse_expression(text)) == expected


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_programs_built_from_trees_execute_to_the_same_value(tree):
    text, expected = tree
    node = parse_expression(text)
    steps: list[Step] = []
    result = to_steps(node, lambda number: Literal(number.value), steps)
    if isinstance(result, StepRef):
        assert execute(Program(tuple(steps))) == expected
    else:  # a bare number needs no step
        assert result.value == expected


@pytest.mark.parametrize(("text", "value"), [
    ("48/2", Fraction(24)),
    ("100-50-30-15", Fraction(5)),
    ("20% * 50", Fraction(10)),  # percent sign
    ("17 % 5", Fraction(2)),  # modulo: an operand follows
    ("-2^2", Fraction(-4)),  # as in Python: -(2**2)
    ("2**-1", Fraction(1, 2)),
    ("2^3^2", Fraction(512)),  # right-associative
    ("1,080 + .5", Fraction(2161, 2)),
    ("7 // 2", Fraction(3)),
    ("3 × 4 ÷ 6 − 1", Fraction(1)),
    ("((1))", Fraction(1)),
])
def test_worked_examples(text, value):
    assert evaluate(parse_expression(text)) == value


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "().__class__",
    "(1).__class__",
    "x + 1",
    "lambda: 1",
    "open('f')",
    "[1, 2]",
    "1; 2",
    "2(3)",  # no implied products outside algebra
    "1,00",
    "",
    "(1 + 2",
    "1 +",
    "1 2",
])
def test_rejects_what_is_not_arithmetic(text):
    with pytest.raises(ExecutionError) as caught:
        with_time_limit(parse_expression, text, seconds=5)
    assert caught.value.reason == "unparseable"


@pytest.mark.parametrize("text", ["9**9**9", "10^10^10", "2^100000", "(10^4000)*(10^4000)"])
def test_huge_powers_fail_typed_and_fast(text):
    # The time limit turns a hang into a 'timeout' failure; the bound check must answer first.
    with pytest.raises(ExecutionError) as caught:
        with_time_limit(_parse_and_evaluate, text, seconds=5)
    assert caught.value.reason == "too_large"


def _parse_and_evaluate(text: str) -> Fraction:
    return evaluate(parse_expression(text))


def test_deep_nesting_is_a_typed_error_not_a_recursion_crash():
    with pytest.raises(ExecutionError) as caught:
        parse_expression("(" * 5000 + "1" + ")" * 5000)
    assert caught.value.reason == "unparseable"


def test_division_by_zero_is_typed():
    with pytest.raises(ExecutionError) as caught:
        evaluate(parse_expression("1 / (2 - 2)"))
    assert caught.value.reason == "division_by_zero"


def test_leaves_keep_char_spans_of_the_text():
    text = "12 * 1,080 - 3"
    numbers = leaves(parse_expression(text))
    assert [text[number.start:number.end] for number in numbers] == ["12", "1,080", "3"]


def test_add_chains_flatten_into_one_step_and_sub_stays_binary():
    steps: list[Step] = []
    to_steps(parse_expression("5+8+0"), lambda number: Literal(number.value), steps)
    assert [step.op for step in steps] == [Op.ADD] and len(steps[0].args) == 3
    steps = []
    to_steps(parse_expression("100-50-30"), lambda number: Literal(number.value), steps)
    assert [step.op for step in steps] == [Op.SUB, Op.SUB]
    assert steps[1].args[0] == StepRef(0)


def test_variable_mode_admits_only_the_named_unknown():
    node = parse_expression("2(C-1)", variable="C")
    assert isinstance(node, Binary) and node.op is Op.MUL
    with pytest.raises(ExecutionError):
        parse_expression("2(x-1)", variable="C")
    with pytest.raises(ExecutionError):
        parse_expression("2 C", variable="C")  # juxtaposition only when touching


def test_numbers_are_exact_not_float():
    assert evaluate(parse_expression("0.1 + 0.2")) == Fraction(3, 10)
    assert isinstance(parse_expression("0.1"), Num)
