"""GSM8K gold programs: a worked solution's arithmetic turned into a linked, executable program.

Each `<<lhs=rhs>>` calculator annotation is one equation; so is plain arithmetic the solution
writes outside annotations ("so 20/4 = $5" on a line with no annotation). Every equation's
left-hand side goes through the whitelisting parser, its steps are appended to the program, and
each number is linked: to an earlier equation's result, else to a quantity in the problem text,
else to a named constant, else left as an unlinked literal.

The program's answer is the last equation whose exact value equals the `####` answer; steps it
does not depend on are pruned. Using the gold answer here is legitimate: this builds *training
labels*, and a problem whose program does not reproduce the answer is dropped with a reason.

    mycelium gold-check ../shared/data/gsm8k/train.jsonl --json
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from mycelium.data.answers import parse_number
from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.solver.executor import ExecutionError, apply, arg_value
from mycelium.solver.expr import Node, Num, evaluate, parse_expression, to_steps
from mycelium.solver.program import (
    LEAF_KINDS,
    Arg,
    Constant,
    Op,
    Program,
    Step,
    StepRef,
    format_number,
)
from mycelium.solver.quantities import Linker
from mycelium.solver.reference.linear import find_linear_equations
from mycelium.solver.reference.prose_math import find_equations

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
PERCENT_CONSTANT = Constant("percent", Fraction(100))


@dataclass(frozen=True)
class Equation:
    """One computation of the worked solution: `lhs` evaluates to the written `rhs`."""

    lhs: str
    rhs: str
    origin: str  # "annotation 3" or "text line 4"
    percent: bool = False  # the result was written as a percentage ("= 60%")
    # Set for solved algebra ("3x + 3 = 36"): the expression of the unknown, already parsed.
    tree: Node | None = None


@dataclass
class GoldProgram:
    """The outcome for one problem: a program when reproduced, else a failure reason."""

    problem_id: str
    annotated: bool
    program: Program | None = None
    failure: str | None = None  # snake_case reason when program is None
    detail: str = ""


def _computes(lhs: str) -> bool:
    """'48/2' computes; '210' (a result restated as an annotation) does not."""
    return bool(re.search(r"[-+*/^%]", lhs.strip().lstrip("-+")))


def extract_equations(solution: str) -> list[Equation]:
    """The solution's computations in reading order: calculator annotations, and arithmetic
    written in prose ("so 20/4 = $5") other than the prose an annotation itself computes."""
    equations: list[Equation] = []
    annotation_count = 0
    for line_number, line in enumerate(solution.split("\n"), start=1):
        if line.startswith("####"):
            continue
        # The line with annotations removed (their displayed results stay), and where each was.
        found: list[tuple[int, Equation]] = []
        prose, cursor = "", 0
        for match in _ANNOTATION.finditer(line):
            annotation_count += 1
            prose += line[cursor:match.start()]
            cursor = match.end()
            lhs, _, rhs = match.group(1).rpartition("=")
            found.append((len(prose), Equation(lhs, rhs, f"annotation {annotation_count}")))
        prose += line[cursor:]
        computing_at = [position for position, equation in found if _computes(equation.lhs)]
        for equation in find_equations(prose):
            # "48/2 = <<48/2=24>>24": the prose is the annotation's own statement.
            if any(equation.equals < position <= equation.end for position in computing_at):
                continue
            rhs = format_number(equation.value * (100 if equation.percent else 1))
            found.append((equation.start, Equation(equation.lhs, rhs, f"text line {line_number}",
                                                   percent=equation.percent)))
        for position, expression in find_linear_equations(prose):
            found.append((position, Equation("", "", f"algebra line {line_number}",
                                              tree=expression)))
        equations.extend(equation for _, equation in sorted(found, key=lambda item: item[0]))
    return equations


def _states_number(text: str, value: Fraction) -> bool:
    return any(_parse_value(token) == value
               for token in re.findall(r"\d[\d,]*(?:\.\d+)?|\.\d+", text))


def _parse_value(text: str) -> Fraction | None:
    try:
        return parse_number(text)
    except MyceliumError:
        return None


@dataclass
class _Result:
    """An equation's result: its step, exact value, written value, and whether written as %."""

    step: int
    exact: Fraction
    written: Fraction | None
    percent: bool
    algebra: bool = False


@dataclass
class ProgramBuilder:
    """Accumulates equations into one program for one problem."""

    linker: Linker
    steps: list[Step] = field(default_factory=list)
    values: list[Fraction] = field(default_factory=list)
    results: list[_Result] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    def link_leaf(self, number: Num) -> Arg:
        """An earlier result not yet used, else a problem quantity, else a used result, else a
        constant: a result that already fed a later step is rarely what a new "10" means when
        the problem itself says "$10 bills"."""
        matching = [result for result in reversed(self.results)
                    if number.value in (result.exact, result.written)
                    or (result.percent and number.value == result.exact * 100)]
        used = {arg.index for step in self.steps for arg in step.args if isinstance(arg, StepRef)}
        fresh = [result for result in matching if result.step not in used]
        if not fresh and matching:
            quantity = self.linker.quantity(number.value)
            if quantity is not None:
                return quantity
        if matching:
            result = (fresh or matching)[0]
            if number.value in (result.exact, result.written):
                return StepRef(result.step)
            # "= 60%" reused as the number 60: convert explicitly, so values stay exact.
            return self.convert(result.step, Op.MUL, PERCENT_CONSTANT, "as percentage")
        return self.linker.link(number.value)

    def convert(self, step: int, op: Op, constant: Constant, origin: str) -> StepRef:
        return self._append_final(Step(op, (StepRef(step), constant), origin))

    def add(self, equation: Equation) -> None:
        try:
            tree = equation.tree or parse_expression(equation.lhs)
            value = evaluate(tree)  # size and division checks before anything is appended
        except ExecutionError as error:
            self.skipped[error.reason] += 1
            return
        if equation.tree is not None and any(
                result.algebra and result.exact == value for result in self.results):
            return  # "3x + 3 = 36", then "3x = 33": one solution, from the first statement
        start = len(self.steps)
        to_steps(tree, self.link_leaf, self.steps, equation.origin)
        if len(self.steps) == start:  # "<<5=5>>": a bare number restated, no computation
            return
        for step in self.steps[start:]:
            self.values.append(apply(step.op, [arg_value(arg, self.values) for arg in step.args]))
        written = _parse_value(equation.rhs)
        if written is not None and equation.percent:
            written /= 100
        self.results.append(_Result(len(self.steps) - 1, self.values[-1], written,
                                    equation.percent, algebra=equation.tree is not None))

    def final_step(self, gold: Fraction) -> int | None:
        """The step whose value is the gold answer: the last result equal to it, else a final
        result carried to the answer's form by one explicit step:
          - a percentage ("= 15%" is 0.15; answer 15, or 12/15 = .8 when asked what percent),
          - a unit conversion by a named constant the problem's words allow (0.5 hour -> 30),
          - rounding ("137.33 hours, so she must work 138"): CEIL or FLOOR.
        Only the last two results are tried for the form changes: the answer is stated last."""
        for result in reversed(self.results):
            if result.exact == gold:
                return result.step
        for result in self.results[-2:][::-1]:
            conversions = [(Op.MUL, constant) for constant in self.linker.unit_constants()]
            conversions += [(Op.DIV, constant) for constant in self.linker.unit_constants()]
            if result.percent or self.linker.asks_percentage:
                conversions.insert(0, (Op.MUL, PERCENT_CONSTANT))
            for op, constant in conversions:
                if apply(op, [result.exact, constant.value]) == gold:
                    return self._append_final(Step(op, (StepRef(result.step), constant),
                                                   "answer form")).index
            if result.exact.denominator != 1:
                for op in (Op.CEIL, Op.FLOOR):
                    if apply(op, [result.exact]) == gold:
                        return self._append_final(Step(op, (StepRef(result.step),),
                                                       "rounding")).index
        return None

    def _append_final(self, step: Step) -> StepRef:
        self.steps.append(step)
        return StepRef(len(self.steps) - 1)


def prune(steps: list[Step], final: int) -> Program:
    """Only the steps `final` depends on, renumbered."""
    needed: set[int] = set()
    stack = [final]
    while stack:
        index = stack.pop()
        if index in needed:
            continue
        needed.add(index)
        stack.extend(arg.index for arg in steps[index].args if isinstance(arg, StepRef))
    order = sorted(needed)
    new_index = {old: new for new, old in enumerate(order)}

    def renumber(arg: Arg) -> Arg:
        return StepRef(new_index[arg.index]) if isinstance(arg, StepRef) else arg

    return Program(tuple(Step(steps[old].op, tuple(map(renumber, steps[old].args)),
                              steps[old].origin) for old in order))


def build_gold_program(item: GoldProblem) -> GoldProgram:
    """The linked program of one GSM8K problem, or the reason there is none."""
    solution = item.gold.solution
    annotated = bool(_ANNOTATION.search(solution))
    outcome = GoldProgram(item.problem.id, annotated)
    gold = parse_number(item.gold.answer)
    builder = ProgramBuilder(Linker(item.problem.text))
    for equation in extract_equations(solution):
        builder.add(equation)
    final = builder.final_step(gold)
    if final is not None:
        outcome.program = prune(builder.steps, final)
        return outcome
    if any(result.written == gold for result in builder.results):
        outcome.failure = "rounded_intermediate"  # the written result is a rounded value
    elif builder.skipped:
        outcome.failure = f"annotation_{next(iter(builder.skipped))}"
    elif not builder.results:
        outcome.failure = "no_computation"
    elif _states_number(solution.rsplit("####", 1)[0], gold):
        # "... 12 pounds." in prose whose arithmetic this reader cannot follow
        outcome.failure = "answer_stated_not_computed"
    else:
        # the worked solution never writes the final answer: usually an arithmetic slip in the
        # dataset (its annotations compute 108, its '####' says 106)
        outcome.failure = "answer_absent_from_solution"
    outcome.detail = "; ".join(f"{reason} x{count}" for reason, count in builder.skipped.items())
    return outcome


@dataclass
class GoldCheckReport:
    """Counts over a GSM8K file; `to_json` is the documented `gold-check --json` schema."""

    total: int = 0
    annotated: int = 0
    reproduced: int = 0
    failures: Counter = field(default_factory=Counter)
    leaves: Counter = field(default_factory=Counter)  # kind -> count over reproduced programs
    examples: dict[str, str] = field(default_factory=dict)  # failure reason -> a problem id
    bad_rows: int = 0

    @property
    def rate(self) -> float:
        return self.reproduced / self.annotated if self.annotated else 0.0

    def linkage(self) -> dict[str, float]:
        total = sum(self.leaves.values())
        return {kind: (self.leaves[kind] / total if total else 0.0)
                for kind in ("problem", "step", "constant", "unlinked")}

    def to_json(self) -> dict:
        return {"total": self.total, "annotated": self.annotated, "reproduced": self.reproduced,
                "rate": round(self.rate, 6), "failures": dict(self.failures.most_common()),
                "linkage": {kind: round(share, 6) for kind, share in self.linkage().items()},
                "leaves": sum(self.leaves.values()), "bad_rows": self.bad_rows,
                "failure_examples": self.examples}


def gold_check(items: Iterable[GoldProblem]) -> tuple[GoldCheckReport, list[GoldProgram]]:
    """Build every problem's gold program and count what reproduced and why the rest did not."""
    report = GoldCheckReport()
    outcomes = []
    for item in items:
        outcome = build_gold_program(item)
        outcomes.append(outcome)
        report.total += 1
        if not outcome.annotated:
            continue
        report.annotated += 1
        if outcome.program is None:
            report.failures[outcome.failure] += 1
            report.examples.setdefault(outcome.failure, outcome.problem_id)
            continue
        report.reproduced += 1
        report.leaves.update(LEAF_KINDS[type(arg)] for arg in outcome.program.leaves())
    return report, outcomes
