"""Benchmark: do a real teacher's attention signals find the steps and operands the data has?

    python benchmarks/signal_quality.py --json                     # SmolLM2-135M GGUF, 500 problems
    python benchmarks/signal_quality.py --problems 100 --calibration-problems 30

The teacher (default: ../shared/models/smollm2-135m-instruct, the 4-bit GGUF) reads each GSM8K
train problem's worked solution teacher-forced after the chat-formatted problem (the `reference`
CoT source), every layer's head-averaged attention kept apart. Ground truth is the data's own:
solution line breaks are the step boundaries, each line's operands the problem quantities its
gold-program step links to (mycelium/signals/quality.py has every definition).

The first --calibration-problems problems choose the boundary layers, peak threshold and IAF
layers (`mycelium calibrate-layers` does the same); every figure except `calibration` is then
measured on the remaining problems, which the choice never saw.

Prints (with --json, one object):
  layers, iaf_layers, height_std      the calibrated choice
  boundary_precision/_recall/_f1      the chosen boundary layers, ±1 token of a line start
  random_f1                           the same number of boundaries placed at random
  per_layer                           per layer: precision, recall, f1, random_f1 (the default
                                      threshold), iaf_hit1, iaf_hit3
  phases                              reading (rows over the problem) vs generation (CoT rows):
                                      mean JSD, share of peaks at sentence/line starts and on
                                      numbers (with the share of number tokens, for scale),
                                      beside the figures the original system reported
  iaf_hit1/_hit3, baseline_hit3,      IAF ranking of the problem's numbers per line vs the
  reading_order_hit3                  nearest-mention and reading-order baselines
  iaf_operand_overlap                 Jaccard overlap of IAF tokens and operand-matched tokens
  seconds_per_problem                 the production capture pass (chosen layers only, the
                                      layers after the last one skipped), per problem
  measure_seconds_per_problem         the all-layer measurement pass, per problem
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from mycelium.data.loaders import load_problems
from mycelium.signals.boundaries import BoundaryConfig
from mycelium.signals.quality import (
    boundary_counts,
    calibrate,
    iaf_hits,
    phase_counts,
    random_counts,
)
from mycelium.teacher.calibration import measure_problems
from mycelium.teacher.forced import capture_traces
from mycelium.teacher.models import load_teacher
from mycelium.teacher.reference import reference_traces

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data" / "gsm8k" / "train.jsonl"
DEFAULT_TEACHER = SHARED / "models" / "smollm2-135m-instruct"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What the system this project is modelled on reported (its teacher: a 7B math model).
REPORTED = {"reading_mean_jsd": 0.018, "generation_mean_jsd": 0.031,
            "generation_peaks_at_step_boundaries": 0.295, "iaf_operand_overlap": 0.005}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(arguments: argparse.Namespace) -> dict:
    if not arguments.file.is_file():
        raise SystemExit(f"{arguments.file} not found: expected GSM8K train JSONL "
                         "(../shared/data/gsm8k/train.jsonl beside the clone), or pass --file")
    teacher = load_teacher(str(arguments.teacher), gguf_file=arguments.gguf_file)
    items = load_problems("gsm8k", arguments.file, limit=arguments.problems).problems
    started = time.perf_counter()
    measured = measure_problems(teacher, items, progress=lambda done, total: log(
        f"capture {done}/{total}") if done % 25 == 0 or done == total else None)
    measure_seconds = (time.perf_counter() - started) / len(items)
    calibration_set = measured[:arguments.calibration_problems]
    held_out = measured[arguments.calibration_problems:]
    if not held_out:
        raise SystemExit(f"no problems left after the {arguments.calibration_problems} "
                         "calibration problems: raise --problems")
    log(f"calibrating on {len(calibration_set)} problems")
    choice = calibrate(calibration_set)
    base = BoundaryConfig()
    chosen = BoundaryConfig(height_std=choice.height_std)
    log(f"measuring {len(held_out)} held-out problems, layer by layer")
    per_layer = {}
    for layer in measured[0].layers:
        counts = boundary_counts(held_out, [layer], base)
        hits = iaf_hits(held_out, [layer], with_overlap=False)
        per_layer[str(layer)] = {
            **counts.to_dict(), "random_f1": round(random_counts(held_out, [layer], base).f1, 4),
            "iaf_hit1": round(hits.hits["iaf"][0] / hits.lines, 4) if hits.lines else 0.0,
            "iaf_hit3": round(hits.hits["iaf"][1] / hits.lines, 4) if hits.lines else 0.0}
    boundaries = boundary_counts(held_out, choice.layers, chosen)
    random = random_counts(held_out, choice.layers, chosen)
    phases = {name: counts.to_dict()
              for name, counts in phase_counts(held_out, choice.layers, chosen).items()}
    iaf = iaf_hits(held_out, choice.iaf_layers).to_dict()

    timing_items = items[:arguments.timing_problems]
    traces = reference_traces(teacher, timing_items)
    started = time.perf_counter()
    with torch.no_grad():
        capture_traces(teacher, traces, batch_size=1,
                       layer_sets=(choice.layers, choice.iaf_layers))
    seconds = (time.perf_counter() - started) / len(timing_items)
    return {
        "teacher": teacher.name, "problems": len(items), "measured": len(measured),
        "calibration_problems": len(calibration_set), "held_out_problems": len(held_out),
        "layers": choice.layers, "iaf_layers": choice.iaf_layers,
        "height_std": choice.height_std, "calibration": choice.to_dict(),
        "boundary_precision": round(boundaries.precision, 4),
        "boundary_recall": round(boundaries.recall, 4),
        "boundary_f1": round(boundaries.f1, 4), "random_f1": round(random.f1, 4),
        "last_layer_f1": per_layer[str(measured[0].layers[-1])]["f1"],
        "per_layer": per_layer, "phases": phases, "reported": REPORTED,
        "iaf_hit1": iaf["iaf_hit1"], "iaf_hit3": iaf["iaf_hit3"],
        "baseline_hit3": iaf["nearest_hit3"], "reading_order_hit3": iaf["reading_order_hit3"],
        "iaf": iaf, "iaf_operand_overlap": iaf["iaf_operand_overlap"],
        "seconds_per_problem": round(seconds, 4),
        "measure_seconds_per_problem": round(measure_seconds, 4),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER)
    parser.add_argument("--gguf-file", default=DEFAULT_GGUF)
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--calibration-problems", type=int, default=100)
    parser.add_argument("--timing-problems", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    result = measure(arguments)
    if arguments.json:
        print(json.dumps(result))
        return
    print(f"teacher {result['teacher']}: boundary layers {result['layers']} (height_std "
          f"{result['height_std']}), IAF layers {result['iaf_layers']}")
    print(f"boundaries on {result['held_out_problems']} held-out problems: P "
          f"{result['boundary_precision']} R {result['boundary_recall']} F1 "
          f"{result['boundary_f1']} (random {result['random_f1']}, last layer "
          f"{result['last_layer_f1']})")
    print(f"IAF hit@1 {result['iaf_hit1']} hit@3 {result['iaf_hit3']} (nearest mention hit@3 "
          f"{result['baseline_hit3']}, reading order {result['reading_order_hit3']})")
    for name, phase in result["phases"].items():
        print(f"{name}: {phase}")
    print("layer  P      R      F1     random  IAF@1  IAF@3")
    for layer, row in result["per_layer"].items():
        print(f"{layer:>5}  {row['precision']:.3f}  {row['recall']:.3f}  {row['f1']:.3f}  "
              f"{row['random_f1']:.3f}   {row['iaf_hit1']:.3f}  {row['iaf_hit3']:.3f}")
    print(f"capture {result['seconds_per_problem']} s/problem (all layers: "
          f"{result['measure_seconds_per_problem']})")


if __name__ == "__main__":
    main()
