"""The label record every specialist trains on (its Parquet store is store.py).

One `ProblemLabels` row per problem, whatever built it (reference solutions, teacher signals, or
students' own validated programs):

  - `words` (char spans) and `tags`, one per word: "O", or "I-<TYPE>" for the words of a clause
    the solution uses. GSM8K types: OPERAND (a clause stating a quantity some step computes with)
    and QUESTION (the clause that asks). MATH types are the clause roles (labels_math.py).
    IO, not BIO: a tagged run is one clause or several adjacent ones, and the grouping of runs
    into steps is the classifier's and the search's job, not the tagger's.
  - `quantities` (the numbers written in the problem: the extractor's "problem" candidates) and
    `constants` (the named constants the problem's words allow: its "constant" candidates).
  - `steps`, in program order: each with its `label` (the classifier's target: the operation for
    GSM8K, the role for MATH), its `group` (char spans of the clauses that feed it) and its typed
    `args` (quantity i, step j, constant k, or a literal value no candidate explains).
  - `program`: the executable program as JSON (solver.program for GSM8K, solver.math_program
    for MATH) and `answer`, the gold answer it was validated against. Training data only: the
    inference API never sees a `ProblemLabels`.

Provenance rides on every row (`source`, `round`, `config_hash`), and the store's manifest
(`labels.json`) repeats it with the build's counts. `SCHEMA_VERSION` changes whenever a column
does; reading a store of another version is refused with a clear message.

    row = ProblemLabels.from_row(parquet_row)   # store.py reads and writes whole stores
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCHEMA_VERSION = 1
OUTSIDE = "O"


@dataclass(frozen=True)
class LabelQuantity:
    """A number written in the problem: text[start:end], exact value as a fraction string."""

    value: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class LabelConstant:
    name: str
    value: str


@dataclass(frozen=True)
class LabelArg:
    """One argument: `kind` in ARG_KINDS; `index` into quantities / steps / constants (-1 for a
    literal); `value` the exact value ("1/100") for quantities, constants and literals."""

    kind: str
    index: int
    value: str = ""


@dataclass(frozen=True)
class LabelStep:
    """One computation: the classifier's target `label`, the clauses feeding it, its arguments."""

    label: str
    group: list[tuple[int, int]]
    args: list[LabelArg]
    # MATH: the sympy expression of the step's clause (srepr-free plain str), "" for GSM8K.
    expression: str = ""


@dataclass(frozen=True)
class ProblemLabels:
    problem_id: str
    dataset: str
    text: str
    answer: str
    words: list[tuple[int, int]]
    tags: list[str]
    quantities: list[LabelQuantity]
    constants: list[LabelConstant]
    steps: list[LabelStep]
    program: str  # JSON
    source: str  # "reference" | "teacher" | "student"
    round: int = 1
    config_hash: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{self.problem_id}: {len(self.words)} words but "
                             f"{len(self.tags)} tags")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["words"] = [list(span) for span in self.words]
        for step in row["steps"]:
            step["group"] = [list(span) for span in step["group"]]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProblemLabels:
        return cls(
            problem_id=row["problem_id"], dataset=row["dataset"], text=row["text"],
            answer=row["answer"], words=[tuple(span) for span in row["words"]],
            tags=list(row["tags"]),
            quantities=[LabelQuantity(**item) for item in row["quantities"]],
            constants=[LabelConstant(**item) for item in row["constants"]],
            steps=[LabelStep(label=step["label"], group=[tuple(span) for span in step["group"]],
                             args=[LabelArg(**arg) for arg in step["args"]],
                             expression=step["expression"]) for step in row["steps"]],
            program=row["program"], source=row["source"], round=row["round"],
            config_hash=row["config_hash"], schema_version=row["schema_version"])
