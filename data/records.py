"""Typed records at stage boundaries, written one per line as JSONL.

`Problem` is what inference sees: it has no answer field, so no inference function can receive a
gold answer through it. The gold answer lives in `Gold`, and `GoldProblem` pairs the two for the
places that may use it: validating training traces and scoring evaluations.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

DatasetName = Literal["gsm8k", "math"]
DATASET_NAMES: tuple[str, ...] = ("gsm8k", "math")

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Whitespace-collapsed, stripped text: the form ids and de-duplication are computed on."""
    return _WHITESPACE.sub(" ", text).strip()


def problem_id(dataset: str, text: str) -> str:
    """Stable id: a hash of the dataset name and the normalised problem text.

    The same problem gets the same id in every file, split and round, so traces, predictions and
    evaluation records join on it; whitespace differences do not change it.
    """
    digest = hashlib.sha256(f"{dataset}\n{normalize_text(text)}".encode()).hexdigest()
    return f"{dataset}-{digest[:16]}"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Problem(_Record):
    """A problem as inference sees it: text and metadata, never the answer."""

    id: str
    dataset: DatasetName
    text: str
    # MATH carries subject/level/unique_id; GSM8K has none. Kept for group-bys in reports.
    meta: dict[str, str | int | None] = {}

    @classmethod
    def create(cls, dataset: DatasetName, text: str, **meta: str | int | None) -> Problem:
        return cls(id=problem_id(dataset, text), dataset=dataset, text=text, meta=meta)


class Gold(_Record):
    """The dataset's answer for one problem: the final answer text and the worked solution."""

    problem_id: str
    answer: str
    solution: str


class GoldProblem(_Record):
    """A problem with its gold answer: for trace validation and scoring only."""

    problem: Problem
    gold: Gold
