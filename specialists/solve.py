"""One entry point for inference on any mix of GSM8K and MATH problems.

    results = solve_problems(problems, Specialists.load(find_checkpoints(None)))

GSM8K problems go to the specialists (inference.py); MATH problems to the MATH tracks
(math_solver.py). Results come back one per problem, in order. Nothing here takes an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from mycelium.data.records import Problem, SolveResult
from mycelium.solver.search import SearchConfig
from mycelium.specialists.inference import Specialists, solve_word_problems
from mycelium.specialists.math_solver import solve_math_problems


def solve_problems(problems: Sequence[Problem], specialists: Specialists | None,
                   config: SearchConfig | None = None) -> list[SolveResult]:
    by_dataset: dict[str, list[int]] = {}
    for index, problem in enumerate(problems):
        by_dataset.setdefault(problem.dataset, []).append(index)
    results: dict[int, SolveResult] = {}
    for dataset, indices in by_dataset.items():
        chosen = [problems[index] for index in indices]
        if dataset == "gsm8k":
            if specialists is None:
                raise ValueError("GSM8K problems need trained specialists")
            solved = solve_word_problems(chosen, specialists, config)
        else:
            solved = solve_math_problems(chosen, specialists, config=config)
        results.update(zip(indices, solved, strict=True))
    return [results[index] for index in range(len(problems))]
