"""Solving MATH problems, on three tracks; each result records which one answered.

  direct      the problem's math is one expression or one equation in one unknown: sympy
              evaluates it (EVALUATE) or solves it (SOLVE), through solver/math_program.py.
  structure   the structure parser (solver/math_structure.py): clause roles -> candidate
              SOLVE / EVALUATE / SIMPLIFY / number-rule programs in a fixed order; the first
              that executes to an answer is it. The same candidates reference labels are
              validated from, with no gold answer here to choose among them. With the MATH
              students loaded (family "math"), the candidates are tried in the order the
              students' role predictions agree with them (inference/math_choice.py), the rule
              order breaking ties; the result's program says which order (`ordered_by`).
  specialists a problem with no LaTeX math (a word problem) goes to the GSM8K specialists,
              when there are any (the pipeline or the reasoner), unless the structure
              parser's number rules read its objective ("What is the greatest common factor
              of 68 and 92?").

Direct falls through to structure when its program does not execute (two solutions, say).

    results = solve_math_problems([Problem.create("math", "Compute $\\dbinom{8}{4}$.")])
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from mycelium.data.errors import Dropped
from mycelium.data.records import Problem, SolveResult
from mycelium.inference.math_choice import candidate_order, predict_roles
from mycelium.inference.word_problems import check_text, solve_word_problems
from mycelium.signals.clauses import clause_spans_many
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_program import (
    MathOp,
    MathProgram,
    MathStep,
    describe_math,
    execute_math_program,
)
from mycelium.solver.math_structure import (
    DEFAULT_TIMEOUT_S,
    OUT_OF_SCOPE,
    CandidateProgram,
    MathReading,
    MathStructure,
    blank_math,
    math_spans,
    math_structure,
)
from mycelium.solver.search import SearchConfig
from mycelium.specialists.registry import Specialists

_NUMERAL_CHARS = set("0123456789,.- ")
# "Compute", "What is the value of", "Express your answer as a common fraction.": more words
# than this tell a story around the math, which then is not the whole problem.
MAX_DIRECT_WORDS = 16
_UNEVALUATED = ("\\sum", "\\int", "\\lim", "\\prod")
_LONE_SYMBOL = re.compile(r"[A-Za-z]|\\[a-zA-Z]+")  # x, \theta: names what is asked for


def direct_program(text: str, timeout_s: float = DEFAULT_TIMEOUT_S
                   ) -> tuple[list[str], MathProgram] | None:
    """(expressions, program) when the problem IS its math: one expression without unknowns or
    one equation in one unknown (bare numerals such as "$3$" and lone symbols such as the "$x$"
    of "solve for $x$" aside), with only a few words around it ("Compute ...", "What is ...?")
    and none that ask for something else (a remainder, a probability, a count: labels_math's
    out-of-scope words) or bring numbers of their own; None otherwise."""
    if "[asy]" in text:
        return None
    spans = math_spans(text)
    content = [span.latex for span in spans
               if not set(span.latex) <= _NUMERAL_CHARS
               and not _LONE_SYMBOL.fullmatch(span.latex.strip())]
    if len(content) != 1:
        return None
    words = blank_math(text, spans)
    if len(words.split()) > MAX_DIRECT_WORDS or any(char.isdigit() for char in words) \
            or OUT_OF_SCOPE.search(words):
        return None
    try:
        (facts,) = describe_math(content, timeout_s=timeout_s)
    except ExecutionError:
        return None
    if facts.kind == "expression" and not facts.symbols:
        return content, MathProgram((MathStep(MathOp.EVALUATE, 0),))
    if facts.kind == "equation" and len(facts.symbols) == 1:
        return content, MathProgram((MathStep(MathOp.SOLVE, facts.symbols[0], (0,)),))
    return None


def solve_direct(problem: Problem, timeout_s: float) -> SolveResult | None:
    """The direct track's answer, or None when the problem is not for it or its program does
    not give a value (an error, or an integral or sum sympy returns unevaluated)."""
    started = time.perf_counter()
    direct = direct_program(problem.text, timeout_s)
    if direct is None:
        return None
    expressions, program = direct
    try:
        answer = execute_math_program(program, expressions, timeout_s=timeout_s)
    except ExecutionError:
        return None
    if any(mark in answer for mark in _UNEVALUATED):
        return None
    return _math_result(problem, "direct", expressions, program, answer,
                        time.perf_counter() - started)


def run_structure(structure: MathStructure, timeout_s: float,
                  order: Sequence[int] | None = None) -> tuple[MathProgram, str] | str:
    """The first candidate program (in `order`, else the rule order) that executes and its
    answer, else the first one's reason. In the rule order a timeout ends the search: the later
    candidates solve the same equations, more generally. In another order that does not hold
    (SOLVE for "$\\sec x + \\tan x$" itself times out where SOLVE for x, then EVALUATE, does
    not), so a timeout there only skips its candidate."""
    first_reason = ""
    for index in range(len(structure.programs)) if order is None else order:
        program = structure.programs[index]
        try:
            return program, execute_math_program(program, structure.expressions,
                                                 timeout_s=timeout_s)
        except ExecutionError as error:
            first_reason = first_reason or error.reason
            if error.reason == "timeout" and order is None:
                break
    return first_reason or "no_program"


def _read_structures(problems: Sequence[Problem], indices: list[int], timeout_s: float
                     ) -> dict[int, tuple[MathReading, list[CandidateProgram]] | str]:
    """Each problem's reading and candidates, or the reason the parser dropped it."""
    clauses = clause_spans_many(problems[index].text for index in indices)
    readings: dict[int, tuple[MathReading, list[CandidateProgram]] | str] = {}
    for index, problem_clauses in zip(indices, clauses, strict=True):
        try:
            readings[index] = math_structure(problems[index].text, clauses=problem_clauses,
                                             timeout_s=timeout_s)
        except Dropped as drop:
            readings[index] = drop.reason
    return readings


def _student_orders(readings: dict[int, tuple[MathReading, list[CandidateProgram]] | str],
                    specialists: Specialists | None) -> dict[int, list[int]]:
    """The MATH students' candidate order for each problem with two or more candidates; none
    (the rule order) without the MATH students."""
    if specialists is None or not specialists.reads_math:
        return {}
    chosen = {index: reading for index, reading in readings.items()
              if not isinstance(reading, str) and len(reading[1]) > 1}
    if not chosen:
        return {}
    predictions = predict_roles(specialists, [reading for reading, _ in chosen.values()])
    return {index: candidate_order(reading, candidates, prediction)
            for (index, (reading, candidates)), prediction in zip(chosen.items(), predictions,
                                                                  strict=True)}


def _step_line(number: int, step: MathStep, expressions: list[str]) -> str:
    """One step's readable line, on one line: math spans may break lines ("$1 +\n 2$"), and
    splitting the whole program's text at line breaks gave more lines than steps."""
    line = " ".join(MathProgram((step,)).render(expressions).split())
    return f"s{number}{line.removeprefix('s1')}"


def _math_result(problem: Problem, track: str, expressions: list[str], program: MathProgram,
                 answer: str, seconds: float) -> SolveResult:
    steps = [{"step": f"s{index}", "op": step.op.value, "line": _step_line(index, step,
                                                                          expressions)}
             for index, step in enumerate(program.steps, 1)]
    return SolveResult(problem_id=problem.id, dataset=problem.dataset, status="ok",
                       answer=answer, track=track,
                       program={**program.to_json(), "expressions": expressions}, steps=steps,
                       seconds=round(seconds, 4))


def solve_math_problems(problems: Sequence[Problem], specialists: Specialists | None = None,
                        timeout_s: float = DEFAULT_TIMEOUT_S,
                        config: SearchConfig | None = None) -> list[SolveResult]:
    """One result per problem, in order; see the module docstring for the tracks."""
    results: dict[int, SolveResult] = {}
    word_problems: list[int] = []
    structured: list[int] = []
    for index, problem in enumerate(problems):
        reason = check_text(problem.text)
        if reason:
            results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                         status="invalid", reason=reason)
            continue
        if "[asy]" in problem.text:  # the figure holds what the words leave out
            results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                         status="no_answer", reason="diagram", track="structure")
            continue
        if not math_spans(problem.text):  # a word problem, unless a number rule reads it
            structured.append(index)
            continue
        direct = solve_direct(problem, timeout_s)
        if direct is not None:
            results[index] = direct
        else:
            structured.append(index)
    readings = _read_structures(problems, structured, timeout_s)
    orders = _student_orders(readings, specialists)
    for index in structured:
        problem = problems[index]
        started = time.perf_counter()
        reading = readings[index]
        ordered_by = "students" if index in orders else "rules"
        if isinstance(reading, str):
            outcome: tuple[MathProgram, str] | str = reading
        else:
            structure = MathStructure([span.latex for span in reading[0].spans],
                                      [MathProgram(candidate.steps, tried)
                                       for tried, candidate in enumerate(reading[1], 1)])
            outcome = run_structure(structure, timeout_s, orders.get(index))
        if isinstance(outcome, str) and not math_spans(problem.text):
            word_problems.append(index)  # no number rule answered it: the specialists may
            continue
        if isinstance(outcome, str):
            results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                         status="no_answer", reason=outcome, track="structure",
                                         seconds=round(time.perf_counter() - started, 4))
        else:
            result = _math_result(problem, "structure", structure.expressions, *outcome,
                                  time.perf_counter() - started)
            # `tried`: the chosen candidate's place in the rule order
            result.program["ordered_by"] = ordered_by
            results[index] = result
    if word_problems:
        if specialists is None or not specialists.solves_word_problems:
            for index in word_problems:
                problem = problems[index]
                results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                             status="no_answer", reason="no_specialists",
                                             track="specialists")
        else:
            solved = solve_word_problems([problems[index] for index in word_problems],
                                         specialists, config or SearchConfig())
            results.update(zip(word_problems, solved, strict=True))
    return [results[index] for index in range(len(problems))]
