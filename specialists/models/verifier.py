"""The verifier: a fourth learned component that ranks the reasoner's complete candidate programs.

    verifier = load_specialist("runs/r1/checkpoints/verifier")
    chosen = verifier.choose(result)          # the ReasonerResult, answer picked by the verifier

The reasoner's beam holds the right program far more often than it ranks it first (dev: beam hit
36% against accuracy 20%). The verifier reads each finished program as a whole, which the step
model cannot: what its steps are, which of the problem's numbers it uses and how often, whether
it uses a number of the question clause, whether a step's result is left unused, what kind of
number its answer is (whole, negative, one of the problem's own numbers, far larger than them),
and how the beam voted (its log-probability, the gap to the best, the share of probability mass
and of programs behind its answer). All of it comes from the text and the beam: no gold.

The model is a logistic regression over those features (`FEATURES`), standardised; its weights,
the feature names and the standardisation are the checkpoint (`CHECKPOINTS/verifier/verifier.json`,
next to `reasoner/`): plain numbers, readable and safe to load. It is fitted (`Verifier.fit`) on
candidates labelled right or wrong; who labels them (the students' beams on train problems
against the train gold: specialists/verifier_training.py) is training's business, never inference's.

An answer's score is the best probability among its programs (`choose`): a right answer usually
has one clean program, where wrong answers gather many near-duplicates, so summing would favour
them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_text_atomic

WEIGHTS_FILE = "verifier.json"
VERSION = 1  # bump when FEATURES or the model changes
OPS = ("ADD", "SUB", "MUL", "DIV")
FEATURES = (
    "log_prob", "total", "gap_to_best", "rank_share", "is_first", "answer_mass_share",
    "log_answer_programs", "steps", *(f"ops_{op}" for op in OPS), *(f"last_{op}" for op in OPS),
    "mentions", "unused_mentions", "unused_share", "reused_mentions", "question_has_numbers",
    "uses_question_number", "constants", "literals", "dangling_results", "answer_whole",
    "answer_negative", "answer_zero", "answer_log_size", "answer_is_a_quantity",
    "answer_log_ratio_to_largest", "inner_not_whole", "inner_negative",
)


def _log_size(value: Fraction) -> float:
    return math.log10(abs(float(value)) + 1.0)


def candidate_features(result: Any) -> list[list[float]]:
    """One row of FEATURES per finished program of a ReasonerResult (best total first)."""
    programs = result.finished
    if not programs:
        return []
    best = programs[0].total
    mass: dict[Fraction, float] = {}
    count: Counter = Counter()
    for program in programs:
        mass[program.answer] = mass.get(program.answer, 0.0) + math.exp(program.total - best)
        count[program.answer] += 1
    all_mass = sum(mass.values())
    mentions = set(result.mentions)
    quantities = set(result.quantity_values)
    largest = max((abs(value) for value in result.quantity_values), default=Fraction(1))
    rows = []
    for rank, program in enumerate(programs):
        answer = program.answer
        ops = Counter(op for op, _, _ in program.steps)
        refs = [ref for _, left, right in program.steps for ref in (left, right)]
        used = [result.mentions[ref[1]] for ref in refs if ref[0] == "quantity"]
        taken = {ref[1] for ref in refs if ref[0] == "step"}
        dangling = sum(1 for index in range(len(program.steps) - 1) if index not in taken)
        inner = program.values[:-1]
        rows.append([
            program.log_prob, program.total, program.total - best, rank / len(programs),
            float(rank == 0), mass[answer] / all_mass, math.log(count[answer]),
            float(len(program.steps)), *(float(ops[op]) for op in OPS),
            *(float(program.steps[-1][0] == op) for op in OPS),
            float(len(mentions)), float(len(mentions - set(used))),
            len(mentions - set(used)) / max(len(mentions), 1),
            float(len(used) - len(set(used))), float(bool(result.question_mentions)),
            float(bool(result.question_mentions & set(used))),
            float(sum(ref[0] == "constant" for ref in refs)),
            float(sum(ref[0] == "literal" for ref in refs)), float(dangling),
            float(answer.denominator == 1), float(answer < 0), float(answer == 0),
            _log_size(answer), float(answer in quantities),
            _log_size(answer) - _log_size(largest),
            float(sum(value.denominator != 1 for value in inner)),
            float(sum(value < 0 for value in inner)),
        ])
    return rows


@dataclass
class Verifier:
    """Logistic regression over FEATURES: p(right) = sigmoid(w . (x - mean) / scale + bias)."""

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    features: tuple[str, ...] = FEATURES
    metrics: dict[str, Any] | None = None
    name = "verifier"

    @classmethod
    def fit(cls, rows: list[list[float]], right: list[bool], c: float = 1.0) -> Verifier:
        """Fitted on candidate rows (candidate_features) and whether each one is right."""
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        if len(set(right)) < 2:
            raise MyceliumError(f"cannot fit the verifier on {len(right)} candidates that are "
                                f"all {'right' if right and right[0] else 'wrong'}: it needs "
                                "both kinds (solve more training problems)")
        x = np.asarray(rows, dtype=float)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit((x - mean) / scale, np.asarray(right, dtype=int))
        return cls(model.coef_[0].tolist(), float(model.intercept_[0]), mean.tolist(),
                   scale.tolist())

    def probabilities(self, result: Any) -> list[float]:
        """p(right) per finished program of the result, in its order."""
        out = []
        for row in candidate_features(result):
            logit = self.bias + sum(w * (x - m) / s for w, x, m, s in
                                    zip(self.weights, row, self.mean, self.scale, strict=True))
            out.append(1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0))))
        return out

    def choose(self, result: Any) -> Any:
        """The result with its programs re-ordered by p(right) (each program's `verifier`
        score set) and its answer the one whose best program scores highest."""
        if not result.finished:
            return result
        scored = [replace(program, verifier=p) for program, p in
                  zip(result.finished, self.probabilities(result), strict=True)]
        scored.sort(key=lambda program: -program.verifier)
        return replace(result, finished=scored, answer=scored[0].answer)

    # --------------------------------------------------------------------------- checkpoint

    def save(self, out_dir: Path) -> Path:
        """One self-describing file, written atomically: its presence means the fit is whole."""
        path = Path(out_dir) / WEIGHTS_FILE
        write_text_atomic(path, json.dumps(
            {"component": self.name, "model": "logistic regression", "version": VERSION,
             "features": list(self.features), "weights": self.weights, "bias": self.bias,
             "mean": self.mean, "scale": self.scale, "metrics": self.metrics or {},
             "created": datetime.now(UTC).isoformat(timespec="seconds")}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Verifier:
        file = Path(path) / WEIGHTS_FILE
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as error:
            raise MyceliumError(f"{file}: not a verifier checkpoint ({error}); fit one with "
                                "`mycelium fit-verifier`") from None
        if data.get("version") != VERSION or tuple(data.get("features", ())) != FEATURES:
            raise MyceliumError(f"{file}: a verifier of another version or feature set "
                                f"(version {data.get('version')}, expected {VERSION}); refit it "
                                "with `mycelium fit-verifier`")
        return cls(data["weights"], data["bias"], data["mean"], data["scale"],
                   metrics=data.get("metrics"))
