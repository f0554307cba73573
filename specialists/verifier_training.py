"""Fitting the verifier (specialists/models/verifier.py) on the reasoner's own beams.

    verifier, summary = fit_verifier(reasoner, held_out_rows)
    verifier.save("runs/ckpt/verifier")

The reasoner solves training problems it did not train on (the hash slice training holds out,
`held_out_rows`), from their text alone; each finished program of its beam is then labelled by
whether its answer equals that problem's gold answer. Gold labels only this training data: the
fitted verifier reads the beam and the text, and this module is outside what inference may import
(pyproject's import contracts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mycelium.data.answers import parse_number
from mycelium.data.progress import Progress
from mycelium.solver.search import SearchConfig
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.models.verifier import Verifier, candidate_features
from mycelium.specialists.train_config import TrainConfig

CHUNK = 32  # problems per solve call: progress is told after each


def held_out_rows(rows: Sequence[ProblemLabels], fraction: float = TrainConfig.eval_fraction
                  ) -> list[ProblemLabels]:
    """The rows training holds out when it has no eval labels (specialists/training.py): the
    problems a reasoner trained on these labels has not seen, one row per problem. A store
    from later rounds holds several traces of one problem (round 3's: 1,130 held-out rows,
    659 problems); the verifier's data is the problem's beam, so a repeat would only weigh
    that problem twice and cost a second solve."""
    from mycelium.specialists.training import held_out

    first: dict[str, ProblemLabels] = {}
    for row in rows:
        if held_out(row.problem_id, fraction):
            first.setdefault(row.problem_id, row)
    return list(first.values())


def fit_verifier(reasoner: Any, rows: Sequence[ProblemLabels],
                 config: SearchConfig | None = None,
                 progress: Progress | None = None) -> tuple[Verifier, dict[str, Any]]:
    """The verifier fitted on the reasoner's beams over `rows` (their text solved, their gold
    answer labelling each program), and a summary: problems, programs, right programs, and the
    share of problems the vote and the verifier answer right on these same rows (in-sample)."""
    config = config or SearchConfig()
    features: list[list[float]] = []
    right: list[bool] = []
    results = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        found = reasoner.solve([row.text for row in chunk], config)
        for row, result in zip(chunk, found, strict=True):
            gold = parse_number(row.answer)
            features += candidate_features(result)
            right += [program.answer == gold for program in result.finished]
            results.append((result, gold))
        if progress is not None:
            progress("verifier beams", start + len(chunk), len(rows))
    verifier = Verifier.fit(features, right)
    n = max(len(results), 1)
    summary = {"problems": len(results), "programs": len(right), "right_programs": sum(right),
               "beam_hit": round(sum(any(p.answer == gold for p in result.finished)
                                     for result, gold in results) / n, 4),
               "vote_accuracy": round(sum(result.answer == gold
                                          for result, gold in results) / n, 4),
               "verifier_accuracy_in_sample": round(sum(
                   verifier.choose(result).answer == gold for result, gold in results) / n, 4)}
    verifier.metrics = summary
    return verifier, summary
