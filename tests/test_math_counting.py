"""Counting and probability steps of MATH programs (CHOOSE, PERMUTE, ARRANGE, DISTRIBUTE, TRIALS,
DRAW): the executor against brute-force enumeration with itertools on small cases, the rules that
read them from a problem's words (solver/math_counting.py), and MATH train problems labelled end
to end against their dataset answers."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction

import pytest
from conftest import labelled_math_step_ops

from mycelium.data.records import Problem
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_counting import counting_candidates
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program
from mycelium.solver.math_structure import math_spans


def run(op: MathOp, target: str, *operands: str) -> str:
    return execute_math_program(MathProgram((MathStep(op, target, operands=operands),)), [])


def value(latex: str) -> Fraction:
    """sympy.latex of a rational ("\\frac{29}{128}", "840") as a Fraction."""
    if latex.startswith("\\frac"):
        numerator, denominator = latex[6:-1].split("}{")
        return Fraction(int(numerator), int(denominator))
    return Fraction(int(latex))


@pytest.mark.parametrize("n,k", [(5, 2), (6, 3), (4, 4), (7, 0)])
def test_choose_and_permute_count_what_itertools_enumerates(n, k):
    assert value(run(MathOp.CHOOSE, str(n), str(k))) == \
        len(list(itertools.combinations(range(n), k)))
    assert value(run(MathOp.PERMUTE, str(n), str(k))) == \
        len(list(itertools.permutations(range(n), k)))


def test_choose_multiplies_its_pairs():
    # 2 of 4 red and 1 of 3 blue, counted as the pairs of sets themselves
    expected = len(list(itertools.product(itertools.combinations(range(4), 2),
                                          itertools.combinations(range(3), 1))))
    assert value(run(MathOp.CHOOSE, "4", "2", "3", "1")) == expected


@pytest.mark.parametrize("word", ["ALABAMA", "TOOT", "BASIC", "MISSISS"])
def test_arrange_counts_distinct_orders_of_a_word(word):
    alike = [str(word.count(letter)) for letter in sorted(set(word)) if word.count(letter) > 1]
    assert value(run(MathOp.ARRANGE, str(len(word)), *alike)) == \
        len(set(itertools.permutations(word)))


def _placements(objects: int, boxes: int, objects_alike: bool, boxes_alike: bool) -> int:
    """Brute force: every map of objects to boxes, then forget what is alike."""
    seen = set()
    for boxes_of in itertools.product(range(boxes), repeat=objects):
        contents = [tuple(index for index, box in enumerate(boxes_of) if box == owner)
                    for owner in range(boxes)]
        if objects_alike:
            contents = [(len(content),) for content in contents]
        seen.add(tuple(sorted(contents)) if boxes_alike else tuple(contents))
    return len(seen)


@pytest.mark.parametrize("objects,boxes", [(4, 2), (5, 3), (3, 4)])
@pytest.mark.parametrize("objects_alike,boxes_alike", itertools.product((0, 1), repeat=2))
def test_distribute_matches_brute_force(objects, boxes, objects_alike, boxes_alike):
    assert value(run(MathOp.DISTRIBUTE, str(objects), str(boxes), str(objects_alike),
                     str(boxes_alike))) == \
        _placements(objects, boxes, bool(objects_alike), bool(boxes_alike))


def test_trials_sum_the_outcomes_itertools_enumerates():
    # 6 trials of chance 1/3: each outcome a tuple of wins, weighted by its probability
    chance = Fraction(1, 3)
    expected = sum(chance ** sum(outcome) * (1 - chance) ** (6 - sum(outcome))
                   for outcome in itertools.product((0, 1), repeat=6) if 2 <= sum(outcome) <= 4)
    assert value(run(MathOp.TRIALS, "6", "2", "4", "\\frac{1}{3}")) == expected


def test_draw_is_the_share_of_equally_likely_subsets():
    # 3 of 9 things (4 red, 2 blue, 3 others): exactly 2 red and 1 blue
    things = ["red"] * 4 + ["blue"] * 2 + ["other"] * 3
    subsets = list(itertools.combinations(range(9), 3))
    hits = sum(1 for subset in subsets
               if [things[index] for index in subset].count("red") == 2
               and [things[index] for index in subset].count("blue") == 1)
    assert value(run(MathOp.DRAW, "9", "3", "4", "2", "2", "1")) == Fraction(hits, len(subsets))


@pytest.mark.parametrize("op,target,operands", [
    (MathOp.CHOOSE, "3", ("5",)), (MathOp.PERMUTE, "-2", ("1",)),
    (MathOp.ARRANGE, "3", ("2", "2")), (MathOp.TRIALS, "4", ("1", "2", "\\frac{3}{2}")),
    (MathOp.DRAW, "5", ("3", "2", "3"))])
def test_impossible_counts_are_refused(op, target, operands):
    with pytest.raises(ExecutionError) as error:
        run(op, target, *operands)
    assert error.value.reason == "not_a_count"


def test_counting_steps_survive_json():
    program = MathProgram((MathStep(MathOp.DRAW, "5 + 6 + 2", operands=("3", "5", "1")),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    with pytest.raises(ExecutionError):
        MathProgram.from_json({"steps": [{"op": "CHOOSE", "target": "5", "operands": []}]})


def read(text: str) -> list[MathStep]:
    return [step for steps in counting_candidates(text, math_spans(text), (0, len(text)))
            for step in steps]


def test_rules_leave_restricted_counts_alone():
    assert read("In how many ways can 7 people be seated in a row of chairs if two of the "
                "people, Wilma and Paul, refuse to sit next to each other?") == []
    assert read("What is the value of $x$ if $2x = 4$?") == []


# MATH train problems (every 4th row), with their dataset answers
TRAIN = [
    ("Determine the number of ways to arrange the letters of the word ALABAMA.", "210",
     MathOp.ARRANGE),
    ("How many ways are there to put 4 distinguishable balls into 2 indistinguishable boxes?",
     "8", MathOp.DISTRIBUTE),
    ("How many ways are there to put 5 balls in 2 boxes if the balls are distinguishable but "
     "the boxes are not?", "16", MathOp.DISTRIBUTE),
    ("In how many ways can I choose a 4-person committee from a club of 9 people?", "126",
     MathOp.CHOOSE),
    ("A Senate committee has 8 Republicans and 6 Democrats.  In how many ways can we form a "
     "subcommittee with 3 Republicans and 2 Democrats?", "840", MathOp.CHOOSE),
    ("Our club has 20 members, 10 boys and 10 girls.  In how many ways can we choose a "
     "president and a vice-president if we have no restrictions other than the same person "
     "can't hold both offices?", "380", MathOp.PERMUTE),
    ("A fair coin is flipped 7 times.  What is the probability that at least 5 of the flips "
     "come up heads?", "\\frac{29}{128}", MathOp.TRIALS),
    ("If I roll a fair, regular six-sided die four times, what is the probability that I will "
     "roll the number $1$ exactly three times?", "\\frac{5}{324}", MathOp.TRIALS),
    ("A Senate committee consists of 5 Republicans, 6 Democrats, and 2 Independents.  A "
     "subcommittee of 3 members is randomly chosen.  What is the probability that the "
     "subcommittee consists of 1 Republican, 1 Democrat, and 1 Independent?",
     "\\dfrac{30}{143}", MathOp.DRAW),
]


@pytest.mark.parametrize("text,answer,op", TRAIN)
def test_math_train_counting_problems(text, answer, op):
    assert labelled_math_step_ops(text, answer) == [op]


def test_structure_track_answers_a_word_problem_with_a_count():
    (result,) = solve_math_problems([Problem.create(
        "math", "Determine the number of ways to arrange the letters of the word MISSISSIPPI.")])
    assert (result.track, result.answer) == ("structure", "34650")
