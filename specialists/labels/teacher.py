"""GSM8K labels from a teacher's signals: segments, their arithmetic, IAF spans, operand links.

For one problem, the Signals record (signals/extract.py) splits the teacher's chain-of-thought
into computation segments at the JSD peaks and gives each segment its IAF clause spans (where in
the problem its attention went) and its operand links (which problem quantity each number is).
From these (segments first joined where a boundary falls inside a written equation,
`reading_groups`):

  - each segment's arithmetic is read with the same readers the worked solutions go through
    (solver/gsm8k_gold.py: prose equations "48/2 = 24", linear equations "3x + 3 = 36"), after
    the LaTeX a math teacher writes ("$\\frac{48}{2} = 24$", "3 \\times 4") is turned into plain
    arithmetic;
  - each number is linked to an earlier result, else to the problem quantity the segment's
    operand link names, else as the gold programs link it (quantity, constant, literal);
  - the program ends at the result equal to the gold answer (or one explicit step from it:
    a percentage, unit conversion or rounding), and steps it does not use are pruned;
  - each step's group is its segment's IAF clause spans plus the clauses of its quantities
    (labels_gsm8k.labels_from_program), and the labels are execution-validated there.

Drop reasons: `signals_<status>` (no usable signals), `no_arithmetic` (the CoT computes nothing
these readers follow), `answer_not_reproduced`, and the validation reasons of labels_gsm8k.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from mycelium.data.answers import parse_number
from mycelium.data.errors import Dropped, MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import iter_jsonl
from mycelium.data.records import Signals, TeacherTrace
from mycelium.signals.clauses import Span
from mycelium.solver.program import Quantity
from mycelium.solver.quantities import Linker
from mycelium.solver.reference.gsm8k_gold import ProgramBuilder, extract_equations, prune
from mycelium.solver.reference.prose_math import find_equations
from mycelium.specialists.labels.gsm8k import labels_from_program
from mycelium.specialists.labels.schema import ProblemLabels

USABLE_STATUSES = ("ok", "no_peaks")  # "no_peaks" keeps the whole CoT as one segment

_FRACTION = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LATEX_REPLACEMENTS = (
    (re.compile(r"\\(?:times|cdot)"), " * "), (re.compile(r"\\div"), " / "),
    (re.compile(r"\\left|\\right"), ""), (re.compile(r"\\[()\[\]]"), " "),
    (re.compile(r"\{,\}"), ","), (re.compile(r"\\,|\\!|\\ |~"), ""), (re.compile(r"\\%"), "%"),
    (re.compile(r"(?<!\\)\$"), " "), (re.compile(r"\\\$"), "$"),  # math delimiters, then \$5
)


def latex_to_arithmetic(text: str) -> str:
    """Plain arithmetic from a teacher's LaTeX: fractions, times/div signs, text units, boxes.
    Non-arithmetic LaTeX is left as it is (the readers skip what they cannot parse)."""
    previous = None
    while previous != text:  # innermost first, so nested \frac and \text unwrap in turn
        previous = text
        text = _FRACTION.sub(r"((\1)/(\2))", text)
        text = _TEXT.sub(r" \1 ", text)
        text = _BOXED.sub(r"\1", text)
    for pattern, replacement in _LATEX_REPLACEMENTS:
        text = pattern.sub(replacement, text)
    return text


class _HintedLinker(Linker):
    """A Linker that first takes the problem quantity the segment's operand link names."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.hints: dict[Fraction, tuple[int, int]] = {}

    def quantity(self, value: Fraction) -> Quantity | None:
        span = self.hints.get(value)
        if span is not None:
            for index, mention in enumerate(self.mentions):
                if (mention.start, mention.end) == span and value in mention.aliases:
                    self.used.add(index)
                    return Quantity(value, mention.start, mention.end, mention.text)
        return super().quantity(value)


def label_gsm8k_teacher(item: GoldProblem, signals: Signals, trace: TeacherTrace,
                        clauses: Sequence[Span] | None = None) -> ProblemLabels:
    """Teacher labels of one GSM8K problem (module doc). Raises Dropped."""
    if signals.status not in USABLE_STATUSES:
        raise Dropped(f"signals_{signals.status}")
    try:
        gold = parse_number(item.gold.answer)
    except MyceliumError:
        raise Dropped("gold_unparseable", item.gold.answer) from None
    linker = _HintedLinker(item.problem.text)
    builder = ProgramBuilder(linker)
    groups = reading_groups(signals, trace.cot_text)
    for index, group in enumerate(groups):
        segments = [signals.segments[member] for member in group]
        linker.hints = {Fraction(link["value"]): (link["problem_start"], link["problem_end"])
                        for segment in segments for link in segment.operands
                        if link["kind"] == "problem"}
        text = latex_to_arithmetic(trace.cot_text[segments[0].char_start:
                                                  segments[-1].char_end])
        for equation in extract_equations(text):
            builder.add(dataclasses.replace(equation, origin=f"segment {index}"))
    if not builder.results:
        raise Dropped("no_arithmetic")
    final = builder.final_step(gold)
    if final is None:
        raise Dropped("answer_not_reproduced", f"gold {item.gold.answer}")
    program = prune(builder.steps, final)
    extra_spans = [_segment_spans(step.origin, signals, groups) for step in program.steps]
    return labels_from_program(item, program, source="teacher", clauses=clauses,
                               extra_spans=extra_spans)


def reading_groups(signals: Signals, cot_text: str) -> list[list[int]]:
    """The segments, in order, with each one that begins inside a written equation joined to
    the one before ("... is 80-32 =" | "48. The 48 chairs ..."): a boundary there splits a
    computation from its result, and read apart neither half is an equation, so the result
    would reach later steps as an unexplained literal. Returns lists of segment indices."""
    inside: set[int] = set()
    offset = 0
    for line in cot_text.split("\n"):
        for equation in find_equations(line):
            inside.update(range(offset + equation.start + 1, offset + equation.end))
        offset += len(line) + 1
    groups: list[list[int]] = []
    for index, segment in enumerate(signals.segments):
        if groups and segment.char_start in inside:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _segment_spans(origin: str, signals: Signals, groups: list[list[int]]) -> list[Span]:
    """The IAF clause spans of the segments a step was read from; none for the steps the
    builder appends itself (answer form, rounding)."""
    match = re.fullmatch(r"segment (\d+)", origin)
    if match is None:
        return []
    return [tuple(span) for member in groups[int(match.group(1))]
            for span in signals.segments[member].clause_spans]


def read_teacher_run(signals_dir: Path) -> dict[str, tuple[Signals, TeacherTrace]]:
    """problem id -> (Signals, TeacherTrace) from a `mycelium signals --out DIR` folder."""
    signals_dir = Path(signals_dir)
    paths = {name: signals_dir / f"{name}.jsonl" for name in ("signals", "traces")}
    for name, path in paths.items():
        if not path.is_file():
            raise MyceliumError(f"{signals_dir}: no {name}.jsonl; expected the output folder of "
                                "`mycelium signals --out DIR`")
    signals: dict[str, Signals] = {}
    for number, row in iter_jsonl(paths["signals"]):
        try:
            if isinstance(row, ValueError):
                raise row
            row.pop("failure", None)
            row.pop("io_tags", None)  # written by runs before the field was dropped (never read)
            record = Signals.model_validate(row)
        except (ValueError, AttributeError) as error:
            raise MyceliumError(f"{paths['signals']}:{number}: not a Signals record "
                                f"({str(error).splitlines()[0]})") from None
        signals[record.problem_id] = record
    traces: dict[str, TeacherTrace] = {}
    for number, row in iter_jsonl(paths["traces"]):
        try:
            if isinstance(row, ValueError):
                raise row
            record = TeacherTrace.model_validate(row)
        except ValueError as error:
            raise MyceliumError(f"{paths['traces']}:{number}: not a TeacherTrace record "
                                f"({str(error).splitlines()[0]})") from None
        traces[record.problem_id] = record
    return {problem_id: (record, traces[problem_id]) for problem_id, record in signals.items()
            if problem_id in traces}
