"""GSM8K labels from a program: IO tags, span groups, operations and typed arguments.

Both GSM8K label sources end here. The reference source passes the gold program built from the
worked solution (solver/gsm8k_gold.py); the teacher source passes the program read from the
teacher's chain-of-thought with, per step, the problem spans its attention pointed at
(labels_teacher.py). Given the program, a problem's labels are:

  - each step's **group**: the clauses (signals/clauses.py) that state the step's problem
    quantities, plus any extra spans the source supplies (teacher attention); the last step's
    group also holds the question clause. A step that only combines earlier results and has no
    extra spans has an empty group.
  - **tags** over the problem's words: I-QUESTION for the question clause, I-OPERAND for words of
    any other group, O elsewhere.
  - **arguments**, typed: `quantity` i (an index into `candidate_quantities(text)`, which lists
    every number written in the problem once per value it can stand for: "half" is 1/2 and 2),
    `step` j, `constant` k (into `candidate_constants(text)`, the named constants the problem's
    words allow), or `literal` with its value when no candidate explains the number (the extractor
    learns frequent literals such as 2 or 1/100 as a small vocabulary).

Execution validation: the labels' own arguments are executed again (not the program they came
from), so a label that lost or misplaced an argument cannot pass; the result must equal the gold
answer exactly, else the problem is dropped (`execution_mismatch`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from fractions import Fraction

from mycelium.data.answers import parse_number
from mycelium.data.errors import Dropped, MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.signals.clauses import Span, clause_spans, expand_to_clauses
from mycelium.solver.executor import ExecutionError, apply
from mycelium.solver.program import Constant, Literal, Op, Program, Quantity, StepRef
from mycelium.solver.reference.gsm8k_gold import build_gold_program
from mycelium.specialists.labels.schema import (
    OUTSIDE,
    LabelArg,
    LabelConstant,
    LabelQuantity,
    LabelStep,
    ProblemLabels,
)
from mycelium.specialists.problem_view import (
    OPERAND_TAG,
    QUESTION_TAG,
    candidate_constants,
    candidate_quantities,
    problem_words,
    question_span,
)


def label_gsm8k_reference(item: GoldProblem,
                          clauses: Sequence[Span] | None = None) -> ProblemLabels:
    """Reference labels: the gold program of the worked solution, then `labels_from_program`."""
    outcome = build_gold_program(item)
    if outcome.program is None:
        raise Dropped(f"no_gold_program_{outcome.failure}", outcome.detail)
    return labels_from_program(item, outcome.program, source="reference", clauses=clauses)


def labels_from_program(item: GoldProblem, program: Program, *, source: str,
                        clauses: Sequence[Span] | None = None,
                        extra_spans: Sequence[Sequence[Span]] | None = None) -> ProblemLabels:
    """Labels of one problem from a program whose Quantity args carry char spans.

    `extra_spans[i]` are further problem spans for step i (the teacher's attention); `clauses`
    skips re-parsing when the caller parsed many problems in one batch. Raises Dropped."""
    text = item.problem.text
    if clauses is None:
        clauses = clause_spans(text)
    quantities = candidate_quantities(text)
    constants = candidate_constants(text)
    steps: list[LabelStep] = []
    for index, step in enumerate(program.steps):
        args = [_label_arg(arg, quantities, constants) for arg in step.args]
        spans = [(arg.start, arg.end) for arg in step.args if isinstance(arg, Quantity)]
        if extra_spans is not None:
            spans.extend(extra_spans[index])
        group = expand_to_clauses(text, spans, clauses) if spans else []
        steps.append(LabelStep(label=step.op.value, group=group, args=args))
    question = question_span(text, clauses)
    if steps and question is not None:
        last = steps[-1]
        group = _merge([*last.group, question])
        steps[-1] = LabelStep(label=last.label, group=group, args=last.args)
    words = problem_words(text)
    tags = [_tag(word, question, steps) for word in words]
    labels = ProblemLabels(
        problem_id=item.problem.id, dataset="gsm8k", text=text, answer=item.gold.answer,
        words=words, tags=tags, quantities=quantities, constants=constants, steps=steps,
        program=json.dumps(program.to_json()), source=source)
    validate_gsm8k_labels(labels)
    return labels


def execute_labels(labels: ProblemLabels) -> Fraction:
    """Run the steps' typed arguments (not the stored program) and return the last value."""
    return step_values(labels)[-1]


def step_values(labels: ProblemLabels) -> list[Fraction]:
    """Every step's value, running the steps' typed arguments (not the stored program)."""
    values: list[Fraction] = []
    for step in labels.steps:
        arguments = []
        for arg in step.args:
            if arg.kind == "step":
                if not 0 <= arg.index < len(values):
                    raise ExecutionError("bad_reference", f"step {arg.index + 1} not computed yet")
                arguments.append(values[arg.index])
            elif arg.kind == "quantity":
                arguments.append(Fraction(labels.quantities[arg.index].value))
            elif arg.kind == "constant":
                arguments.append(Fraction(labels.constants[arg.index].value))
            else:
                arguments.append(Fraction(arg.value))
        values.append(apply(Op(step.label), arguments))
    if not values:
        raise ExecutionError("empty_program", "no steps")
    return values


def validate_gsm8k_labels(labels: ProblemLabels) -> None:
    """Raise Dropped unless the labels execute exactly to the gold answer."""
    try:
        gold = parse_number(labels.answer)
    except MyceliumError:
        raise Dropped("gold_unparseable", labels.answer) from None
    try:
        value = execute_labels(labels)
    except ExecutionError as error:
        raise Dropped(f"execution_{error.reason}", error.detail) from None
    if value != gold:
        raise Dropped("execution_mismatch", f"labels give {value}, gold is {gold}")


def _label_arg(arg: object, quantities: list[LabelQuantity],
               constants: list[LabelConstant]) -> LabelArg:
    match arg:
        case StepRef(index):
            return LabelArg("step", index)
        case Quantity(value, start, end, _):
            for index, candidate in enumerate(quantities):
                if (candidate.start, candidate.end) == (start, end) and \
                        Fraction(candidate.value) == value:
                    return LabelArg("quantity", index, str(value))
            return LabelArg("literal", -1, str(value))
        case Constant(name, value):
            for index, candidate in enumerate(constants):
                if candidate.name == name:
                    return LabelArg("constant", index, str(value))
            # a constant the text's words do not allow (a written "= 60%" reused as 60):
            # inference could not offer it as a constant, so it is a literal here too
            return LabelArg("literal", -1, str(value))
        case Literal(value):
            return LabelArg("literal", -1, str(value))
    raise TypeError(f"not a program argument: {arg!r}")


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _tag(word: Span, question: Span | None, steps: list[LabelStep]) -> str:
    start, end = word
    if question is not None and question[0] < end and start < question[1]:
        return QUESTION_TAG
    if any(a < end and start < b for step in steps for a, b in step.group):
        return OPERAND_TAG
    return OUTSIDE
