"""The gold answer: the one type that carries a dataset's answer, and the pairing of a problem with
it. Only trace validation (labels, rounds) and scoring (evaluation) import this module;
`mycelium.inference` may not, directly or through anything it imports (the import-linter
contract "gold never reaches inference" in pyproject.toml).
"""

from __future__ import annotations

from mycelium.data.records import Problem, Record


class Gold(Record):
    """The dataset's answer for one problem: the final answer text and the worked solution."""

    problem_id: str
    answer: str
    solution: str


class GoldProblem(Record):
    """A problem with its gold answer: for trace validation and scoring only."""

    problem: Problem
    gold: Gold
