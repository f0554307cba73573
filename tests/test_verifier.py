"""The verifier: its features of a finished program (worked by hand on a small beam), a fit that
learns which programs are right and reorders a beam by it, a checkpoint that loads to the same
scores (and refuses one of other features), and the path through inference: the round's
checkpoints folder with `verifier/` beside `reasoner/` ranks every beam, scores in the result.

    python -m pytest tests/test_verifier.py -q
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from mycelium.data.errors import MyceliumError
from mycelium.specialists.models.reasoner import Finished, ReasonerResult
from mycelium.specialists.models.verifier import (
    FEATURES,
    WEIGHTS_FILE,
    Verifier,
    candidate_features,
)


def beam() -> ReasonerResult:
    """"Ann has 3 bags of 4 apples and eats 2. How many are left?": quantities 3, 4, 2 (mention
    numbers 0, 1, 2; the question clause holds none of them)."""
    right = Finished([("MUL", ("quantity", 0), ("quantity", 1)),
                      ("SUB", ("step", 0), ("quantity", 2))],
                     [Fraction(12), Fraction(10)], log_prob=-2.0)
    short = Finished([("MUL", ("quantity", 0), ("quantity", 1))], [Fraction(12)], log_prob=-1.5)
    dangling = Finished([("DIV", ("quantity", 2), ("quantity", 1)),
                         ("ADD", ("quantity", 0), ("quantity", 0))],
                        [Fraction(1, 2), Fraction(6)], log_prob=-3.0)
    programs = sorted([right, short, dangling], key=lambda program: -program.total)
    return ReasonerResult(programs, Fraction(12), "", mentions=[0, 1, 2],
                          quantity_values=[Fraction(3), Fraction(4), Fraction(2)],
                          question_mentions=frozenset())


def test_features_of_a_small_beam_by_hand():
    rows = candidate_features(beam())
    named = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    short, right, dangling = named  # best total first: -1.5, -2.0, -3.0
    assert short["is_first"] == 1 and short["gap_to_best"] == 0 and right["gap_to_best"] == -0.5
    mass = [1.0, math.exp(-0.5), math.exp(-1.5)]
    assert short["answer_mass_share"] == pytest.approx(mass[0] / sum(mass))
    assert short["unused_mentions"] == 1 and right["unused_mentions"] == 0
    assert dangling["reused_mentions"] == 1  # quantity 0 twice
    assert dangling["dangling_results"] == 1  # 1/2 is computed and never used
    assert dangling["inner_not_whole"] == 1 and right["inner_not_whole"] == 0
    assert right["ops_MUL"] == 1 and right["ops_SUB"] == 1 and right["last_SUB"] == 1
    assert right["answer_is_a_quantity"] == 0
    assert right["answer_log_size"] == pytest.approx(math.log10(11))
    assert right["answer_log_ratio_to_largest"] == pytest.approx(math.log10(11) - math.log10(5))


def test_a_fitted_verifier_reorders_the_beam_and_loads_to_the_same_scores(tmp_path):
    rows, right = [], []
    for _ in range(20):  # the right program is always the one using every number
        features = candidate_features(beam())
        rows += features
        right += [row[FEATURES.index("unused_mentions")] == 0 and
                  row[FEATURES.index("dangling_results")] == 0 for row in features]
    verifier = Verifier.fit(rows, right)
    chosen = verifier.choose(beam())
    assert chosen.answer == Fraction(10)
    assert chosen.finished[0].values == [Fraction(12), Fraction(10)]
    assert [program.verifier for program in chosen.finished] == \
        sorted((program.verifier for program in chosen.finished), reverse=True)
    verifier.save(tmp_path)
    loaded = Verifier.load(tmp_path)
    assert loaded.probabilities(beam()) == pytest.approx(verifier.probabilities(beam()))
    data = json.loads((tmp_path / WEIGHTS_FILE).read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / WEIGHTS_FILE).write_text(json.dumps(data))
    with pytest.raises(MyceliumError, match="fit-verifier"):
        Verifier.load(tmp_path)


def test_one_kind_of_label_is_refused():
    with pytest.raises(MyceliumError, match="both kinds"):
        Verifier.fit(candidate_features(beam()), [False, False, False])


def test_held_out_rows_are_one_per_held_out_problem():
    # A later round's store holds several traces of one problem (reference + students'); the
    # verifier solves each held-out problem once. Which ids are held out is computed here from
    # the rule's definition (SHA-256 of the id below 0.1), not from the code under test.
    import hashlib
    from types import SimpleNamespace

    from mycelium.specialists.verifier_training import held_out_rows

    def is_held_out(key: str) -> bool:
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64 < 0.1

    ids = [f"gsm8k-{number:04d}" for number in range(200)]
    held = [key for key in ids if is_held_out(key)]
    assert 5 <= len(held) <= 40
    rows = [SimpleNamespace(problem_id=key, trace=trace) for trace in ("reference", "student")
            for key in ids]
    chosen = held_out_rows(rows, 0.1)
    assert [row.problem_id for row in chosen] == held
    assert all(row.trace == "reference" for row in chosen)  # the first trace of each problem
