"""Typed records at stage boundaries, written one per line as JSONL.

`Problem` is what inference sees: it has no answer field, so no inference function can receive a
gold answer through it. The gold answer lives in its own module (data/gold.py), which inference
never imports, directly or through another module: an import-linter contract checks it.
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


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Problem(Record):
    """A problem as inference sees it: text and metadata, never the answer."""

    id: str
    dataset: DatasetName
    text: str
    # MATH carries subject/level/unique_id; GSM8K has none. Kept for group-bys in reports.
    meta: dict[str, str | int | None] = {}

    @classmethod
    def create(cls, dataset: DatasetName, text: str, **meta: str | int | None) -> Problem:
        return cls(id=problem_id(dataset, text), dataset=dataset, text=text, meta=meta)


class TeacherTrace(Record):
    """A teacher's chain-of-thought for one problem, with exact token ↔ char alignment.

    The teacher-forced capture pass runs over `prompt_ids + cot_ids`. `prompt_problem_spans[i]`
    is the char span in the *problem text* of prompt token i, or None for template tokens (chat
    markup, the instruction). `cot_spans[j]` is the char span in `cot_text` of CoT token j.
    """

    problem_id: str
    teacher: str  # model path or hub id
    prompt_text: str
    prompt_ids: list[int]
    prompt_problem_spans: list[tuple[int, int] | None]
    cot_text: str
    cot_ids: list[int]
    cot_spans: list[tuple[int, int]]
    finished: bool  # False when generation stopped at max_new_tokens


class Segment(Record):
    """One computation step of the CoT: a token range and its word-aligned char span."""

    token_start: int
    token_end: int  # exclusive
    char_start: int
    char_end: int
    iaf: float  # share of the segment's attention that lands on problem tokens
    iaf_spans: list[tuple[int, int]]  # problem-text spans receiving most of that attention
    clause_spans: list[tuple[int, int]]  # iaf_spans expanded to their clauses
    operands: list[dict]  # numbers in the segment matched to problem quantities


class Signals(Record):
    """Everything the label builder needs from one teacher trace.

    `status` is "ok", or a snake_case reason for an explicit empty result ("empty_cot",
    "no_peaks" keeps one whole-CoT segment, ...).
    """

    problem_id: str
    teacher: str
    status: str
    jsd: list[float]
    jsd_smoothed: list[float]
    peaks: list[int]
    boundary_rows: list[int]
    segments: list[Segment]
    config_hash: str


class SolveResult(Record):
    """What inference says about one problem; one JSONL line of `mycelium solve --output`.

    `status`: "ok" (an answer), "no_answer" (a valid problem nothing could solve: `reason` says
    why), or "invalid" (the input itself is unusable: empty, too long, undecodable). `track` is
    what produced the answer: "specialists" (tagger -> classifier -> extractor -> search),
    "direct" (a MATH problem that is one expression or equation, evaluated by sympy) or
    "structure" (MATH clause roles -> a sympy program). `answer` is exact: "18", "3/4", or LaTeX
    for MATH. `steps` is the program in readable form, each step with the problem words it came
    from; `beam` the finished candidates, best first (each its answer, score, verifier p(right)
    where one ranked, readable `program` and executable `program_json`); `spans` the tagged
    (start, end, tag) char spans.
    """

    problem_id: str
    dataset: DatasetName
    status: Literal["ok", "no_answer", "invalid"]
    reason: str = ""
    answer: str | None = None
    track: str = ""
    program: dict | None = None
    steps: list[dict] = []
    beam: list[dict] = []
    spans: list[tuple[int, int, str]] = []
    seconds: float = 0.0


class EvalRecord(Record):
    """One evaluated problem: a line of an eval's samples.jsonl (the report is built from these,
    never by running the models again). `attribution` is the first stage that went wrong for a
    failure ("" for a correct answer); `gold_*` fields come from validated labels when the
    problem has them."""

    problem_id: str
    dataset: DatasetName
    text: str
    gold: str
    prediction: str | None
    correct: bool
    status: str
    reason: str = ""
    track: str = ""
    program: list[str] = []  # the predicted program, one readable line per step
    beam: list[str] = []  # the answers of the finished candidates, best first
    beam_verifier: list[float] = []  # the verifier's p(right) per candidate, when one ranked
    beam_hit: bool = False
    attribution: str = ""
    spans: list[tuple[int, int, str]] = []  # predicted tagged spans
    gold_spans: list[tuple[int, int, str]] = []
    gold_program: list[str] = []
    gold_ops: list[str] = []
    predicted_ops: list[str] = []  # the classifier's best op on each gold step's group
    gold_steps: int | None = None
    oracle_correct: dict[str, bool] = {}  # stage -> correct with stages up to it replaced
    meta: dict[str, str | int | None] = {}  # the problem's (MATH: subject, level, unique_id)


_MATH_MARKS = ("\\(", "\\[", "\\frac", "^{")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
_CURRENCY = re.compile(r"\$(?=\s?\d)")  # "$5", "$ 12.50": money, not a math delimiter


def guess_dataset(text: str) -> str:
    """'math' for text with LaTeX math in it, else 'gsm8k' (a word problem). A dollar sign
    before a number is money: on GSM8K train this keeps 99.3% of problems as word problems
    (28% of them hold "$" amounts), on MATH train 80.4% are found as math (the rest are word
    problems with no LaTeX)."""
    if any(mark in text for mark in _MATH_MARKS) or _LATEX_COMMAND.search(text):
        return "math"
    return "math" if "$" in _CURRENCY.sub("", text) else "gsm8k"
