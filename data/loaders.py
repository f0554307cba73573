"""Dataset loaders: GSM8K and MATH from a local JSONL/JSON/Parquet file or a Hugging Face hub id.

    from mycelium.data.loaders import load_problems
    result = load_problems("gsm8k", "../shared/data/gsm8k/train.jsonl")
    result.problems   # list[GoldProblem]
    result.bad        # malformed rows (only when skip_bad=True; otherwise the first one raises)

JSONL is read line by line here, so a malformed line is reported with its file and line number.
Parquet files, local dataset folders and hub ids go through `datasets.load_dataset`, and their
rows are numbered from 1 in the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mycelium.data.answers import gsm8k_final_answer_text, parse_number
from mycelium.data.errors import MyceliumError
from mycelium.data.gold import Gold, GoldProblem
from mycelium.data.io import iter_jsonl
from mycelium.data.records import DATASET_NAMES, Problem, guess_dataset  # noqa: F401 - re-exported

# Hub defaults: what `load_problems("gsm8k", "openai/gsm8k")` means without further arguments.
HUB_CONFIGS = {"openai/gsm8k": "main"}

REQUIRED_FIELDS = {
    "gsm8k": ("question", "answer"),
    "math": ("problem", "solution", "answer"),
}


@dataclass(frozen=True)
class BadRow:
    """One row that could not be read: where it is and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass
class LoadResult:
    problems: list[GoldProblem] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


class BadRowError(MyceliumError):
    """A malformed row met while skip_bad is off."""


def bundled_sample_path() -> Path:
    """The ~20 GSM8K-style problems written for this project: the embedded default data."""
    return Path(str(resources.files("mycelium.data") / "sample" / "gsm8k_sample.jsonl"))


def check_dataset_name(dataset: str) -> str:
    if dataset not in DATASET_NAMES:
        raise MyceliumError(
            f"unknown dataset {dataset!r}: expected one of {', '.join(DATASET_NAMES)}"
        )
    return dataset


def row_to_gold_problem(dataset: str, row: Mapping[str, Any]) -> GoldProblem:
    """Validate one raw row and build its record; raises ValueError with the reason."""
    if not isinstance(row, Mapping):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = [name for name in REQUIRED_FIELDS[dataset] if not isinstance(row.get(name), str)]
    if missing:
        expected = ", ".join(REQUIRED_FIELDS[dataset])
        # a whole file of the other dataset is the usual cause: say which flag reads it
        other = [name for name, fields in REQUIRED_FIELDS.items() if name != dataset
                 and all(isinstance(row.get(field), str) for field in fields)]
        hint = f"; it has a {other[0]} row's fields: pass --dataset {other[0]}" if other else ""
        raise ValueError(f"missing or non-text field(s) {', '.join(missing)} (a {dataset} row "
                         f"needs {expected}{hint})")
    if dataset == "gsm8k":
        text = row["question"]
        try:
            final = gsm8k_final_answer_text(row["answer"])
            parse_number(final)
        except MyceliumError as error:
            raise ValueError(f"answer: {error}") from None
        problem = Problem.create("gsm8k", text)
        gold = Gold(problem_id=problem.id, answer=final, solution=row["answer"])
    else:
        text = row["problem"]
        meta = {key: row.get(key) for key in ("subject", "level", "unique_id") if key in row}
        problem = Problem.create("math", text, **meta)
        gold = Gold(problem_id=problem.id, answer=row["answer"], solution=row["solution"])
    if not text.strip():
        raise ValueError("empty problem text")
    return GoldProblem(problem=problem, gold=gold)


def _library_rows(source: str, *, split: str, config: str | None) -> Iterator[tuple[int, Any]]:
    """Rows of a Parquet/JSON file, a local dataset folder or a hub id, through `datasets`."""
    import datasets  # heavy import, only for these sources

    path = Path(source)
    try:
        if path.is_file():
            builder = "parquet" if path.suffix == ".parquet" else "json"
            table = datasets.load_dataset(builder, data_files=str(path), split="train")
        else:
            table = datasets.load_dataset(source, config or HUB_CONFIGS.get(source), split=split)
    except Exception as error:  # datasets raises many types; the user needs the one message
        raise MyceliumError(f"cannot load dataset {source!r} (split {split!r}): {error}") from None
    yield from enumerate(table, start=1)


LOCAL_SUFFIXES = {".jsonl", ".json", ".parquet"}


def is_local_source(source: str | Path) -> bool:
    """A file path (by suffix, location or existence) rather than a hub id like 'openai/gsm8k'."""
    text = str(source)
    path = Path(text)
    return (path.exists() or path.suffix in LOCAL_SUFFIXES or path.is_absolute()
            or text.startswith((".", "~")))


def iter_rows(source: str | Path, *, split: str = "train",
              config: str | None = None) -> Iterator[tuple[int, Any]]:
    """Raw rows of any supported source as (line or row number, object or ValueError)."""
    path = Path(source).expanduser()
    if is_local_source(source) and not path.exists():
        raise MyceliumError(f"dataset file not found: {source} (expected a .jsonl, .json or "
                            ".parquet file, a dataset folder, or a hub id such as openai/gsm8k)")
    if path.is_file() and path.suffix not in {".parquet", ".json"}:
        return iter_jsonl(path)
    return _library_rows(str(path) if path.exists() else str(source), split=split, config=config)


def load_problems(dataset: str, source: str | Path, *, split: str = "train",
                  config: str | None = None, skip_bad: bool = False,
                  limit: int | None = None) -> LoadResult:
    """Load GSM8K or MATH problems with their gold answers.

    source: a .jsonl/.json/.parquet file, a local dataset folder, or a hub id ("openai/gsm8k").
    skip_bad: count and skip malformed rows instead of stopping at the first one.
    limit: stop after this many good problems.
    """
    check_dataset_name(dataset)
    return collect(dataset, str(source), iter_rows(source, split=split, config=config),
                   skip_bad=skip_bad, limit=limit)


def collect(dataset: str, source_name: str, rows: Iterable[tuple[int, Any]], *,
            skip_bad: bool, limit: int | None) -> LoadResult:
    result = LoadResult()
    for number, row in rows:
        if limit is not None and len(result.problems) >= limit:
            break
        try:
            if isinstance(row, ValueError):
                raise row
            result.problems.append(row_to_gold_problem(dataset, row))
        except ValueError as error:
            bad = BadRow(source_name, number, str(error))
            if not skip_bad:
                raise BadRowError(f"{bad} (use --skip-bad to skip and count such rows)") from None
            result.bad.append(bad)
    return result


# Fields a problem's text may come in, in the order they are looked for (GSM8K, MATH, plain).
TEXT_FIELDS = ("question", "problem", "text")


@dataclass(frozen=True)
class SolveInput:
    """One line of a `mycelium solve --input` file: a problem, or why the line is not one."""

    line: int
    problem: Problem | None
    reason: str = ""  # snake_case: not_utf8, not_json, no_problem_text
    detail: str = ""


def read_solve_inputs(path: Path, dataset: str) -> list[SolveInput]:
    """Every non-blank line of a JSONL file of problems (answers, if present, are ignored): an
    object with a "question", "problem" or "text" string, and optionally an "id". A line that is
    not usable comes back with a reason instead of stopping the file. `dataset` "auto" guesses
    each problem's dataset from its text (`guess_dataset`)."""
    if dataset != "auto":
        check_dataset_name(dataset)
    if not path.is_file():
        raise MyceliumError(f"{path}: no such file (expected a JSONL file of problems)")
    inputs = []
    for number, row in iter_jsonl(path):
        if isinstance(row, ValueError):
            reason = "not_utf8" if str(row).startswith("not UTF-8") else "not_json"
            inputs.append(SolveInput(number, None, reason, str(row)))
            continue
        text = next((row[key] for key in TEXT_FIELDS
                     if isinstance(row, dict) and isinstance(row.get(key), str)), None)
        if text is None:
            inputs.append(SolveInput(number, None, "no_problem_text",
                                     f"expected an object with one of {', '.join(TEXT_FIELDS)}"))
            continue
        meta = {"id": row["id"]} if isinstance(row.get("id"), str | int) else {}
        problem = Problem.create(guess_dataset(text) if dataset == "auto" else dataset, text,
                                 **meta)
        inputs.append(SolveInput(number, problem))
    return inputs
