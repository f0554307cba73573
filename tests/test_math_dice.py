"""DICE steps of MATH programs (the probability that a few fair dice roll a sum that meets stated
tests): the executor against counting the rolls by hand (the 36 rolls of two dice), the rules
that read them from a problem's words (solver/math_dice.py), problems whose words say more than
the sum (left alone), and MATH train problems labelled end to end against their dataset
answers."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from conftest import labelled_math_step_ops

from mycelium.data.records import Problem
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_dice import dice_candidates
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program
from mycelium.solver.math_structure import math_spans


def dice(count: int, faces: int, low: int, high: int, form: str = "integer",
         *parameters: int) -> Fraction:
    answer = execute_math_program(MathProgram((MathStep(
        MathOp.DICE, str(count), operands=tuple(map(str, (faces, low, high, *parameters))),
        form=form),)), [])
    if answer.startswith("\\frac"):
        numerator, denominator = answer[6:-1].split("}{")
        return Fraction(int(numerator), int(denominator))
    return Fraction(int(answer))


def test_two_dice_sums_counted_by_hand():
    # a sum of s (2 to 7) comes from s - 1 of the 36 rolls, and 13 - s for s of 7 to 12
    ways = {total: min(total - 1, 13 - total) for total in range(2, 13)}
    assert dice(2, 6, 7, 7) == Fraction(ways[7], 36)
    assert dice(2, 6, 2, 10) == 1 - Fraction(ways[11] + ways[12], 36)
    primes = (2, 3, 5, 7, 11)
    assert dice(2, 6, 2, 12, "prime") == Fraction(sum(ways[p] for p in primes), 36)
    assert dice(2, 6, 2, 12, "multiple", 3) == Fraction(sum(ways[t] for t in (3, 6, 9, 12)), 36)


def test_three_dice_extremes_and_certainty():
    assert dice(3, 6, 18, 18) == Fraction(1, 6 ** 3)   # only 6, 6, 6
    assert dice(3, 6, 3, 18) == 1                      # every sum of three dice
    assert dice(1, 8, 1, 8, "even") == Fraction(1, 2)


def test_too_many_dice_are_refused_and_steps_survive_json():
    with pytest.raises(ExecutionError) as error:
        dice(12, 6, 12, 72)
    assert error.value.reason == "not_a_count"
    program = MathProgram((MathStep(MathOp.DICE, "2", operands=("6", "2", "12"),
                                    form="prime"),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    with pytest.raises(ExecutionError):
        MathProgram.from_json({"steps": [{"op": "DICE", "target": "2", "form": "prime",
                                          "operands": ["6", "2"]}]})


def read(text: str) -> list[MathStep]:
    return [step for steps in dice_candidates(text, math_spans(text), (0, len(text)))
            for step in steps]


@pytest.mark.parametrize("text", [
    # one die's face, a product, two colours, an answer asked as a percent
    "Two 6-sided dice, one red and one green, are rolled.  What is the probability that the red "
    "die shows an odd number and the green die shows a number that is a perfect square?",
    "Two fair 6-sided dice are rolled.  What is the probability that the product of the two "
    "numbers is odd?",
    "Tara rolls three standard dice once.  What is the probability that the sum of the numbers "
    "rolled will be three or more?  Express your answer as a percent."])
def test_rules_leave_other_dice_questions_alone(text):
    assert read(text) == []


# MATH train problems, with their dataset answers (the first from every 4th row)
TRAIN = [
    ("Two standard 6-sided dice are tossed. What is the probability that the sum of the numbers "
     "shown on the dice is a prime number? Express your answer as a common fraction.",
     "\\frac{5}{12}"),
    ("Two fair, six-sided dice are rolled.  What is the probability that the sum of the two "
     "numbers showing is between 3 and 11, inclusive?", "\\frac{17}{18}"),
    ("If three standard, six-faced dice are rolled, what is the probability that the sum of the "
     "three numbers rolled is 9? Express your answer as a common fraction.", "\\frac{25}{216}"),
]


@pytest.mark.parametrize("text,answer", TRAIN)
def test_math_train_dice_problems(text, answer):
    assert labelled_math_step_ops(text, answer) == [MathOp.DICE]


def test_structure_track_answers_a_dice_sum():
    (result,) = solve_math_problems([Problem.create(
        "math", "Two fair 6-sided dice are rolled.  What is the probability the sum rolled is "
                "9?")])
    assert (result.track, result.answer) == ("structure", "\\frac{1}{9}")
