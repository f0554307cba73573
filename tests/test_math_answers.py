"""MATH answer equivalence (mycelium.data.math_answers) on hand-picked pairs and on MATH train."""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest
import sympy
from conftest import shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from mycelium.data import limits
from mycelium.data.errors import MyceliumError
from mycelium.data.math_answers import math_equivalent, parse_math_answer

# 1500 answers: the two dataset tests together take about 30 s on one core (2-core box, measured).
SAMPLE_SIZE = 1500
SEED = 20240611
# Takes sympy far longer than any limit used here (over 40 s), but stays interruptible.
SLOW = r"10^{10^{10}}"

EQUIVALENT = [
    (r"\frac{1}{2}", "0.5"),
    (r"\frac{1}{2}", r"\dfrac12"),
    (r"\frac{1}{2}", "1/2"),
    ("0.5", r"\dfrac12"),
    (r"\sqrt{8}", r"2\sqrt{2}"),
    (r"3\sqrt{2}", r"\sqrt{18}"),
    (r"\$18", "18"),
    (r"\$18.90", "18.9"),
    (r"10^\circ", "10"),
    (r"10^{\circ}", r"10^\circ"),
    (r"\text{(C)}", "C"),
    (r"\text{(C)}", "(C)"),
    ("(1,2)", r"\left(1, 2\right)"),
    ("[2,5)", r"\left[2,5\right)"),
    ("x^2+1", "1+x^2"),
    (r"\frac{x+1}{2}", r"\frac{1}{2}x+\frac12"),
    ("10{,}000", "10000"),
    (r"10,\!000", "10000"),
    ("x=3", "3"),
    (r"50\%", "0.5"),
    (r"\frac{1}{3}", "0.333333"),
    (r"\{1,2\}", r"\{2,1\}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\left(\begin{matrix}1\\2\end{matrix}\right)"),
    (r"\infty", r"\infty"),
    (r"\text{Evelyn}", r"\text{Evelyn}"),
    ("43_5", "43_{5}"),
    (r"-\frac{5}{3}.", r"-\dfrac53"),  # MATH writes some answers with a sentence period
    (r"\frac{7}{5} + \frac{1}{5} i.", r"\frac75+\frac{i}{5}"),
]

NOT_EQUIVALENT = [
    ("(1,2)", "(2,1)"),
    ("3", "4"),
    (r"\frac{1}{2}", r"\frac{1}{3}"),
    (r"\frac{1}{3}", "0.333"),
    (r"\sqrt{8}", r"3\sqrt{2}"),
    ("x^2+1", "y^2+1"),
    ("x^2+1", "x^2-1"),
    ("[2,5)", "[2,5]"),
    (r"\infty", r"-\infty"),
    (r"\text{(C)}", r"\text{(D)}"),
    (r"\text{Evelyn}", r"\text{Emily}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}"),
    ("43_5", "43_6"),
    ("43_5", "43"),  # 43 in base 5 is 23; math-verify alone drops the base
    ("1", "-1"),
    (r"\pi", "3.14"),
    (r"\frac{7}{5} + \frac{1}{5} i.", r"\frac{1}{5}"),  # math-verify alone reads the left as 1/5
]

ODD_INPUTS = ["", "   ", "}{", r"\frac{", r"\boxed{", "$$", "$", "\\", "{{{{", "(((", "?", "\n"]


@pytest.mark.parametrize(("gold", "candidate"), EQUIVALENT)
def test_equivalent_pairs(gold: str, candidate: str) -> None:
    assert math_equivalent(gold, candidate)


@pytest.mark.parametrize(("gold", "candidate"), NOT_EQUIVALENT)
def test_not_equivalent_pairs(gold: str, candidate: str) -> None:
    assert not math_equivalent(gold, candidate)
    assert not math_equivalent(candidate, gold)


def test_identical_strings_need_no_parse() -> None:
    assert math_equivalent("43_5.", "43_5.")  # does not parse, yet equal as written
    assert not math_equivalent("", "")  # a blank answer is never right


@pytest.mark.parametrize("odd", ODD_INPUTS)
def test_odd_input_is_not_equivalent_and_does_not_raise(odd: str) -> None:
    assert math_equivalent(odd, "1") is False
    assert math_equivalent("1", odd) is False


def test_non_string_input_is_not_equivalent() -> None:
    assert math_equivalent(None, "1") is False  # type: ignore[arg-type]
    assert math_equivalent("1", 1) is False  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_arbitrary_text_never_raises(gold: str, candidate: str) -> None:
    assert math_equivalent(gold, candidate, timeout_s=2.0) in (True, False)


def test_parse_math_answer_gives_sympy_and_latex() -> None:
    parsed = parse_math_answer(r"\dfrac{1}{2}")
    assert parsed[0] == sympy.Rational(1, 2)
    assert parsed[1] == r"\frac{1}{2}"


@pytest.mark.parametrize("text", ["", "}{", r"\boxed{"])
def test_parse_math_answer_names_the_text_when_nothing_parses(text: str) -> None:
    with pytest.raises(MyceliumError, match=re.escape(repr(text))):
        parse_math_answer(text)


def test_bad_timeout_is_a_user_error() -> None:
    with pytest.raises(MyceliumError, match="time limit"):
        math_equivalent("1", "2", timeout_s=0)


def test_time_limit_on_main_thread_and_no_alarm_taken() -> None:
    assert threading.current_thread() is threading.main_thread()
    assert math_equivalent(r"\frac{1}{2}", "0.5")  # starts this thread's worker (not timed)
    handler_before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    assert not math_equivalent(SLOW, "1", timeout_s=0.5)
    assert time.monotonic() - started < 5  # stopped near its deadline, not after minutes
    assert signal.getsignal(signal.SIGALRM) is handler_before  # the caller's signals untouched


def test_works_and_keeps_time_limit_off_the_main_thread() -> None:
    # Prefect runs tasks in threads, where math-verify's own signal.alarm raises ValueError.
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The first call in a thread starts its worker process (sympy import, not timed).
        assert pool.submit(math_equivalent, r"\frac{1}{2}", "0.5").result()
        assert not pool.submit(math_equivalent, "(1,2)", "(2,1)").result()
        started = time.monotonic()
        assert not pool.submit(math_equivalent, SLOW, "1", timeout_s=0.5).result()
        assert time.monotonic() - started < 2.0
        assert pool.submit(math_equivalent, r"\sqrt{8}", r"2\sqrt{2}").result()
        assert set(pool.submit(parse_math_answer, r"\{1,2\}").result()[0]) == {1, 2}
        with pytest.raises(MyceliumError, match="no mathematical expression"):
            pool.submit(parse_math_answer, "}{").result()


def test_a_dead_worker_process_is_replaced() -> None:
    def kill_this_threads_worker() -> None:
        worker = limits._workers.worker
        worker.process.kill()
        worker.process.wait()

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(math_equivalent, "2", r"\sqrt{4}").result()
        pool.submit(kill_this_threads_worker).result()
        assert pool.submit(math_equivalent, "(1,2)", "(2,1)").result() is False  # died mid-call
        assert pool.submit(math_equivalent, "2", r"\sqrt{4}").result()  # a fresh worker


# --- MATH train: reformatted answers stay equivalent, other answers do not ---------------------


def _terminating_decimal(numerator: int, denominator: int) -> str | None:
    """numerator/denominator written as an exact decimal, or None when it does not terminate."""
    if denominator == 0:
        return None
    value = Fraction(numerator, denominator)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return None
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    digits = str(int(value * 10**places)).rjust(places + 1, "0")
    return digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"


# \frac{a}{b} with integer a, b, not after ^ _ } (an exponent, a subscript, or juxtaposition that
# a decimal would merge with) and not after a digit: "3 \frac{3}{8}" is a mixed number.
_INTEGER_FRACTION = re.compile(r"(?<![\d^_}.])\\[dt]?frac\{(\d+)\}\{(\d+)\}(?![\d.])")
_SINGLE_DIGIT_FRACTION = re.compile(r"\\([dt]?)frac\{(\d)\}\{(\d)\}")
# A decimal literal that is a whole token: not part of "1,\!234.5" or "0.1\overline{6}".
_DECIMAL = re.compile(r"(?<![\d.,!{])(\d+)\.(\d+)(?![\d.]|\\overline)")


def _fractions_to_decimals(text: str, rng: random.Random) -> str:
    def replace(match: re.Match[str]) -> str:
        decimal = _terminating_decimal(int(match[1]), int(match[2]))
        mixed_number = text[: match.start()].rstrip()[-1:].isdigit()
        keep = decimal is None or mixed_number or rng.random() < 0.2
        return match[0] if keep else decimal

    return _INTEGER_FRACTION.sub(replace, text)


def _decimals_to_fractions(text: str, rng: random.Random) -> str:
    def replace(match: re.Match[str]) -> str:
        value = Fraction(f"{match[1]}.{match[2]}")
        return rf"\frac{{{value.numerator}}}{{{value.denominator}}}"

    return _DECIMAL.sub(replace, text)


def _respell_fractions(text: str, rng: random.Random) -> str:
    text = _SINGLE_DIGIT_FRACTION.sub(
        lambda m: rf"\{m[1]}frac{m[2]}{m[3]}" if rng.random() < 0.5 else m[0], text
    )
    spellings = {r"\frac": (r"\dfrac", r"\tfrac"), r"\dfrac": (r"\frac",), r"\tfrac": (r"\frac",)}
    return re.sub(r"\\[dt]?frac", lambda m: rng.choice(spellings[m[0]]), text)


def _toggle_left_right(text: str, rng: random.Random) -> str:
    if r"\left" in text or r"\right" in text:
        if r"\left." in text or r"\right." in text:
            return text
        return re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", text)
    opens, closes = text.count("(") + text.count("["), text.count(")") + text.count("]")
    if opens == 0 or opens != closes or r"\sqrt[" in text or r"\text" in text:
        return text
    text = re.sub(r"(?<!\\)([(\[])", r"\\left\1", text)
    return re.sub(r"(?<!\\)([)\]])", r"\\right\1", text)


def _add_spaces(text: str, rng: random.Random) -> str:
    if r"\text" in text:
        return f" {text} "
    text = re.sub(r"(?<![\\{^_])([+=<>])", r" \1 ", text)
    # Not before exactly three digits or \! (thousands: "10,000", "10,\!000") nor in "{,}".
    text = re.sub(r"(?<!\{),(?!\d{3}(?!\d)|\\!|\})", ", ", text)
    return f" {text} " if rng.random() < 0.5 else text


def _other_spellings(text: str, rng: random.Random) -> str:
    text = text.replace(r"^\circ", r"^{\circ}")
    text = re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", text)
    if re.fullmatch(r"-?\d{4,}", text):  # 12345 -> 12{,}345 or 12,\!345
        text = re.sub(r"(?<=\d)(?=(\d{3})+$)", rng.choice(["{,}", ",\\!"]), text)
    return text


def _switch_number_forms(text: str, rng: random.Random) -> str:
    """Fractions to decimals; where that changes nothing, decimals to fractions."""
    switched = _fractions_to_decimals(text, rng)
    return switched if switched != text else _decimals_to_fractions(text, rng)


_REFORMATS = (
    _switch_number_forms,
    _respell_fractions,
    _toggle_left_right,
    _add_spaces,
    _other_spellings,
)


def reformat(answer: str, rng: random.Random) -> str:
    """The same answer spelled differently (never identical, so no exact-match shortcut)."""
    text = answer
    for step in _REFORMATS:
        if rng.random() < 0.7:
            text = step(text, rng)
    if text == answer or rng.random() < 0.3:
        text = rf"\boxed{{{text}}}"
    return text


def _normalized(answer: str) -> str:
    """A spelling-blind key, only to pick partners that are not the same answer rewritten."""
    text = re.sub(r"\\(?:left|right|!|,|;|\$)|\s|\^\{?\\circ\}?|\{,\}", "", answer)
    text = re.sub(r"\\(?:text|textbf|mbox|mathrm)\{([^{}]*)\}", r"\1", text)
    return re.sub(r"\\[dt]frac", r"\\frac", text).lower()


def _same_value(first: str, second: str) -> bool:
    """Whether two answers are genuinely the same value, judged without math-verify's verify.

    Numbers: their sympy values agree to 1e-9 (relative). Anything else: structurally equal sympy
    objects. Both sides come from math-verify's parse, the sanctioned parser.
    """
    try:
        a, b = parse_math_answer(first)[0], parse_math_answer(second)[0]
    except MyceliumError:
        return False
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr) and a.is_number and b.is_number:
        try:
            x, y = complex(sympy.N(a)), complex(sympy.N(b))
        except TypeError:  # no finite value (an infinity, an unevaluated percentage)
            return a == b
        return abs(x - y) <= 1e-9 * max(1.0, abs(x))
    return a == b


@pytest.fixture(scope="module")
def math_sample() -> list[str]:
    with shared_file("math/train.jsonl").open(encoding="utf-8") as lines:
        answers = sorted({json.loads(line)["answer"].strip() for line in lines} - {""})
    return random.Random(SEED).sample(answers, SAMPLE_SIZE)


@pytest.mark.shared
def test_math_answers_equal_themselves_reformatted(math_sample: list[str]) -> None:
    rng = random.Random(SEED)
    pairs = [(answer, reformat(answer, rng)) for answer in math_sample]
    assert all(answer != spelled for answer, spelled in pairs)
    failures = [pair for pair in pairs if not math_equivalent(*pair)]
    rate = 1 - len(failures) / len(pairs)
    print(f"\nreformatted equivalence: {rate:.4f} over {len(pairs)} MATH answers")
    assert rate >= 0.99, f"equivalence rate {rate:.4f} < 0.99; not equivalent: {failures}"


@pytest.mark.shared
def test_math_answers_differ_from_other_answers(math_sample: list[str]) -> None:
    # Each answer against its nearest different neighbour in spelling order: the hardest partner
    # a random pairing would rarely give ("12" and "120", "\frac{1}{2}" and "\frac{1}{20}").
    order = sorted(math_sample, key=_normalized)
    false_equivalences, same_values, compared = [], [], 0
    for index, answer in enumerate(order):
        key = _normalized(answer)
        others = order[index + 1 :] + order[:index]
        partner = next(other for other in others if _normalized(other) != key)
        if math_equivalent(answer, partner):
            if _same_value(answer, partner):
                same_values.append((answer, partner))
                continue
            false_equivalences.append((answer, partner))
        compared += 1
    rate = len(false_equivalences) / compared
    print(
        f"\nfalse equivalence: {rate:.4f} over {compared} pairs "
        f"(excluded as the same value: {same_values})"
    )
    assert rate <= 0.01, f"false-equivalence rate {rate:.4f} > 0.01: {false_equivalences}"
