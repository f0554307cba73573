"""Solving word problems with the students: when the checkpoints hold the reasoner
(specialists/models/reasoner.py), its exact beam search over binary steps; else the pipeline
family: tagger -> groups -> classifier -> extractor -> candidate search (solver/search.py) ->
exact execution of the assembled program.

    specialists = Specialists.load(find_checkpoints(None))      # the newest round under runs/
    results = solve_word_problems([Problem.create("gsm8k", text)], specialists)
    results[0].answer, results[0].steps

Inference takes `Problem`s, which have no answer field: no gold answer can reach it. Batched:
each specialist runs one encoder forward per problem, in batches; the search then scores its
hypotheses from the extractor's cached parts.

Groups are built as training builds them (labels_gsm8k.py): a step's group is the spaCy clauses
of the quantities it uses, plus the question clause on the last step. So a non-final step's
candidate groups are the clauses of one or two quantity mentions, or empty (a step that only
combines earlier results); the final step's are the question clause, alone or with one mention's
clauses. The tagger marks the words a solution uses (I-OPERAND) and the question (I-QUESTION);
each number it tags that a program leaves unused costs that program a penalty. (Groups made of
the tagger's own runs, which merge neighbouring clauses, solved 5% of 80 train problems where
clause groups solve 16%.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from mycelium.data.records import Problem, SolveResult
from mycelium.signals.clauses import Span, clause_spans_many, expand_to_clauses
from mycelium.solver.executor import ExecutionError, execute
from mycelium.solver.program import (
    Constant,
    Literal,
    Op,
    Program,
    Quantity,
    Step,
    StepRef,
    format_number,
)
from mycelium.solver.search import (
    Hypothesis,
    SearchConfig,
    SearchProblem,
    SearchResult,
    search,
)
from mycelium.specialists.labels.schema import LabelConstant, LabelQuantity
from mycelium.specialists.models.extractor import ArgumentQuery
from mycelium.specialists.models.reasoner import Finished, ReasonerResult
from mycelium.specialists.models.tagger import tag_spans
from mycelium.specialists.problem_view import (
    OPERAND_TAG,
    candidate_constants,
    candidate_quantities,
    question_span,
)
from mycelium.specialists.registry import Specialists

MAX_TEXT_CHARS = 20_000  # GSM8K problems are under 1,000 characters, MATH under 5,000
MAX_PAIRED_GROUPS = 6  # pairs of clause groups are candidates up to this many (15 pairs)

Group = list[tuple[int, int]]


@dataclass
class Layout:
    """One problem's candidate groups, from its word tags (predicted, or gold when evaluating)."""

    text: str
    spans: list[tuple[int, int, str]]  # tagged runs: (start, end, tag)
    groups: list[Group]  # 0: empty; then the other step groups; then the final groups
    step_groups: list[int]
    final_groups: list[int]
    quantities: list[LabelQuantity]
    constants: list[LabelConstant]
    mention_of: list[int]
    tagged_mentions: frozenset[int]
    inside: list[frozenset[int]]  # per group: quantity candidates inside it
    needs_quantity: list[bool]  # per group: has operand words (not only the question)


def tagged_spans(words: Sequence[tuple[int, int]], tags: Sequence[str]
                 ) -> list[tuple[int, int, str]]:
    """Maximal runs of one non-O tag over `words`, as (start char, end char, tag)."""
    return [(words[first][0], words[last - 1][1], tag)
            for first, last, tag in sorted(tag_spans(list(tags)))]


def quantity_mentions(text: str, spans: Sequence[tuple[int, int, str]]
                      ) -> tuple[list[LabelQuantity], dict[tuple[int, int], int], list[int],
                                 frozenset[int]]:
    """The quantity candidates; each mention's (start, end) -> mention number; the mention of
    each candidate (a mention's readings share one); the mentions in operand-tagged spans."""
    quantities = candidate_quantities(text)
    mentions: dict[tuple[int, int], int] = {}
    mention_of = [mentions.setdefault((q.start, q.end), len(mentions)) for q in quantities]
    operand_words = [(start, end) for start, end, tag in spans if tag == OPERAND_TAG]
    tagged = frozenset(index for (start, end), index in mentions.items()
                       if any(a < end and start < b for a, b in operand_words))
    return quantities, mentions, mention_of, tagged


def problem_layout(text: str, words: Sequence[tuple[int, int]], tags: Sequence[str],
                   clauses: Sequence[Span]) -> Layout:
    """Candidate groups of `text`, built the way training groups are (labels_gsm8k.py): a
    step's group is the clauses of the quantities it uses (`expand_to_clauses`), so the
    candidates are the clauses of one or two quantity mentions, or empty; the final step's group
    adds the question clause. The tags (one per word of `words`, `problem_words(text)`) say
    which numbers the solution should use: each tagged number left unused costs the search a
    penalty."""
    spans = tagged_spans(words, tags)
    quantities, mentions, mention_of, tagged = quantity_mentions(text, spans)
    question = question_span(text, clauses)
    question_group = [question if question is not None else (0, len(text))]
    singles: list[Group] = []
    paired: list[Group] = []  # the groups of tagged numbers: the ones pairs are made of
    for mention, index in mentions.items():
        group = expand_to_clauses(text, [mention], clauses)
        if group not in singles:
            singles.append(group)
        if (index in tagged or not tagged) and group not in paired:
            paired.append(group)
    pairs: list[Group] = []
    if len(paired) <= MAX_PAIRED_GROUPS:  # a step may draw on two clauses
        for i, first in enumerate(paired):
            for second in paired[i + 1:]:
                group = expand_to_clauses(text, [*first, *second], clauses)
                if group not in singles and group not in pairs:
                    pairs.append(group)
    step_groups: list[Group] = [[], *singles, *pairs]
    finals = [question_group]
    for group in singles:
        merged = expand_to_clauses(text, [*group, *question_group], clauses)
        if merged not in finals:
            finals.append(merged)
    groups = [*step_groups, *finals]
    return Layout(text, spans, groups, list(range(len(step_groups))),
                  list(range(len(step_groups), len(groups))), quantities,
                  candidate_constants(text), mention_of, tagged,
                  *group_constraints(groups, quantities, question_group))


def group_constraints(groups: list[Group], quantities: list[LabelQuantity],
                      question: Group) -> tuple[list[frozenset[int]], list[bool]]:
    """Per group, the quantities inside it, and whether it holds more than the question."""
    inside = [frozenset(i for i, q in enumerate(quantities)
                        if any(a <= q.start and q.end <= b for a, b in group))
              for group in groups]
    needs = [bool(group) and sorted(group) != sorted(question) for group in groups]
    return inside, needs


def predict_words(texts: list[str], specialists: Specialists
                  ) -> list[tuple[list[tuple[int, int]], list[str]]]:
    """Per text: its words (as the tagger split them) and their predicted tags."""
    return [([(word.start, word.end) for word in tagged], [word.tag for word in tagged])
            for tagged in specialists.tagger.predict(texts)]


def search_layouts(layouts: list[Layout], specialists: Specialists, config: SearchConfig,
                   plans: Sequence[list[tuple[int, str]] | None] | None = None
                   ) -> list[SearchResult]:
    """The classifier on every candidate group, the extractor's scorers, then the search per
    problem. `plans` fix each problem's (group, op) steps: evaluation's oracle classifier."""
    op_log_probs = specialists.classifier.predict([layout.text for layout in layouts],
                                                  [layout.groups for layout in layouts])
    queries = [ArgumentQuery(layout.text, layout.quantities, layout.constants, [],
                             layout.groups) for layout in layouts]
    scorers = specialists.extractor.step_scorers(queries, max_positions=config.max_args)
    results = []
    for index, layout in enumerate(layouts):
        problem = SearchProblem(
            step_groups=layout.step_groups, final_groups=layout.final_groups,
            op_log_probs=op_log_probs[index], arg_scorer=scorers[index],
            arity=specialists.extractor.vocab.bounds, mention_of=layout.mention_of,
            tagged_mentions=layout.tagged_mentions, inside=layout.inside,
            needs_quantity=layout.needs_quantity,
            plan=plans[index] if plans is not None else None)
        results.append(search(problem, config))
    return results


def assemble(layout: Layout, hypothesis: Hypothesis) -> Program:
    """The solver's Program from a search hypothesis: typed arguments with their spans."""
    steps = []
    for step in hypothesis.steps:
        args = []
        for candidate in step.args:
            if candidate.kind == "quantity":
                q = layout.quantities[candidate.index]
                args.append(Quantity(Fraction(q.value), q.start, q.end, q.text))
            elif candidate.kind == "step":
                args.append(StepRef(candidate.index))
            elif candidate.kind == "constant":
                c = layout.constants[candidate.index]
                args.append(Constant(c.name, Fraction(c.value)))
            else:
                args.append(Literal(Fraction(candidate.value)))
        steps.append(Step(Op(step.op), tuple(args), origin=f"group {step.group}"))
    return Program(tuple(steps))


def readable_steps(layout: Layout, program: Program, hypothesis: Hypothesis) -> list[dict]:
    """Each step: its line, its value, and the problem words of its group (text and char
    spans)."""
    return [{"step": f"s{index + 1}", "op": step.op.value,
             "line": step.render(index), "value": format_number(found.value),
             "words": " … ".join(layout.text[a:b] for a, b in layout.groups[found.group]),
             "spans": [[a, b] for a, b in layout.groups[found.group]]}
            for index, (step, found) in enumerate(zip(program.steps, hypothesis.steps,
                                                      strict=True))]


def check_text(text: str) -> str:
    """'' for a usable problem text, else the reason it is invalid."""
    if not text.strip():
        return "empty_text"
    if len(text) > MAX_TEXT_CHARS:
        return "text_too_long"
    return ""


def solve_word_problems(problems: Sequence[Problem], specialists: Specialists,
                        config: SearchConfig | None = None) -> list[SolveResult]:
    """Answers (or a no_answer / invalid status with a reason) for word problems, one result per
    problem in order."""
    config = config or SearchConfig()
    results: dict[int, SolveResult] = {}
    todo = []
    for index, problem in enumerate(problems):
        reason = check_text(problem.text)
        if reason:
            results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                         status="invalid", reason=reason)
        elif not candidate_quantities(problem.text):
            results[index] = SolveResult(problem_id=problem.id, dataset=problem.dataset,
                                         status="no_answer", reason="no_numbers",
                                         track="specialists")
        else:
            todo.append(index)
    started = time.perf_counter()
    texts = [problems[index].text for index in todo]
    if specialists.reasoner is not None:  # the state-aware step model, when the round has one
        found_programs = specialists.reasoner.solve(texts, config)
        if specialists.verifier is not None:  # re-ranks each beam, answer included
            found_programs = [specialists.verifier.choose(found) for found in found_programs]
        each = (time.perf_counter() - started) / max(len(todo), 1)
        for index, text, found in zip(todo, texts, found_programs, strict=True):
            results[index] = result_from_reasoner(problems[index], text, found, each)
        return [results[index] for index in range(len(problems))]
    layouts = [problem_layout(text, words, tags, clauses)
               for text, (words, tags), clauses in zip(
                   texts, predict_words(texts, specialists), clause_spans_many(texts),
                   strict=True)]
    searched = search_layouts(layouts, specialists, config)
    each = (time.perf_counter() - started) / max(len(todo), 1)
    for index, layout, found in zip(todo, layouts, searched, strict=True):
        results[index] = result_from_search(problems[index], layout, found, each)
    return [results[index] for index in range(len(problems))]


def _result(common: dict[str, Any], best: Any, reason: str, assemble_one: Any,
            steps_of: Any, beam: list[Any]) -> SolveResult:
    """The SolveResult of a finished search, whichever model searched: `assemble_one(found)`
    turns one of its programs into a solver Program, `steps_of(program)` gives the readable
    steps of the best."""
    if best is None:
        return SolveResult(status="no_answer", reason=reason, **common)
    program = assemble_one(best)
    try:
        value = execute(program)  # the assembled program, run again on its own
    except ExecutionError as error:  # pragma: no cover - the search executed the same steps
        return SolveResult(status="no_answer", reason=error.reason, **common)
    return SolveResult(status="ok", answer=format_number(value), program=program.to_json(),
                       steps=steps_of(program),
                       beam=[_beam_entry(found, assemble_one(found)) for found in beam],
                       **common)


def _beam_entry(found: Any, program: Program) -> dict[str, Any]:
    """One finished candidate of a SolveResult's beam: its answer, search score, verifier
    p(right) where one ranked, the program in readable form and as JSON (what a round's
    student_solve re-labels when this candidate, not the chosen one, reaches the gold answer)."""
    return {"answer": format_number(found.answer), "score": round(found.total, 4),
            **({"verifier": round(found.verifier, 4)}
               if getattr(found, "verifier", None) is not None else {}),
            "program": program.render(), "program_json": program.to_json()}


def result_from_search(problem: Problem, layout: Layout, found: SearchResult,
                       seconds: float) -> SolveResult:
    common = {"problem_id": problem.id, "dataset": problem.dataset, "track": "specialists",
              "spans": layout.spans, "seconds": round(seconds, 4)}
    return _result(common, found.best, found.reason, lambda h: assemble(layout, h),
                   lambda program: readable_steps(layout, program, found.best), found.beam)


def reasoner_program(text: str, finished: Finished) -> Program:
    """The solver's Program from one of the reasoner's finished programs: its pool references
    become typed arguments with their spans (quantities) or names (constants)."""
    quantities = candidate_quantities(text)
    constants = {constant.name: constant for constant in candidate_constants(text)}
    steps = []
    for op, *refs in finished.steps:
        args = []
        for kind, key in refs:
            if kind == "quantity":
                q = quantities[key]
                args.append(Quantity(Fraction(q.value), q.start, q.end, q.text))
            elif kind == "constant":
                args.append(Constant(key, Fraction(constants[key].value)))
            elif kind == "literal":
                args.append(Literal(Fraction(key)))
            else:
                args.append(StepRef(key))
        steps.append(Step(Op(op), tuple(args), origin="reasoner"))
    return Program(tuple(steps))


def result_from_reasoner(problem: Problem, text: str, found: ReasonerResult, seconds: float
                         ) -> SolveResult:
    common = {"problem_id": problem.id, "dataset": problem.dataset, "track": "specialists",
              "seconds": round(seconds, 4)}

    def steps_of(program: Program) -> list[dict]:
        return [{"step": f"s{index + 1}", "op": step.op.value, "line": step.render(index),
                 "value": format_number(value),
                 "words": " … ".join(arg.text for arg in step.args if isinstance(arg, Quantity)),
                 "spans": [[arg.start, arg.end] for arg in step.args
                           if isinstance(arg, Quantity)]}
                for index, (step, value) in enumerate(zip(program.steps, found.best.values,
                                                          strict=True))]

    return _result(common, found.best, found.reason, lambda f: reasoner_program(text, f),
                   steps_of, found.finished)
