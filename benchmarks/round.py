"""Benchmark: one distillation round's wall time against the 60-minute goal, stage by stage.

    python benchmarks/round.py [--config configs/gsm8k-cpu.yaml] [--round 1] [--runner dask]
                               [--home DIR] [--json]

Runs the round through `mycelium round` (the Prefect flow; finished stages are skipped, so on a
run folder that already holds the round this only reads it back) and prints, from the round's
completion markers: each stage's wall and summed minutes, the round's wall minutes (first start
to last finish), and two ratios measured in the same run:
  - goal_ratio = 60 / wall minutes (≥ 1 meets "one local round over the full GSM8K train with
    reference labels in ≤ 60 minutes" on this machine);
  - parallel_speedup = summed minutes / wall minutes: the baseline is the same units run one
    after another by one worker.
A resumed round's wall time includes the pause between the runs: benchmark a fresh run folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mycelium.rounds.config import load_round_config
from mycelium.rounds.report import round_summary
from mycelium.rounds.round import prepare_round

GOAL_MINUTES = 60.0
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "gsm8k-cpu.yaml"))
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--runner", choices=("threads", "dask"), default="dask")
    parser.add_argument("--home")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = [sys.executable, "-m", "mycelium.flows.cli", "round", "--config", args.config,
               "--round", str(args.round), "--runner", args.runner]
    if args.home:
        command += ["--home", args.home]
    subprocess.run(command, check=True)  # its progress goes to this terminal
    plan = prepare_round(load_round_config(args.config, {"home": args.home}), args.round)
    summary = round_summary(plan)
    wall = summary["minutes_wall"]
    result = {"round": args.round, "minutes_wall": wall, "minutes_summed":
              summary["minutes_summed"], "goal_minutes": GOAL_MINUTES,
              "goal_ratio": round(GOAL_MINUTES / wall, 3) if wall else None,
              "parallel_speedup": round(summary["minutes_summed"] / wall, 3) if wall else None,
              "stages": {stage: {"wall_minutes": round(times["wall_seconds"] / 60, 2),
                                 "summed_minutes": round(times["seconds"] / 60, 2)}
                         for stage, times in summary["stages"].items()},
              "accuracy": summary["eval"].get("accuracy")}
    if args.json:
        print(json.dumps(result))
        return
    for stage, times in result["stages"].items():
        print(f"{stage:18s} wall {times['wall_minutes']:7.2f} min   summed "
              f"{times['summed_minutes']:7.2f} min")
    print(f"round wall {wall:.2f} min (goal {GOAL_MINUTES:.0f}): goal_ratio "
          f"{result['goal_ratio']}, parallel_speedup {result['parallel_speedup']}")


if __name__ == "__main__":
    main()
