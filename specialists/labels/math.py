"""MATH reference labels: the roles of a problem's clauses, and a sympy program over its LaTeX math
that reproduces the gold answer.

    from mycelium.specialists.labels.math import label_math_problem
    labels = label_math_problem(item)   # a ProblemLabels, or raises Dropped(reason)

Roles (a MATH step's `label`, and the `I-<ROLE>` tag of its clause's words):
  EQUATION    states an equation or a definition in unknowns: "$2x+3=7$", "If $f(x)=3x+2$".
  CONSTRAINT  restricts the unknowns: an inequality ("where $0 < y < x$"), or the words positive,
              negative or nonnegative about a symbol ("If $x$ is positive").
  EXPRESSION  asks for math that is computed on its own, with nothing else from the problem:
              "Compute $\\dbinom{8}{4}$", "Simplify $(x+1)^2-x^2$", "Find the remainder when
              $2^{10}$ is divided by $7$" (solver/math_numbers.py reads such number steps).
  OBJECTIVE   asks for something the other role clauses determine: "Find $xy$", "what is
              $f(4)$", "What is the sum of all solutions?". An asking clause that states its own
              equation ("Find $x$ such that $2^x=8$") is OBJECTIVE: a clause has one role, the one
              it plays in the program, and the objective's own equation is part of that role.
A clause the program does not use is O. The set stays this small on purpose: it is what a program
needs (what is known, what restricts it, what is asked) and what the words of a clause show.

How a problem is labelled: the structure parser (solver/math_structure.py, steps 1-7 there) reads
the problem and lists its candidate programs in order, without the gold answer; here, the first
whose answer `math_equivalent` accepts against the gold answer is kept, and `MathProgram.tried`
records how many ran: the gold answer checks programs, never builds them.

Drop reasons: diagram, no_math_clause, no_objective, out_of_scope, no_target,
answer_not_reproduced (programs ran, none matched), or, when no candidate ran to an answer, the
execution reason of the first (timeout, too_large, unparseable, not_single_answer, no_solution,
underdetermined, sympy_failed, ... from solver/math_program.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from mycelium.data.errors import Dropped
from mycelium.data.gold import GoldProblem
from mycelium.data.math_answers import math_equivalent
from mycelium.signals.clauses import Span, clause_spans
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_program import MathProgram, execute_math_program
from mycelium.solver.math_structure import (
    DEFAULT_TIMEOUT_S,
    CandidateProgram,
    MathReading,
    math_spans,
    math_structure,
)
from mycelium.solver.quantities import find_mentions
from mycelium.specialists.labels.schema import (
    LabelArg,
    LabelQuantity,
    LabelStep,
    ProblemLabels,
)
from mycelium.specialists.math_roles import ROLES, candidate_roles, ref_text
from mycelium.specialists.problem_view import problem_words

__all__ = ["ROLES", "label_math_problem", "labels_from_math_program", "validate_math_labels"]
_EXACT_RATIONAL = re.compile(
    r"(?P<sign>-\s*)?(?:(?P<integer>\d+)|\\[dt]?frac\{(?P<numerator>\d+)\}\{(?P<denominator>\d+)\})")


def label_math_problem(item: GoldProblem, *, clauses: Sequence[Span] | None = None,
                       timeout_s: float = DEFAULT_TIMEOUT_S) -> ProblemLabels:
    """Reference labels of one MATH problem; raises Dropped(reason). `clauses` skips the spaCy
    parse when the caller parsed many problems in one batch (`clause_spans_many`); `timeout_s`
    bounds each sympy and math-verify call."""
    text = item.problem.text
    problem, candidates = math_structure(
        text, clauses=clause_spans(text) if clauses is None else clauses, timeout_s=timeout_s)
    candidate, program = _validate(problem, candidates, item.gold.answer, timeout_s)
    return _labels(item, problem, candidate, program)


def labels_from_math_program(item: GoldProblem, program_json: dict, *,
                             clauses: Sequence[Span] | None = None,
                             timeout_s: float = DEFAULT_TIMEOUT_S) -> ProblemLabels:
    """Labels of a program the students chose for a train problem (a round's student_solve):
    the structure parser's candidate with the same steps, labelled as reference labels are, the
    program re-executed and checked against the gold answer. Raises Dropped: not_a_candidate
    (the program is no candidate of the parser, e.g. the direct track's), or the reasons of
    label_math_problem."""
    text = item.problem.text
    problem, candidates = math_structure(
        text, clauses=clause_spans(text) if clauses is None else clauses, timeout_s=timeout_s)
    steps = MathProgram.from_json(program_json).steps
    match = next((index for index, candidate in enumerate(candidates)
                  if candidate.steps == steps), None)
    if match is None:
        raise Dropped("not_a_candidate", "the program is none of the parser's candidates")
    candidate, program = _validate(problem, [candidates[match]], item.gold.answer, timeout_s)
    row = _labels(item, problem, candidate, MathProgram(program.steps, match + 1))
    return replace(row, source="student")


def validate_math_labels(row: ProblemLabels, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Re-execute a stored MATH trace's program over its text's math spans; raises
    Dropped("answer_not_reproduced") unless the answer is equivalent to the row's gold answer
    (the trace store's check before it keeps a new trace)."""
    expressions = [span.latex for span in math_spans(row.text)]
    try:
        program = MathProgram.from_json(json.loads(row.program))
        answer = execute_math_program(program, expressions, timeout_s=timeout_s)
    except (ExecutionError, ValueError) as error:
        raise Dropped("answer_not_reproduced", str(error)) from None
    if not _equivalent(row.answer, answer, timeout_s):
        raise Dropped("answer_not_reproduced", f"{answer} against {row.answer}")


def _validate(problem: MathReading, candidates: list[CandidateProgram], gold: str,
              timeout_s: float) -> tuple[CandidateProgram, MathProgram]:
    """The first candidate whose answer is equivalent to gold; Dropped otherwise. A timeout
    ends the search: the candidates after it solve the same equations."""
    expressions = [span.latex for span in problem.spans]
    first_error: ExecutionError | None = None
    answers: set[str] = set()
    for tried, candidate in enumerate(candidates, 1):
        program = MathProgram(candidate.steps, tried)
        try:
            answer = execute_math_program(program, expressions, timeout_s=timeout_s)
        except ExecutionError as error:
            first_error = first_error or error
            if error.reason == "timeout":
                break
            continue
        if answer not in answers and _equivalent(gold, answer, timeout_s):
            return candidate, program
        answers.add(answer)
    if answers or first_error is None:
        raise Dropped("answer_not_reproduced", f"{len(candidates)} candidate programs")
    raise Dropped(first_error.reason, first_error.detail)


def _equivalent(gold: str, answer: str, timeout_s: float) -> bool:
    """math_equivalent, but two different exact rationals (the most common miss: "45" against
    "44") are told apart here rather than by math-verify's ~40 ms of parsing. Only a miss takes
    this shortcut; every kept answer is math_equivalent's."""
    gold_value, value = _rational(gold), _rational(answer)
    if gold_value is not None and value is not None and gold_value != value:
        return False
    return math_equivalent(gold, answer, timeout_s=timeout_s)


def _rational(text: str) -> Fraction | None:
    """The value of an integer or a fraction written as sympy.latex writes it; None for anything
    else (decimals included: math-verify may compare those with a tolerance)."""
    match = _EXACT_RATIONAL.fullmatch(text.strip())
    if match is None:
        return None
    sign = -1 if match["sign"] else 1
    if match["integer"] is not None:
        return Fraction(sign * int(match["integer"]))
    denominator = int(match["denominator"])
    return Fraction(sign * int(match["numerator"]), denominator) if denominator else None


def _labels(item: GoldProblem, problem: MathReading, candidate: CandidateProgram,
            program: MathProgram) -> ProblemLabels:
    words = problem_words(problem.text)
    roles = candidate_roles(problem, candidate, words)
    order = [clause for clause in roles.clause_roles if clause != problem.objective]
    steps = [LabelStep(label=roles.clause_roles[clause], group=[problem.clauses[clause]],
                       args=[], expression="; ".join(roles.clause_texts[clause]))
             for clause in order]
    steps.append(LabelStep(
        label=roles.clause_roles[problem.objective], group=[problem.clauses[problem.objective]],
        args=[LabelArg(kind="step", index=index) for index in range(len(steps))],
        expression=ref_text(problem, program.steps[-1].target)))
    quantities = [LabelQuantity(str(mention.value), mention.start, mention.end, mention.text)
                  for mention in find_mentions(problem.text)]
    return ProblemLabels(
        problem_id=item.problem.id, dataset="math", text=problem.text, answer=item.gold.answer,
        words=words, tags=roles.word_tags, quantities=quantities,
        constants=[], steps=steps, program=json.dumps(program.to_json()), source="reference")
