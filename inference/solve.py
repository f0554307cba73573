"""One entry point for inference on any mix of GSM8K and MATH problems.

    results = solve_problems(problems, Specialists.load(find_checkpoints(None)))
    results = solve_in_chunks(problems, specialists, progress=tenths(print))   # with progress

GSM8K problems go to the specialists (word_problems.py); MATH problems to the MATH tracks
(math_tracks.py). Results come back one per problem, in order. Nothing here takes an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from mycelium.data.progress import Progress, no_progress
from mycelium.data.records import Problem, SolveResult
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.inference.word_problems import solve_word_problems
from mycelium.solver.search import SearchConfig
from mycelium.specialists.registry import Specialists

SOLVE_CHUNK = 32  # problems per solve call: progress granularity, bounded memory


def solve_problems(problems: Sequence[Problem], specialists: Specialists | None,
                   config: SearchConfig | None = None) -> list[SolveResult]:
    by_dataset: dict[str, list[int]] = {}
    for index, problem in enumerate(problems):
        by_dataset.setdefault(problem.dataset, []).append(index)
    results: dict[int, SolveResult] = {}
    for dataset, indices in by_dataset.items():
        chosen = [problems[index] for index in indices]
        if dataset == "gsm8k":
            if specialists is None or not specialists.solves_word_problems:
                raise ValueError("GSM8K problems need trained word-problem specialists (the "
                                 "pipeline's tagger, classifier and extractor, or the reasoner)")
            solved = solve_word_problems(chosen, specialists, config)
        else:
            solved = solve_math_problems(chosen, specialists, config=config)
        results.update(zip(indices, solved, strict=True))
    return [results[index] for index in range(len(problems))]


def solve_in_chunks(problems: Sequence[Problem], specialists: Specialists | None,
                    config: SearchConfig | None = None, *, progress: Progress | None = None,
                    stage: str = "solve", chunk: int = SOLVE_CHUNK) -> list[SolveResult]:
    """`solve_problems` over `chunk` problems at a time, telling `progress(stage, done, total)`
    after each: the CLI, evaluation and rounds all solve many problems through this."""
    report = progress or no_progress
    results: list[SolveResult] = []
    for offset in range(0, len(problems), chunk):
        results += solve_problems(problems[offset:offset + chunk], specialists, config)
        report(stage, len(results), len(problems))
    return results
