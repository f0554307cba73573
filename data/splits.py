"""A deterministic dev split carved from a train file, by problem id.

A problem goes to dev when the hash of its id (dataset + normalised text, data/records.py) falls
below `dev_fraction`: the assignment does not depend on file order, row count or other problems,
so the same problem lands on the same side in every file, run and round, and two copies of one
problem never straddle the split. Rows are written back as the loader read them (same fields), so
both halves load like the original.

    mycelium split ../shared/data/gsm8k/train.jsonl --dataset gsm8k --out runs/splits/gsm8k
    # -> runs/splits/gsm8k/train.jsonl, runs/splits/gsm8k/dev.jsonl
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_jsonl_atomic
from mycelium.data.loaders import load_problems

DEFAULT_DEV_FRACTION = 0.1
_SPLIT_SALT = "mycelium-dev-split-v1"  # changing it reshuffles every split: never do so silently


def hash_fraction(key: str) -> float:
    """A number in [0, 1) fixed by `key` alone: the first 8 bytes of its SHA-256. Every split by
    problem id (the dev split here, the training loop's held-out share) compares this with its
    fraction, so a problem's side never depends on file order or on other problems."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def is_dev(problem_id: str, dev_fraction: float = DEFAULT_DEV_FRACTION) -> bool:
    return hash_fraction(f"{_SPLIT_SALT}\n{problem_id}") < dev_fraction


def to_row(item: GoldProblem) -> dict:
    """The dataset's own row format for a problem (what `load_problems` reads back)."""
    if item.problem.dataset == "gsm8k":
        return {"question": item.problem.text, "answer": item.gold.solution}
    return {"problem": item.problem.text, "solution": item.gold.solution,
            "answer": item.gold.answer, **item.problem.meta}


@dataclass(frozen=True)
class SplitResult:
    train: Path
    dev: Path
    train_count: int
    dev_count: int


def split_file(dataset: str, source: str | Path, out_dir: Path, *,
               dev_fraction: float = DEFAULT_DEV_FRACTION) -> SplitResult:
    if not 0 < dev_fraction < 1:
        raise MyceliumError(f"--dev-fraction {dev_fraction}: expected a number between 0 and 1")
    items = load_problems(dataset, source).problems
    dev = [item for item in items if is_dev(item.problem.id, dev_fraction)]
    train = [item for item in items if not is_dev(item.problem.id, dev_fraction)]
    out_dir = Path(out_dir)
    write_jsonl_atomic(out_dir / "train.jsonl", map(to_row, train))
    write_jsonl_atomic(out_dir / "dev.jsonl", map(to_row, dev))
    return SplitResult(out_dir / "train.jsonl", out_dir / "dev.jsonl", len(train), len(dev))
