"""The label record every specialist trains on, and its Parquet store (through `datasets`).

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

    store = write_labels(out_dir, rows, manifest)
    rows = read_labels(out_dir)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_text_atomic

SCHEMA_VERSION = 1
LABELS_FILE = "labels.parquet"
MANIFEST_FILE = "labels.json"
OUTSIDE = "O"
ARG_KINDS = ("quantity", "step", "constant", "literal")


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

    def question_words(self) -> list[int]:
        return [index for index, tag in enumerate(self.tags) if tag == "I-QUESTION"]


class LabelDrop(Exception):
    """A problem whose labels cannot be built or do not validate; `reason` is snake_case and is
    what the build counts under `dropped`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def problem_words(text: str) -> list[tuple[int, int]]:
    """The words tags are given over: spaCy's tokens (regex words without a spaCy model), the
    same tokenisation at training and at inference."""
    from mycelium.signals.clauses import io_tags

    return [(start, end) for _, start, end, _ in io_tags(text, [])]


def features() -> Any:
    """The Parquet schema as `datasets.Features`; a store whose columns differ is refused."""
    from datasets import Features, List, Value

    span = List(Value("int32"), length=2)
    return Features({
        "problem_id": Value("string"), "dataset": Value("string"), "text": Value("string"),
        "answer": Value("string"), "words": List(span), "tags": List(Value("string")),
        "quantities": List({"value": Value("string"), "start": Value("int32"),
                            "end": Value("int32"), "text": Value("string")}),
        "constants": List({"name": Value("string"), "value": Value("string")}),
        "steps": List({"label": Value("string"), "group": List(span),
                       "args": List({"kind": Value("string"), "index": Value("int32"),
                                     "value": Value("string")}),
                       "expression": Value("string")}),
        "program": Value("string"), "source": Value("string"), "round": Value("int32"),
        "config_hash": Value("string"), "schema_version": Value("int32"),
    })


def config_hash(settings: dict[str, Any]) -> str:
    """Short stable hash of the settings that shaped a build (source, dataset, clause model...)."""
    text = json.dumps({"schema_version": SCHEMA_VERSION, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class LabelManifest:
    """What `labels.json` holds: provenance and the build's counts (the `label --json` object)."""

    dataset: str
    source: str
    round: int
    config_hash: str
    problems: int = 0
    validated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # denominator of coverage: problems that have a gold answer and were not excluded
    with_gold: int = 0
    schema_version: int = SCHEMA_VERSION

    @property
    def coverage(self) -> float:
        return self.validated / self.with_gold if self.with_gold else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["coverage"] = round(self.coverage, 6)
        data["dropped"] = dict(sorted(self.dropped.items(), key=lambda item: -item[1]))
        return data


def write_labels(out_dir: Path, rows: list[ProblemLabels], manifest: LabelManifest) -> Path:
    """Write `labels.parquet` then `labels.json` (the completion marker) into `out_dir`.

    The Parquet file is written to a temporary name and renamed, so a reader (or a rerun after a
    kill) never sees a torn file; the manifest goes last, so its presence means the store is
    whole."""
    import datasets

    datasets.disable_progress_bars()  # the caller shows its own progress
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    schema = features()
    # from_list([]) would drop the columns; an empty store keeps its schema (and is refused on
    # read with a clear message, not a column mismatch)
    dataset = (datasets.Dataset.from_list([row.to_row() for row in rows], features=schema)
               if rows else datasets.Dataset.from_dict({name: [] for name in schema},
                                                       features=schema))
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=f".{LABELS_FILE}.", suffix=".tmp")
    os.close(handle)
    try:
        dataset.to_parquet(temporary)
        os.replace(temporary, out_dir / LABELS_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    write_text_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest.to_json(), indent=2) + "\n")
    return out_dir / LABELS_FILE


def read_manifest(store: Path) -> dict[str, Any]:
    store = Path(store)
    path = store / MANIFEST_FILE
    if not path.is_file():
        raise MyceliumError(f"{store}: not a label store (no {MANIFEST_FILE}); build one with "
                            "`mycelium label --out DIR`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MyceliumError(f"{store}: label schema version {version}, expected "
                            f"{SCHEMA_VERSION}; rebuild it with `mycelium label`")
    return manifest


def load_label_dataset(store: Path) -> Any:
    """The store as a `datasets.Dataset`, checked against `features()` and the schema version."""
    import datasets

    datasets.disable_progress_bars()
    store = Path(store)
    read_manifest(store)
    path = store / LABELS_FILE
    if not path.is_file():
        raise MyceliumError(f"{store}: {LABELS_FILE} is missing")
    try:
        dataset = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise MyceliumError(f"{path}: not a readable Parquet file ({error})") from None
    expected = features()
    if dataset.features != expected:
        missing = sorted(set(expected) - set(dataset.features))
        extra = sorted(set(dataset.features) - set(expected))
        raise MyceliumError(f"{path}: columns do not match label schema v{SCHEMA_VERSION} "
                            f"(missing {missing}, unexpected {extra}, or different types)")
    if len(dataset) == 0:
        raise MyceliumError(f"{path}: the label store is empty; nothing to train on")
    return dataset


def read_labels(store: Path) -> list[ProblemLabels]:
    return [ProblemLabels.from_row(row) for row in load_label_dataset(store)]
