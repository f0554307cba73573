"""Problems with their written numbers replaced by large random ones, and gold answers recomputed
by executing each problem's validated reference program on the new numbers: an exact executor
does not care about size, so accuracy here should match accuracy on the originals.

    mycelium large-numbers runs/split/dev.jsonl --out runs/dev-large.jsonl
    mycelium eval --file runs/dev-large.jsonl --checkpoints ... --out runs/eval-large

Which numbers and which variants are kept: specialists/labels/augment.py (`number_variant`, here
with `draw_large`: independent values in [1,000, 100,000), then the originals scaled). A problem
whose reference labels do not validate, or for which no sensible variant turns up, is left out
and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_jsonl_atomic
from mycelium.data.progress import Progress
from mycelium.specialists.labels.augment import draw_large, number_variant
from mycelium.specialists.labels.build import build_labels


def large_number_rows(items: Sequence[GoldProblem], *, seed: int = 0,
                      progress: Progress | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """GSM8K-format rows ({"question", "answer": "... #### N", "original_id"}) of the kept
    variants, and the counts of what was left out and why."""
    labels, manifest = build_labels(items, dataset="gsm8k", source="reference",
                                    progress=progress)
    counts: Counter = Counter({f"labels_{reason}": count
                               for reason, count in manifest.dropped.items()})
    rng = random.Random(seed)
    rows = []
    for row in labels:
        variant = number_variant(row, rng, draw_large)
        if isinstance(variant, str):
            counts[variant] += 1
            continue
        # the original's id: plain accuracy on the same problems is a filter of its eval
        rows.append({"question": variant.text, "answer": f"#### {variant.answer}",
                     "original_id": row.problem_id})
        counts["kept"] += 1
    return rows, counts


def write_large_numbers(items: Sequence[GoldProblem], out: Path, *, seed: int = 0,
                        progress: Progress | None = None) -> Counter:
    rows, counts = large_number_rows(items, seed=seed, progress=progress)
    write_jsonl_atomic(out, rows)
    return counts
