"""What several test files share, defined once:

- `SHARED_DATA` and `shared_file`: the ../shared/data folder beside the checkout (present in CI)
  and a file in it, or a skip that names the missing path (mark such tests `shared`);
- `one_thread`: a module-scoped fixture running torch on one thread, restored after; a module
  opts in with `pytestmark = pytest.mark.usefixtures("one_thread")`;
- `tiny_teacher_dir` and `teacher`: a tiny Qwen2-shaped teacher built once per module (its
  weights briefly fitted to the sample's solutions), its folder and the loaded Teacher;
- `run_cli` and `plain_env`: the real `mycelium` command line (`python -m mycelium.flows.cli`)
  as a subprocess, and an environment that keeps its output plain and offline.

Test files import the helpers with `from conftest import ...` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Variables that make rich/click colour or treat a pipe as a terminal.
FORCING_VARIABLES = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE"}


def shared_file(relative: str) -> Path:
    """`SHARED_DATA / relative`, or skip the test saying which file is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"../shared/data is absent: no file at {path}")
    return path


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for tiny models: on 2 cores shared with other work, two OpenMP threads
    wait on each other and run ~4x slower than one (measured); restored after the module."""
    import torch  # here, not at the top: most test files never import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    from mycelium.teacher.models import make_tiny_teacher

    return make_tiny_teacher(tmp_path_factory.mktemp("tiny") / "teacher", train_steps=30)


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    from mycelium.teacher.models import load_teacher

    return load_teacher(str(tiny_teacher_dir))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for servers the tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plain_env(**extra: str) -> dict[str, str]:
    """This process's environment without colour forcing, with no colour, 200 columns and the
    Hugging Face hub offline; `extra` added last."""
    env = {key: value for key, value in os.environ.items() if key not in FORCING_VARIABLES}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "HF_HUB_OFFLINE": "1", **extra})
    return env


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run `python -m mycelium.flows.cli *args` to the end; stdout and stderr captured as text,
    the exit status left to the caller. `env=None` inherits this process's environment."""
    return subprocess.run([sys.executable, "-m", "mycelium.flows.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def labelled_math_step_ops(text: str, answer: str) -> list:
    """The operations of the program MATH reference labelling keeps for `text` (validated
    against the dataset's `answer`): the MATH program-kind tests' worked train problems."""
    import json

    from mycelium.data.gold import Gold, GoldProblem
    from mycelium.data.records import Problem
    from mycelium.solver.math_program import MathProgram
    from mycelium.specialists.labels.math import label_math_problem

    problem = Problem.create("math", text)
    labels = label_math_problem(GoldProblem(problem=problem, gold=Gold(
        problem_id=problem.id, answer=answer, solution="")))
    return [step.op for step in MathProgram.from_json(json.loads(labels.program)).steps]
