"""GSM8K gold programs on hand-worked problems: every expected program below was written out by
hand from the problem and its worked solution, spans counted with str.index, not by the code."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mycelium.data.loaders import bundled_sample_path, load_problems, row_to_gold_problem
from mycelium.solver.executor import execute
from mycelium.solver.expr import evaluate
from mycelium.solver.quantities import Linker, find_mentions
from mycelium.solver.reference.gsm8k_gold import build_gold_program, extract_equations, gold_check
from mycelium.solver.reference.linear import solve_linear
from mycelium.solver.reference.prose_math import find_equations


def gold(question: str, answer: str):
    return row_to_gold_problem("gsm8k", {"question": question, "answer": answer})


def span(text: str, word: str, occurrence: int = 0) -> str:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(word, start + 1)
    return f"[chars {start}-{start + len(word)}]"


def test_natalia_annotations_link_to_digits_words_and_steps():
    question = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
                "clips in May. How many clips did Natalia sell altogether in April and May?")
    item = gold(question, "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                          "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
                          "#### 72")
    outcome = build_gold_program(item)
    assert outcome.failure is None
    assert outcome.program.render() == (
        f"s1 = DIV(48 {span(question, '48')}, 2 {span(question, 'half')})\n"
        f"s2 = ADD(48 {span(question, '48')}, s1)")
    assert execute(outcome.program) == 72


def test_prose_arithmetic_after_the_last_annotation_completes_the_program():
    question = ("Ann bought 5 shorts for $7 each and 2 shoes for $10 each, and spent $75 in all, "
                "the rest on 4 tops at one price. How much did each top cost?")
    item = gold(question, "5*7=$<<5*7=35>>35\n2*10=$<<2*10=20>>20\n35+20 = $<<35+20=55>>55\n"
                          "75-55 = $<<75-55=20>>20\n"
                          "She bought 4 tops for a total of $20 so 20/4 = $5\n#### 5")
    program = build_gold_program(item).program
    assert program.render().splitlines()[-1] == f"s5 = DIV(s4, 4 {span(question, '4 tops')[:-3]}" \
        f"{question.index('4 tops') + 1}])"
    assert execute(program) == 5


def test_algebra_solutions_become_arithmetic_over_the_problem_numbers():
    question = ("Amon & Rhonda combined have 215 marbles. If Amon owns 55 marbles more than "
                "Rhonda, how many marbles does Rhonda have?")
    item = gold(question, "Let m be Rhonda's marbles.\nm+(m+55) = 215\n2m+55 = 215\n2m=215-55\n"
                          "Rhonda has m=<<80=80>>80 marbles.\n#### 80")
    program = build_gold_program(item).program
    # m + (m + 55) = 215  ->  m = (215 - 55) / (1 + 1)
    assert program.render() == (
        f"s1 = SUB(215 {span(question, '215')}, 55 {span(question, '55')})\n"
        "s2 = ADD(1 [one], 1 [one])\n"
        "s3 = DIV(s1, s2)")
    assert execute(program) == 80


def test_percent_results_convert_explicitly():
    question = ("20% of the ads are interesting and 20% of the rest are blocked. What percent of "
                "ads are neither interesting nor blocked?")
    item = gold(question, "100% - 20% = 80%\n80% * 80% = 64%\n#### 64")
    program = build_gold_program(item).program
    assert execute(program) == 64
    assert program.steps[-1].origin == "answer form"  # 0.64 -> 64 by the percent constant


def test_rounding_up_when_the_solution_says_so():
    question = "Thomas needs 120 ounces of chickpeas. A can holds 16 ounces. How many cans?"
    item = gold(question, "120/16 = <<120/16=7.5>>7.5 cans.\nHe can't buy half a can, so 8 cans."
                          "\n#### 8")
    program = build_gold_program(item).program
    assert program.render().splitlines()[-1] == "s2 = CEIL(s1)"
    assert execute(program) == 8


def test_an_answer_the_arithmetic_never_reaches_is_a_counted_failure():
    item = gold("Teddy and Robert spend $70 and $38. How much in all?",
                "70+38 = <<70+38=108>>108\n#### 106")  # a real GSM8K annotation error
    outcome = build_gold_program(item)
    assert outcome.program is None and outcome.failure == "answer_absent_from_solution"


def test_restated_annotation_is_not_counted_twice():
    equations = extract_equations("She has 48/2 = <<48/2=24>>24 clips.\n#### 24")
    assert [(equation.lhs, equation.rhs) for equation in equations] == [("48/2", "24")]


@pytest.mark.parametrize(("text", "lhs", "value"), [
    ("so 20/4 = $5", "20 / 4", Fraction(5)),
    ("2 cups / 1/4 cup/burger = 8 burgers", "2 / 1 / 4", None),  # not 8: not taken
    ("600 points + 250 points = 850 points", "600 + 250", Fraction(850)),
    ("5 x $10 = $50", "5 * 10", Fraction(50)),
    ("Stacy has 2+3(10)=32 berries", "2 + 3 * ( 10 )", Fraction(32)),
    ("1 - 1/3 = 2/3", "1 - 1 / 3", Fraction(2, 3)),
    # a '/' before a word is a unit's ("per day"), not a division
    ("is 40 students x $6/day = $240.", "40 * 6", Fraction(240)),
    ("12 eggs / 4 eggs/day = 3 days", "12 / 4", Fraction(3)),
])
def test_prose_equations(text, lhs, value):
    found = find_equations(text)
    if value is None:
        assert found == []
    else:
        assert [(equation.lhs, equation.value) for equation in found] == [(lhs, value)]


def test_linear_solve_matches_hand_solution():
    # 2(C-1) = C+5  ->  C = 7
    assert evaluate(solve_linear("2(C-1)", "C+5")) == 7
    assert solve_linear("x*x", "4") is None  # not linear
    assert solve_linear("x", "10") is None  # states a result, computes nothing
    assert solve_linear("a+b", "3") is None  # two unknowns


@pytest.mark.parametrize(("text", "expected"), [
    ("a dozen eggs", {("dozen", Fraction(12))}),
    ("twenty-five people", {("twenty-five", Fraction(25))}),
    ("three hundred and twenty cats", {("three hundred and twenty", Fraction(320))}),
    ("he ran twice as far", {("twice", Fraction(2))}),
    ("20% off", {("20%", Fraction(20))}),
    ("a quarter of the pie", {("quarter", Fraction(1, 4))}),
    ("two-thirds of them", {("two-thirds", Fraction(2, 3))}),
    ("$1,080.50 in total", {("1,080.50", Fraction(216100, 200))}),
])
def test_mentions(text, expected):
    assert {(mention.text, mention.value) for mention in find_mentions(text)} == expected


def test_linker_prefers_unused_mentions_and_context_constants():
    text = "He has 5 apples and 5 pears. He works 3 hours."
    linker = Linker(text)
    first, second = linker.link(Fraction(5)), linker.link(Fraction(5))
    assert (first.start, second.start) == (text.index("5"), text.index("5 pears"))
    assert linker.link(Fraction(60)).name == "minutes_per_hour"  # "hours" in the text
    assert Linker("He has 3 apples.").link(Fraction(60)).render() == "60 [unlinked]"
    assert linker.link(Fraction(1, 3)).render() == "1/3 [unlinked]"


def test_bundled_sample_reproduces_every_answer_with_linked_operands():
    items = load_problems("gsm8k", bundled_sample_path()).problems
    report, outcomes = gold_check(items)
    assert report.total == len(items) >= 20
    assert report.reproduced == report.annotated == report.total
    assert report.linkage()["unlinked"] <= 0.05
    for item, outcome in zip(items, outcomes, strict=True):
        assert execute(outcome.program) == Fraction(item.gold.answer)
