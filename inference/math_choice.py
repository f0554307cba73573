"""The MATH students choose among the structure parser's candidate programs.

The parser (solver/math_structure.py) proposes candidates in a fixed rule order; the structure
track runs the first that executes. With the MATH students loaded (specialists/registry.py,
family "math"), each candidate is scored by how well the roles it gives the problem
(specialists/math_roles.py: every word's tag, every used clause's role, every math span's role)
agree with what the students predict from the text alone, and the candidates are tried in the
order of that score. The score of one candidate is the sum of three means of log-probabilities:

    tagger      over the problem's words, of the tag the candidate gives each word
    classifier  over the clauses the candidate uses, of the role it gives each
    extractor   over the math spans, of the role (TARGET / GIVEN / UNUSED) it gives each

Means, not sums, so a candidate that uses more clauses or spans is not penalised for it. Ties
keep the rule order, and without the MATH students (or for a problem with one candidate) the
rule order is all there is: the fallback is the parser itself.

    predictions = predict_roles(specialists, readings)
    order = candidate_order(readings[0], candidates[0], predictions[0])

evaluation/math_attribution.py swaps these predictions for a problem's MATH labels (the
oracle-swap attribution); nothing here reads a label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mycelium.solver.math_structure import CandidateProgram, MathReading
from mycelium.specialists.math_roles import CandidateRoles, candidate_roles
from mycelium.specialists.problem_view import problem_words
from mycelium.specialists.registry import Specialists

# log-prob of a role the students give no probability (a tag never seen in training, a word
# past the encoder's length): a firm "no", not minus infinity, so one such word cannot decide
UNSEEN = math.log(1e-4)
STUDENTS = ("tagger", "classifier", "extractor")


@dataclass(frozen=True)
class RolePredictions:
    """What the MATH students read from one problem: per word, per clause and per math span, a
    log-prob for each role."""

    words: list[dict[str, float]]
    clauses: list[dict[str, float]]
    spans: list[dict[str, float]]


def predict_roles(specialists: Specialists, readings: Sequence[MathReading]
                  ) -> list[RolePredictions]:
    """The three students' predictions for each reading, batched over the readings."""
    texts = [reading.text for reading in readings]
    words = specialists.math_tagger.predict_logprobs(texts)
    clauses = specialists.math_classifier.predict(
        texts, [[[clause] for clause in reading.clauses] for reading in readings])
    spans = specialists.math_extractor.predict_spans(texts)
    return [RolePredictions(*parts) for parts in zip(words, clauses, spans, strict=True)]


def score_candidate(roles: CandidateRoles, predictions: RolePredictions) -> float:
    """Agreement of one candidate's roles with the predictions (module docstring)."""
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return (mean([scores.get(tag, UNSEEN)
                  for tag, scores in zip(roles.word_tags, predictions.words, strict=True)])
            + mean([predictions.clauses[clause].get(role, UNSEEN)
                    for clause, role in roles.clause_roles.items()])
            + mean([scores.get(role, UNSEEN)
                    for role, scores in zip(roles.span_roles, predictions.spans, strict=True)]))


def candidate_order(reading: MathReading, candidates: Sequence[CandidateProgram],
                    predictions: RolePredictions | None) -> list[int]:
    """Candidate indices, best first: by score, ties (and no predictions) in rule order."""
    if predictions is None or len(candidates) < 2:
        return list(range(len(candidates)))
    words = problem_words(reading.text)
    scores = [score_candidate(candidate_roles(reading, candidate, words), predictions)
              for candidate in candidates]
    return sorted(range(len(candidates)), key=lambda index: (-round(scores[index], 6), index))
