"""Benchmark: gold-check throughput over GSM8K train on this machine.

    python benchmarks/gold_check.py [GSM8K_FILE] [--json]

Times, in the same run, (a) the baseline of reading the file and building the records, and
(b) building, linking and executing every gold program. Prints problems/s, the whole command's
projected time for all problems, and its ratio to the 30 s goal (goal_ratio > 1 meets it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mycelium.data.loaders import load_problems
from mycelium.solver.reference.gsm8k_gold import gold_check

GOAL_SECONDS = 30.0
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    started = time.perf_counter()
    items = load_problems("gsm8k", args.file).problems
    load_seconds = time.perf_counter() - started

    started = time.perf_counter()
    report, _ = gold_check(items)
    check_seconds = time.perf_counter() - started

    total_seconds = load_seconds + check_seconds
    result = {
        "problems": len(items),
        "load_seconds": round(load_seconds, 3),
        "gold_check_seconds": round(check_seconds, 3),
        "problems_per_s": round(len(items) / check_seconds, 1),
        "total_seconds": round(total_seconds, 3),
        "gold_check_over_load": round(check_seconds / load_seconds, 2),
        "goal_seconds": GOAL_SECONDS,
        "goal_ratio": round(GOAL_SECONDS / total_seconds, 2),
        "rate": round(report.rate, 6),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
