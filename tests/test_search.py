"""The candidate search on hand-made scores: k-best argument lists against brute force, a worked
example whose program is computed by hand, execution sanity, plans, and the absence of any
route for a gold answer into inference."""

from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import pydantic
import pytest

from mycelium.data.records import Problem
from mycelium.solver.search import (
    SearchConfig,
    SearchProblem,
    rank,
    search,
    top_argument_lists,
)


@dataclass(frozen=True)
class C:
    kind: str
    index: int
    value: str = ""


def brute_force(log_probs, candidates, fewest, most):
    """Every argument list with its log-prob, by enumeration: the reference for k-best."""
    stop = len(candidates) - 1
    results = []
    for length in range(fewest, most + 1):
        for chosen in itertools.product(range(stop), repeat=length):
            kinds_seen = [i for i in chosen if candidates[i].kind in ("quantity", "step")]
            if len(set(kinds_seen)) != len(kinds_seen):
                continue
            score = sum(log_probs[p][i] for p, i in enumerate(chosen))
            if length < most:
                score += log_probs[length][stop]
            if score > -math.inf:
                results.append((list(chosen), score))
    return sorted(results, key=lambda item: -item[1])


@pytest.mark.parametrize("seed", range(5))
def test_top_argument_lists_match_brute_force(seed):
    import random

    rng = random.Random(seed)
    candidates = [C("quantity", 0, "3"), C("quantity", 1, "4"), C("step", 0),
                  C("literal", 0, "2"), C("stop", -1)]
    fewest, most = 2, 3
    rows = []
    for position in range(most):
        raw = [rng.random() * 4 for _ in candidates]
        total = math.log(sum(math.exp(x) for x in raw))
        row = [x - total for x in raw]
        if position < fewest:
            row[-1] = -math.inf
        rows.append(row)
    expected = brute_force(rows, candidates, fewest, most)
    # a beam is exact when it is wide enough to keep every prefix
    found = top_argument_lists(rank(rows), candidates, fewest, most, k=50)
    assert [chosen for chosen, _ in found[:5]] == [chosen for chosen, _ in expected[:5]]
    for (_, got), (_, want) in zip(found[:5], expected[:5], strict=True):
        assert got == pytest.approx(want)


# "Natalia sold 48 clips in April and half as many in May. How many in all?"
# Quantities: q0 = 48, q1 = 1/2 ("half"), q2 = 2 ("half" read as a divisor). Groups: 0 empty,
# 1 the April/May clause, 2 the question, 3 the clause + the question. By hand:
# s1 = DIV(48, 2) = 24, s2 = ADD(48, s1) = 72.
QUANTITIES = [C("quantity", 0, "48"), C("quantity", 1, "1/2"), C("quantity", 2, "2")]
GOOD = {
    # (step, op) -> per position: {candidate name: log-prob}
    (0, "DIV"): [{"q0": -0.1}, {"q2": -0.2}],
    (1, "ADD"): [{"q0": -0.3}, {"s0": -0.2}],
}


def scorer(k, ops, groups, earlier, choices):
    candidates = [*QUANTITIES, *(C("step", j) for j in range(k)), C("stop", -1)]
    names = [f"q{c.index}" if c.kind == "quantity" else f"s{c.index}" if c.kind == "step"
             else "stop" for c in candidates]
    ranked = []
    for _, op in choices:
        wanted = GOOD.get((k, op), [])
        rows = []
        for position in range(2):
            preferred = wanted[position] if position < len(wanted) else {}
            rows.append([preferred.get(name, -4.0) for name in names])
        ranked.append(rank(rows))
    return candidates, ranked


def problem(**overrides):
    settings = dict(step_groups=[0, 1], final_groups=[2, 3],
                    op_log_probs=[{"ADD": -1.0, "DIV": -1.0}, {"DIV": -0.2, "ADD": -2.0},
                                  {"ADD": -0.5, "DIV": -2.0}, {"ADD": -0.3, "DIV": -2.0}],
                    arg_scorer=scorer, arity=lambda op: (2, 2), mention_of=[0, 1, 1],
                    tagged_mentions=frozenset({0, 1}))
    settings.update(overrides)
    return SearchProblem(**settings)


def test_worked_example_finds_the_hand_computed_program():
    result = search(problem(), SearchConfig(beam_width=4, ops_per_group=2, args_per_step=3,
                                            step_bonus=1.0))
    assert result.answer == Fraction(72)
    best = result.best
    assert [(s.op, [(a.kind, a.index) for a in s.args]) for s in best.steps] == [
        ("DIV", [("quantity", 0), ("quantity", 2)]), ("ADD", [("quantity", 0), ("step", 0)])]
    assert [s.value for s in best.steps] == [24, 72]
    # every earlier step is used by a later one in every finished program
    for hypothesis in result.beam:
        used = {a.index for s in hypothesis.steps for a in s.args if a.kind == "step"}
        assert set(range(len(hypothesis.steps) - 1)) <= used


def one_division(values: list[str], rows: list[list[float]]):
    """A one-step problem: DIV over two quantities with these values and argument scores."""
    quantities = [C("quantity", i, value) for i, value in enumerate(values)]

    def fixed_scorer(k, ops, groups, earlier, choices):
        return [*quantities, C("stop", -1)], [rank(rows) for _ in choices]

    return search(problem(arg_scorer=fixed_scorer, final_groups=[2], step_groups=[],
                          op_log_probs=[{}, {}, {"DIV": -0.1}], mention_of=[0, 1],
                          tagged_mentions=frozenset()), SearchConfig(max_steps=1))


def test_division_by_zero_is_never_a_candidate():
    result = one_division(["5", "0"], [[-0.1, -3.0, -math.inf], [-3.0, -0.1, -math.inf]])
    # DIV(5, 0) scores best and is dropped at execution; DIV(5, 5) repeats q0 and is refused;
    # DIV(0, 5) = 0 is what is left.
    assert all(h.steps[-1].args[1].value != "0" for h in result.beam)
    assert result.answer == Fraction(0)


def test_a_plan_fixes_groups_and_ops():
    result = search(problem(plan=[(1, "DIV"), (3, "ADD")]), SearchConfig())
    assert [s.op for s in result.best.steps] == ["DIV", "ADD"]
    assert [s.group for s in result.best.steps] == [1, 3]


def test_quantities_outside_the_group_are_refused():
    # group 1 holds only q0: DIV(48, 2) needs q2, so it cannot be step 1's arguments there
    inside = [frozenset(), frozenset({0}), frozenset({0, 1, 2}), frozenset({0, 1, 2})]
    result = search(problem(inside=inside, needs_quantity=[False, True, False, True]),
                    SearchConfig(step_bonus=1.0))
    for hypothesis in result.beam:
        for step in hypothesis.steps:
            for arg in step.args:
                if arg.kind == "quantity":
                    assert arg.index in inside[step.group]


def test_no_inference_function_can_receive_a_gold_answer():
    from mycelium.inference import math_tracks, solve, word_problems
    from mycelium.specialists.models.reasoner import Reasoner

    assert "answer" not in Problem.model_fields and "gold" not in Problem.model_fields
    functions = [search, word_problems.solve_word_problems, word_problems.search_layouts,
                 math_tracks.solve_math_problems, solve.solve_problems, solve.solve_in_chunks,
                 Reasoner.solve]
    for function in functions:
        for name in inspect.signature(function).parameters:
            assert not any(word in name for word in ("answer", "gold", "label")), \
                (function.__name__, name)
    with pytest.raises(pydantic.ValidationError):  # Problem refuses an answer field outright
        Problem(id="x", dataset="gsm8k", text="1 + 1?", answer="2")


def test_every_candidate_failing_gives_a_reason_not_an_answer():
    result = one_division(["0", "0"], [[-0.1, -0.2, -math.inf], [-0.2, -0.1, -math.inf]])
    assert (result.answer, result.best, result.reason) == (None, None, "no_program_executes")
