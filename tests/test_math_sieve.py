"""SIEVE steps of MATH programs (the integers of a range that meet stated tests: counted, summed,
the largest or smallest): the executor against closed forms and plain Python over the range, the
rules that read them from a question's words (solver/math_sieve.py), questions whose words say
more than the tests (left alone), and MATH train problems labelled end to end against their
dataset answers."""

from __future__ import annotations

import json
import math

import pytest
from conftest import labelled_math_step_ops

from mycelium.data.records import Problem
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_program import (
    SIEVE_CONDITIONS,
    MathOp,
    MathProgram,
    MathStep,
    execute_math_program,
)
from mycelium.solver.math_sieve import sieve_candidates
from mycelium.solver.math_structure import math_spans


def sieve(low: str, high: str, form: str, pick: str, *parameters: str) -> str:
    return execute_math_program(MathProgram((MathStep(
        MathOp.SIEVE, low, operands=(high, *parameters), form=form, pick=pick),)), [])


def test_counts_of_multiples_are_the_closed_form():
    # multiples of 8 among the four-digit integers: floor(9999/8) - floor(999/8)
    assert sieve("1000", "9999", "multiple", "count", "8") == str(9999 // 8 - 999 // 8)
    # neither 5 nor 7 among the three-digit integers: inclusion-exclusion
    def multiples(k: int) -> int:
        return 999 // k - 99 // k
    assert sieve("100", "999", "not_multiple,not_multiple", "count", "5", "7") == \
        str(900 - multiples(5) - multiples(7) + multiples(35))


def test_sums_and_extremes_are_the_arithmetic_series():
    # the odd integers 11, 13, ..., 39: 15 terms averaging 25
    assert sieve("11", "39", "odd", "sum") == str(15 * (11 + 39) // 2)
    # the largest three-digit multiple of 13: 999 less its remainder
    assert sieve("-\\infty", "999", "multiple", "max", "13") == str(999 - 999 % 13)
    # the smallest positive integer divisible by 10, 11 and 12 is their lcm
    assert sieve("1", "\\infty", "multiple,multiple,multiple", "min", "10", "11", "12") == \
        str(math.lcm(10, 11, 12))


def test_residues_agree_with_the_chinese_remainder_theorem():
    # n = 4 (mod 5) and n = 6 (mod 7): one residue class mod 35, whose least positive member
    least = next(n for n in range(1, 36) if n % 5 == 4 and n % 7 == 6)
    assert sieve("1", "\\infty", "residue,residue", "min", "4", "5", "6", "7") == str(least)
    assert sieve("1", "999", "residue", "count", "6", "11") == \
        str(sum(1 for n in range(1, 1000) if n % 11 == 6))


@pytest.mark.parametrize("name,parameters,holds", [
    ("square", (), lambda n: math.isqrt(n) ** 2 == n),
    ("cube", (), lambda n: round(n ** (1 / 3)) ** 3 == n),
    ("prime", (), lambda n: n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))),
    ("coprime", (15,), lambda n: math.gcd(n, 15) == 1),
    ("has_digit", (7,), lambda n: "7" in str(n)),
    ("no_digit", (0,), lambda n: "0" not in str(n)),
    ("units_digit", (3,), lambda n: str(n)[-1] == "3"),
    ("odd_digits", (), lambda n: set(str(n)) <= set("13579")),
    ("distinct_digits", (), lambda n: len(set(str(n))) == len(str(n))),
    ("digit_sum", (9,), lambda n: sum(int(d) for d in str(n)) == 9),
    ("palindrome", (), lambda n: str(n) == str(n)[::-1])])
def test_each_condition_counts_what_plain_python_counts(name, parameters, holds):
    assert SIEVE_CONDITIONS[name].arity == len(parameters)
    assert sieve("1", "2000", name, "count", *map(str, parameters)) == \
        str(sum(1 for n in range(1, 2001) if holds(n)))


def test_open_ranges_and_oversized_ones_are_refused():
    for low, high, pick in (("1", "\\infty", "count"), ("-\\infty", "10", "min")):
        with pytest.raises(ExecutionError) as error:
            sieve(low, high, "odd", pick)
        assert error.value.reason == "unbounded"
    with pytest.raises(ExecutionError) as error:
        sieve("1", "10000000", "odd", "count")
    assert error.value.reason == "too_large"


def test_sieve_steps_survive_json_and_unknown_conditions_do_not():
    program = MathProgram((MathStep(MathOp.SIEVE, "100", operands=("999", "5"),
                                    form="multiple", pick="count"),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    for form, operands in (("multiples", ["999", "5"]), ("multiple", ["999"])):
        with pytest.raises(ExecutionError):
            MathProgram.from_json({"steps": [{"op": "SIEVE", "target": "1", "form": form,
                                              "pick": "count", "operands": operands}]})


def read(text: str) -> list[MathStep]:
    return [step for steps in sieve_candidates(text, math_spans(text), (0, 1))
            for step in steps]


@pytest.mark.parametrize("text", [
    # a union ("either ... or"), squares of squares, a difference of members, a symbol, a
    # second sentence that defines a word, an unbounded count
    "How many positive integers less than $555$ are either a perfect cube or a perfect square?",
    "What is the sum of all positive integers less than 100 that are squares of perfect squares?",
    "How many different positive integers can be represented as a difference of two distinct "
    "members of the set $\\{1, 2, 3, 4, 5, 6 \\}$?",
    "What is the smallest positive integer $n$ such that $3n$ is a perfect square?",
    "We call a number a mountain number if its middle digit is larger than any other digit.  "
    "How many 3-digit mountain numbers are there?",
    "How many prime numbers are divisible by $39$?",
    "How many prime numbers have squares between 4000 and 7000?",
    "What is the least positive integer that is divisible by three distinct primes?"])
def test_rules_leave_questions_that_say_more_alone(text):
    assert read(text) == []


# MATH train problems (every 4th row), with their dataset answers
TRAIN = [
    ("How many three-digit numbers are multiples of neither 5 nor 7?", "618"),
    ("How many positive, three-digit integers contain at least one $3$ as a digit but do not "
     "contain a $5$ as a digit?", "200"),
    ("How many positive integers less than 1000 are congruent to 6 (mod 11)?", "91"),
    ("How many positive two-digit integers leave a remainder of 2 when divided by 8?", "12"),
    ("How many integers between $500$ and $1000$ contain both the digits $3$ and $4$?", "10"),
    ("What is the sum of the odd integers from 11 through 39, inclusive?", "375"),
    ("What is the smallest four-digit positive integer that is divisible by 47?", "1034"),
    ("How many positive integers less than 100 are both a square and a cube?", "2"),
]


@pytest.mark.parametrize("text,answer", [
    *TRAIN,
    # the rest of MATH train: "the N smallest positive integers" as a range
    ("How many of the 200 smallest positive integers are congruent to 1 (mod 9)?", "23")])
def test_math_train_sieve_problems(text, answer):
    assert labelled_math_step_ops(text, answer) == [MathOp.SIEVE]


def test_structure_track_answers_a_word_problem_with_a_sieve():
    (result,) = solve_math_problems([Problem.create(
        "math", "What is the greatest three-digit number which is a multiple of 13?")])
    assert (result.track, result.answer) == ("structure", "988")
