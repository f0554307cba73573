"""GSM8K answers as exact rationals: every expected value below is a Fraction written by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mycelium.data.answers import gsm8k_final_answer, gsm8k_final_answer_text, parse_number
from mycelium.data.errors import MyceliumError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72", Fraction(72)),
        ("1,080", Fraction(1080)),
        ("-3", Fraction(-3)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("$18", Fraction(18)),
        ("3/4", Fraction(3, 4)),
        ("20%", Fraction(20)),  # GSM8K "20%" means the number 20
        ("18.", Fraction(18)),  # the full stop ending a sentence
        # a few neighbours of the documented forms
        ("  72  ", Fraction(72)),
        ("1,234,567", Fraction(1234567)),
        ("$1,080.25", Fraction(108025, 100)),
        ("-0.125", Fraction(-1, 8)),
        ("+7", Fraction(7)),
        ("3 / 4", Fraction(3, 4)),
        ("-6/8", Fraction(-3, 4)),
        ("0", Fraction(0)),
    ],
)
def test_parse_number_exact(text: str, expected: Fraction) -> None:
    value = parse_number(text)
    assert isinstance(value, Fraction)
    assert value == expected


def test_parse_number_is_exact_not_float() -> None:
    # 0.1 + 0.2 is not 0.3 in floating point; as Fractions it is.
    assert parse_number("0.1") + parse_number("0.2") == parse_number("0.3")
    assert parse_number("0.3") == Fraction(3, 10)


@pytest.mark.parametrize("text", ["abc", "", "1/0", "1,00", "12abc", "$", "%", "-", "1.2.3"])
def test_parse_number_rejects_and_names_the_text(text: str) -> None:
    with pytest.raises(MyceliumError) as caught:
        parse_number(text)
    message = str(caught.value)
    assert repr(text) in message, message
    assert "not a number" in message


def test_parse_number_zero_denominator_says_why() -> None:
    with pytest.raises(MyceliumError, match="zero denominator"):
        parse_number("1/0")


SOLUTION = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
    "#### 72"
)


def test_gsm8k_final_answer_of_a_worked_solution() -> None:
    assert gsm8k_final_answer_text(SOLUTION) == "72"
    assert gsm8k_final_answer(SOLUTION) == Fraction(72)


def test_gsm8k_final_answer_uses_the_last_mark_and_parses_separators() -> None:
    solution = "First #### is not the answer.\nShe earns 9*120 = <<9*120=1080>>1080.\n#### 1,080"
    assert gsm8k_final_answer(solution) == Fraction(1080)
    assert gsm8k_final_answer("She pays half: 3/2 = <<3/2=1.5>>1.5\n#### 1.5") == Fraction(3, 2)


def test_gsm8k_final_answer_without_mark_raises() -> None:
    with pytest.raises(MyceliumError, match="####"):
        gsm8k_final_answer("Natalia sold 48+24 = <<48+24=72>>72 clips.\nThe answer is 72")


def test_gsm8k_final_answer_non_numeric_raises_naming_the_text() -> None:
    with pytest.raises(MyceliumError, match="'twelve'"):
        gsm8k_final_answer("He has 12 eggs.\n#### twelve")
