"""The `mycelium` command line: parses arguments and calls library functions, nothing more.

    mycelium gold-check                                   # the bundled sample problems
    mycelium gold-check ../shared/data/gsm8k/train.jsonl --json

User errors (a missing file, a malformed line, an unknown dataset) print one line on stderr and
exit with code 2; there is no traceback for them.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_jsonl_atomic
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.solver.reference.gsm8k_gold import gold_check
from mycelium.specialists.train_config import TrainConfig, selection_metrics

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Mycelium: distil a teacher's math reasoning into tiny specialists.")
stdout = Console()
stderr = Console(stderr=True, soft_wrap=True)


def _progress(description: str, total: int) -> Progress:
    """A progress bar on stderr, so stdout stays clean for --json."""
    progress = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr, transient=True)
    progress.add_task(description, total=total)
    return progress


@contextlib.contextmanager
def _stages():
    """`report(stage, done, total)` for multi-stage work: a rich bar per stage on a terminal;
    elsewhere (a log file, CI) a plain line each time a stage passes another tenth."""
    if stderr.is_terminal:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=stderr, transient=True) as progress:
            tasks: dict[str, int] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            yield report
        return
    from mycelium.data.progress import tenths

    report = tenths(lambda line: stderr.print(line, highlight=False))
    yield report


@app.command("gold-check")
def gold_check_command(
    file: Annotated[Path | None, typer.Argument(
        help="GSM8K JSONL/Parquet file or hub id; default: the bundled sample problems.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip and count malformed lines instead of stopping.")] = False,
    programs: Annotated[Path | None, typer.Option(
        help="Also write each problem's program (or failure reason) to this JSONL file.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
) -> None:
    """Turn GSM8K worked solutions into linked programs, execute them exactly, and report how
    many reproduce the '####' answer, why the rest fail, and where the operands come from."""
    source = file or bundled_sample_path()
    loaded = load_problems("gsm8k", source, skip_bad=skip_bad, limit=limit)
    items = loaded.problems
    with _progress("gold programs", len(items)) as progress:
        def counted():
            for item in items:
                yield item
                progress.advance(progress.task_ids[0])

        report, outcomes = gold_check(counted())
    report.bad_rows = len(loaded.bad)
    if programs is not None:
        write_jsonl_atomic(programs, (
            {"problem_id": outcome.problem_id, "annotated": outcome.annotated,
             "reproduced": outcome.program is not None, "failure": outcome.failure,
             "program": outcome.program.to_json() if outcome.program else None,
             "rendered": outcome.program.render() if outcome.program else None}
            for outcome in outcomes))
    summary = report.to_json()
    summary["source"] = str(source)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    _print_gold_report(summary)
    for bad in loaded.bad:
        stderr.print(f"skipped {escape(str(bad))}", highlight=False)


def _print_gold_report(summary: dict) -> None:
    table = Table(title=f"gold-check: {escape(summary['source'])}", show_header=False)
    table.add_row("problems", str(summary["total"]))
    table.add_row("annotated", str(summary["annotated"]))
    table.add_row("reproduced", str(summary["reproduced"]))
    table.add_row("rate", f"{summary['rate']:.4f}")
    table.add_row("skipped bad rows", str(summary["bad_rows"]))
    for reason, count in summary["failures"].items():
        table.add_row(f"failure: {reason}", f"{count} (e.g. {summary['failure_examples'][reason]})")
    for kind, share in summary["linkage"].items():
        table.add_row(f"operands linked to {kind}", f"{share:.2%}")
    stdout.print(table)


@app.command("make-tiny-teacher")
def make_tiny_teacher_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the model into.")],
    train_steps: Annotated[int, typer.Option(
        help="AdamW steps fitting it to the sample's solutions (0: random weights).")] = 100,
) -> None:
    """Build a tiny Qwen2-shaped teacher (with a real BPE tokenizer) to try `signals` on CPU."""
    from mycelium.teacher.models import make_tiny_teacher

    with stderr.status("fitting a tiny teacher to the bundled sample"):
        make_tiny_teacher(directory, train_steps=train_steps)
    stdout.print(f"tiny teacher written to {escape(str(directory))}")


def _layer_list(option: str, value: str | None) -> list[int] | None:
    """'all' (or nothing) -> None; '6,12,-1' -> [6, 12, -1]."""
    if value is None or value == "all":
        return None
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise MyceliumError(f"{option} {value!r}: expected 'all' or integers like -1 or "
                            "0,5,-1") from None


@app.command("signals")
def signals_command(
    teacher: Annotated[str, typer.Option(help="Teacher model folder or hub id.")],
    out: Annotated[Path, typer.Option(help="Output folder (signals.jsonl, traces.jsonl, "
                                           "pages/*.html).")],
    problem: Annotated[str | None, typer.Option(help="One problem's text.")] = None,
    file: Annotated[Path | None, typer.Option(help="A GSM8K/MATH JSONL/Parquet file.")] = None,
    dataset: Annotated[str, typer.Option(help="gsm8k or math (with --file).")] = "gsm8k",
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed lines.")] = False,
    gguf_file: Annotated[str | None, typer.Option(
        help="A llama.cpp GGUF file inside the --teacher folder (needs the gguf package).")
    ] = None,
    cot: Annotated[str, typer.Option(
        help="generate (the teacher's own CoT) or reference (the worked solution "
             "teacher-forced; needs --file).")] = "generate",
    max_new_tokens: Annotated[int, typer.Option(help="CoT length cap.")] = 2048,
    batch_size: Annotated[int, typer.Option(help="Problems per generation batch.")] = 8,
    layers: Annotated[str | None, typer.Option(
        help="Boundary layers: 'all', or comma-separated indices ('-1' = last). Default: the "
             "calibration shipped for this teacher (teacher/calibrated/), else all.")] = None,
    iaf_layers: Annotated[str | None, typer.Option(
        help="IAF layers (default: the boundary layers).")] = None,
    calibration: Annotated[Path | None, typer.Option(
        help="A `mycelium calibrate-layers` file: its layers and peak threshold "
             "(instead of --layers/--iaf-layers).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16")] = "auto",
    backend: Annotated[str, typer.Option(help="transformers or vllm")] = "transformers",
    system_prompt: Annotated[str | None, typer.Option(
        help="Instruction sent with each problem (default: Qwen2.5-Math-Instruct's "
             "'Please reason step by step, ...').")] = None,
) -> None:
    """Teacher CoT + attention capture -> step boundaries, IAF spans, clauses, operand links;
    writes Signals JSONL and one self-contained HTML page per problem."""
    from mycelium.data.records import Problem
    from mycelium.teacher.models import load_teacher
    from mycelium.teacher.pipeline import run_signals

    if (problem is None) == (file is None):
        raise MyceliumError("give exactly one of --problem TEXT or --file F")
    if problem is not None:
        if cot == "reference":
            raise MyceliumError("--cot reference teacher-forces the dataset's worked "
                                "solutions: give --file, not --problem")
        if not problem.strip():
            raise MyceliumError("--problem is empty: expected the text of a math problem")
        items = [Problem.create(dataset if dataset in ("gsm8k", "math") else "gsm8k",
                                problem)]
    else:
        items = load_problems(dataset, file, skip_bad=skip_bad, limit=limit).problems
    from mycelium.teacher.calibration import shipped_calibration
    from mycelium.teacher.models import teacher_name

    if calibration is None and layers is None and iaf_layers is None:
        calibration = shipped_calibration(teacher_name(teacher, gguf_file))
        if calibration is not None:
            stderr.print(f"layers: the calibration shipped for this teacher, "
                         f"{escape(str(calibration))}", highlight=False)
    config = _signals_run_config(cot, layers or "all", iaf_layers, calibration,
                                 max_new_tokens, batch_size, backend, system_prompt)
    with stderr.status(f"loading teacher {escape(teacher)}"):
        loaded_teacher = load_teacher(teacher, gguf_file=gguf_file, dtype=dtype, device=device)
    with _stages() as advance:
        run = run_signals(loaded_teacher, items, out, config, advance)
    table = Table(title=f"signals: {len(items)} problem(s) -> {escape(str(out))}",
                  show_header=False)
    for status, count in sorted(run.counts.items()):
        table.add_row(f"status {status}", str(count))
    for stage, seconds in run.seconds.items():
        table.add_row(f"{stage} seconds", f"{seconds:.2f} ({seconds / len(items):.3f}/problem)")
    table.add_row("pages", escape(str(out / "pages")))
    stdout.print(table)
    for problem_id, reason in run.failures.items():
        stderr.print(f"failed {problem_id}: {escape(reason)}", highlight=False)


def _signals_run_config(cot: str, layers: str, iaf_layers: str | None,
                        calibration: Path | None, max_new_tokens: int, batch_size: int,
                        backend: str, system_prompt: str | None):
    from mycelium.signals.boundaries import BoundaryConfig
    from mycelium.signals.extract import SignalsConfig
    from mycelium.teacher.calibration import read_calibration
    from mycelium.teacher.capture import CaptureConfig
    from mycelium.teacher.generate import GenerationConfig
    from mycelium.teacher.pipeline import SignalsRunConfig

    signals = SignalsConfig()
    boundary_layers, iaf_list = _layer_list("--layers", layers), \
        _layer_list("--iaf-layers", iaf_layers)
    if calibration is not None:
        boundary_layers, height, iaf_list = read_calibration(calibration)
        signals = SignalsConfig(boundaries=BoundaryConfig(height_std=height))
    return SignalsRunConfig(
        generation=GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch_size,
                                    backend=backend,
                                    **({"system_prompt": system_prompt} if system_prompt else {})),
        capture=CaptureConfig(layers=boundary_layers), signals=signals, iaf_layers=iaf_list,
        cot_source=cot)


@app.command("calibrate-layers")
def calibrate_layers_command(
    teacher: Annotated[str, typer.Option(help="Teacher model folder or hub id.")],
    out: Annotated[Path, typer.Option(help="Where to write the calibration (JSON).")],
    file: Annotated[Path, typer.Option(help="GSM8K train problems (JSONL/Parquet).")],
    gguf_file: Annotated[str | None, typer.Option(
        help="A llama.cpp GGUF file inside the --teacher folder.")] = None,
    limit: Annotated[int, typer.Option(help="Problems to calibrate on (the first N).")] = 100,
    device: Annotated[str, typer.Option(help="cpu, cuda, ...")] = "cpu",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16")] = "auto",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pick the teacher's boundary layers (and peak threshold) and IAF layers by measurement:
    the worked solutions of the first N problems are teacher-forced, every layer's attention
    is scored against the solution's line breaks and the gold program's operands, and the best
    sets are written for `mycelium signals --calibration` and rounds."""
    from mycelium.teacher.calibration import calibrate_teacher
    from mycelium.teacher.models import load_teacher

    items = load_problems("gsm8k", file, limit=limit).problems
    with stderr.status(f"loading teacher {escape(teacher)}"):
        loaded = load_teacher(teacher, gguf_file=gguf_file, dtype=dtype, device=device)
    with _stages() as report:
        choice = calibrate_teacher(loaded, items, out,
                                   lambda done, total: report("capture", done, total))
    if json_output:
        stdout.print_json(json.dumps(choice.to_dict()))
        return
    stdout.print(f"boundary layers {choice.layers} (height_std {choice.height_std}, F1 "
                 f"{choice.f1:.3f}); IAF layers {choice.iaf_layers} (hit@1 "
                 f"{choice.iaf_hit1:.3f}); {choice.problems} problems -> {escape(str(out))}")


@app.command("split")
def split_command(
    file: Annotated[Path, typer.Argument(help="The train file to carve a dev split from.")],
    out: Annotated[Path, typer.Option(help="Folder for train.jsonl and dev.jsonl.")],
    dataset: Annotated[str, typer.Option(help="gsm8k or math.")] = "gsm8k",
    dev_fraction: Annotated[float, typer.Option(help="Share of problems for dev.")] = 0.1,
) -> None:
    """Carve a deterministic dev split (by problem-id hash) from a train file."""
    from mycelium.data.splits import split_file

    with stderr.status(f"splitting {escape(str(file))}"):
        result = split_file(dataset, file, out, dev_fraction=dev_fraction)
    stdout.print(f"train: {result.train_count} -> {escape(str(result.train))}\n"
                 f"dev:   {result.dev_count} -> {escape(str(result.dev))}", highlight=False)


@app.command("large-numbers")
def large_numbers_command(
    file: Annotated[Path, typer.Argument(help="GSM8K problems (JSONL/Parquet), e.g. a dev split.")],
    out: Annotated[Path, typer.Option(help="JSONL file for the rewritten problems.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Rewrite every number written in digits as a large random one and recompute the gold
    answer by executing the validated reference program on the new numbers (evaluate the file
    with `mycelium eval` to see whether size matters to the solver)."""
    from mycelium.evaluation.large_numbers import write_large_numbers

    items = load_problems("gsm8k", file).problems
    with _stages() as report:
        counts = write_large_numbers(items, out, seed=seed, progress=report)
    summary = {"problems": len(items), "kept": counts.pop("kept", 0), "dropped": dict(counts),
               "out": str(out)}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        stdout.print(f"{summary['kept']} of {len(items)} problems rewritten -> "
                     f"{escape(str(out))} (left out: {summary['dropped']})", highlight=False)


@app.command("fit-verifier")
def fit_verifier_command(
    reasoner: Annotated[Path, typer.Option(help="A reasoner checkpoint folder.")],
    data: Annotated[Path, typer.Option(help="Label store of training problems (gold answers "
                                            "label the beams; never dev).")],
    out: Annotated[Path, typer.Option(help="Folder for verifier.json: put it beside reasoner/ "
                                           "as CHECKPOINTS/verifier.")],
    all_rows: Annotated[bool, typer.Option(
        "--all-rows", help="Solve every row of --data, not only the slice training holds "
                           "out (a reasoner trained with --eval-data held none out: its beams "
                           "are then over problems it has seen).")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Fit the verifier that ranks the reasoner's finished programs: the reasoner solves training
    problems (by default the hash slice its training held out, which it has not seen), each
    program is labelled by the problem's gold answer, and a logistic regression over gold-free
    features of the program and the beam is saved."""
    from mycelium.specialists.labels.store import read_labels
    from mycelium.specialists.registry import load_specialist
    from mycelium.specialists.verifier_training import fit_verifier, held_out_rows

    model = load_specialist(reasoner, use_cpu=True)
    if model.name != "reasoner":
        raise MyceliumError(f"--reasoner {reasoner}: a {model.name} checkpoint, expected a "
                            "reasoner")
    rows = read_labels(data)
    rows = list(rows) if all_rows else held_out_rows(rows)
    rows = rows[:limit]
    if not rows:
        raise MyceliumError(f"--data {data}: no problems to fit on (the held-out slice is 10% "
                            "of the rows by problem id; pass --all-rows for a small store)")
    with _stages() as report:
        verifier, summary = fit_verifier(model, rows, progress=report)
    path = verifier.save(out)
    summary = {**summary, "out": str(path)}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        stdout.print(f"verifier fitted on {summary['programs']} programs of "
                     f"{summary['problems']} problems -> {escape(str(path))} (in-sample: vote "
                     f"{summary['vote_accuracy']:.3f}, verifier "
                     f"{summary['verifier_accuracy_in_sample']:.3f})", highlight=False)


@app.command("label")
def label_command(
    out: Annotated[Path, typer.Option(help="Folder for labels.parquet and labels.json.")],
    source: Annotated[str, typer.Option(help="reference (worked solutions) or teacher "
                                             "(a `mycelium signals` folder).")] = "reference",
    dataset: Annotated[str, typer.Option(help="gsm8k or math.")] = "gsm8k",
    file: Annotated[Path | None, typer.Option(
        help="Problems with gold answers; default: the bundled GSM8K sample.")] = None,
    exclude: Annotated[Path | None, typer.Option(
        help="Evaluation file: any problem whose text is in it is refused.")] = None,
    signals: Annotated[Path | None, typer.Option(
        help="With --source teacher: the output folder of `mycelium signals`.")] = None,
    round_number: Annotated[int, typer.Option("--round", help="Round recorded as provenance.")
                            ] = 1,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip and count malformed lines instead of stopping.")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Build execution-validated labels (IO tags, groups, operations, typed arguments) and write
    them as a Parquet label store."""
    from mycelium.specialists.labels.build import build_labels, exclusion_texts
    from mycelium.specialists.labels.store import write_labels

    if file is None and dataset != "gsm8k":
        raise MyceliumError("--file is required for --dataset math (the bundled sample is GSM8K)")
    loaded = load_problems(dataset, file or bundled_sample_path(), skip_bad=skip_bad,
                           limit=limit)
    excluded = exclusion_texts(exclude, dataset) if exclude is not None else set()
    with _progress("labels", len(loaded.problems)) as progress:
        rows, manifest = build_labels(
            loaded.problems, dataset=dataset, source=source, round=round_number,
            signals_dir=signals, exclude=excluded,
            progress=lambda stage, done, total: progress.update(progress.task_ids[0],
                                                                completed=done))
    write_labels(out, rows, manifest)
    summary = {**manifest.to_json(), "bad_rows": len(loaded.bad), "out": str(out)}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table(title=f"labels: {escape(str(out))}", show_header=False)
    for key in ("problems", "validated", "coverage", "with_gold", "bad_rows", "config_hash"):
        table.add_row(key, str(summary[key]))
    for reason, count in summary["dropped"].items():
        table.add_row(f"dropped: {escape(reason)}", str(count))
    stdout.print(table)


@app.command("train")
def train_command(
    specialist: Annotated[str, typer.Argument(
        help="tagger, classifier, extractor (the pipeline) or reasoner.")],
    data: Annotated[Path, typer.Option(help="Label store (the --out folder of `label`).")],
    out: Annotated[Path, typer.Option(help="Folder for the checkpoint.")],
    base: Annotated[str | None, typer.Option(
        help="Base model path or hub id; default: the bundled all-MiniLM-L6-v2.")] = None,
    eval_data: Annotated[Path | None, typer.Option(
        help="Label store to evaluate on (e.g. the dev split's labels); default: a held-out "
             "hash slice of --data.")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training problems.")
                      ] = TrainConfig.epochs,
    batch_size: Annotated[int, typer.Option(help="Problems per optimizer step.")
                          ] = TrainConfig.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Learning rate of the base model.")
                             ] = TrainConfig.learning_rate,
    head_learning_rate: Annotated[float, typer.Option(
        help="Learning rate of the new heads and embeddings.")] = TrainConfig.head_learning_rate,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N optimizer steps.")] = None,
    number_variants: Annotated[int, typer.Option(
        help="Number variants per training problem: its numbers re-drawn, its program "
             "re-executed for the new answer (training side only).")
    ] = TrainConfig.number_variants,
    frozen_layers: Annotated[int, typer.Option(
        help="Reasoner: keep the encoder's first N layers as pretrained; their output is "
             "computed once per problem, which makes each step cheaper.")
    ] = TrainConfig.frozen_layers,
    step_reading: Annotated[bool, typer.Option(
        "--step-reading/--no-step-reading",
        help="Reasoner: each step's context reads the state (the last result, and attention "
             "over the problem's words queried by it).")] = TrainConfig.step_reading,
    max_literals: Annotated[int | None, typer.Option(
        min=0, help="Reasoner: only the N most frequent literal values of the labels join the "
                    "step pool (programs using another are dropped and counted); default: "
                    "every value seen twice.")] = TrainConfig.max_literals,
    cpu_bf16: Annotated[bool | None, typer.Option(
        "--cpu-bf16/--no-cpu-bf16",
        help="Reasoner: run the encoder under bf16 autocast when training on the CPU; "
             "default: where the CPU has native bf16 (AMX, AVX512-BF16).")] = None,
    processes: Annotated[int, typer.Option(
        min=1, help="Data-parallel training processes on the CPU, one torch thread each "
                    "(2 on a 2-core machine).")] = TrainConfig.processes,
    init_from: Annotated[Path | None, typer.Option(
        help="Reasoner: start from this reasoner checkpoint (e.g. the previous round's) "
             "instead of the pretrained base.")] = None,
    select_by: Annotated[str, typer.Option(
        help="The evaluation metric that picks the kept epoch: eval_loss (lower is better); "
             "for the reasoner also step_exact or problem_exact (higher is better).")
    ] = TrainConfig.select_by,
    round_number: Annotated[int, typer.Option("--round", help="Round recorded in the "
                                                              "checkpoint.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on the CPU even with CUDA.")
                   ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Train one specialist on a label store and save a self-describing checkpoint."""
    from mycelium.specialists.labels.store import read_labels
    from mycelium.specialists.models.bases import default_base
    from mycelium.specialists.training import TRAINERS

    if specialist not in TRAINERS:
        raise MyceliumError(f"unknown specialist {specialist!r}: expected one of "
                            f"{', '.join(TRAINERS)}")
    if init_from is not None and specialist != "reasoner":
        raise MyceliumError(f"--init-from {init_from}: warm starts are for the reasoner, not "
                            f"the {specialist}")
    allowed = selection_metrics(specialist)
    if select_by not in allowed:
        raise MyceliumError(f"--select-by {select_by}: the {specialist} is selected by one of "
                            f"{', '.join(allowed)}")
    labels = read_labels(data)
    eval_labels = read_labels(eval_data) if eval_data is not None else None
    config = TrainConfig(epochs=epochs, select_by=select_by, batch_size=batch_size,
                         learning_rate=learning_rate,
                         head_learning_rate=head_learning_rate, max_steps=max_steps,
                         number_variants=number_variants,
                         frozen_layers=frozen_layers, step_reading=step_reading,
                         max_literals=max_literals, cpu_bf16=cpu_bf16, processes=processes,
                         init_from=None if init_from is None else str(init_from),
                         round=round_number, seed=seed, use_cpu=cpu)
    result = TRAINERS[specialist](labels, base or default_base(), out, config, eval_labels)
    summary = {"specialist": specialist, "out": str(out), "base": base or default_base(),
               "train_examples": result.train_examples, "eval_examples": result.eval_examples,
               "seconds": round(result.seconds, 2),
               "train_seconds": round(result.train_seconds, 2),
               "metrics": {key: value for key, value in result.metrics.items()
                           if not isinstance(value, list | dict)}}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table(title=f"{specialist} -> {escape(str(out))}", show_header=False)
    for key in ("base", "train_examples", "eval_examples", "seconds"):
        table.add_row(key, escape(str(summary[key])))
    for key, value in summary["metrics"].items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else escape(str(value)))
    stdout.print(table)


def _specialists_for(problems: list, checkpoints: Path | None, cpu: bool):
    """The trained specialists, or None when every problem is MATH (its tracks need none)."""
    from mycelium.specialists.registry import DATASET_FAMILIES, Specialists, find_checkpoints

    # GSM8K needs a word-problem family; MATH runs with any (or none)
    families = DATASET_FAMILIES["gsm8k"] if any(problem.dataset == "gsm8k"
                                                for problem in problems) else None
    try:
        directory = find_checkpoints(checkpoints, families)
    except MyceliumError:
        if problems and all(problem.dataset == "math" for problem in problems):
            stderr.print("no trained specialists: MATH word problems without LaTeX will get "
                         "no_answer (no_specialists)", highlight=False)
            return None
        raise
    with stderr.status(f"loading specialists from {escape(str(directory))}"):
        return Specialists.load(directory, use_cpu=cpu)


def _search_config(beam_width: int | None):
    from mycelium.solver.search import SearchConfig

    return SearchConfig() if beam_width is None else SearchConfig(beam_width=beam_width)


@app.command("solve")
def solve_command(
    text: Annotated[str | None, typer.Argument(help="One problem's text.")] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="JSONL file of problems (question, problem or text field).")] = None,
    output: Annotated[Path | None, typer.Option(
        help="With --input: write one result per input line here (default: stdout).")] = None,
    dataset: Annotated[str, typer.Option(
        help="gsm8k, math, or auto (math when the text holds LaTeX).")] = "auto",
    checkpoints: Annotated[Path | None, typer.Option(
        help="Folder with tagger/, classifier/, extractor/ (default: the newest round under "
             "$MYCELIUM_HOME or ./runs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    beam_width: Annotated[int | None, typer.Option(help="Search beam width.")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Run on the CPU even with CUDA.")] = False,
) -> None:
    """Solve problems with the trained specialists (GSM8K) or the MATH tracks: no
    chain-of-thought, no gold answer. Exit code 1 when some input lines were invalid (each has
    its own status), 2 when the command cannot run."""
    from mycelium.data.loaders import guess_dataset, read_solve_inputs
    from mycelium.data.records import Problem, SolveResult
    from mycelium.inference.solve import solve_in_chunks, solve_problems
    from mycelium.inference.word_problems import check_text

    if (text is None) == (input_file is None):
        raise MyceliumError("give either a problem TEXT or --input FILE, not both or neither")
    if dataset not in ("auto", "gsm8k", "math"):
        raise MyceliumError(f"unknown dataset {dataset!r}: expected gsm8k, math or auto")
    config = _search_config(beam_width)
    if text is not None:
        reason = check_text(text)
        if reason:
            raise MyceliumError(f"the problem text is unusable ({reason}): expected a word "
                                "problem or a MATH problem")
        problem = Problem.create(guess_dataset(text) if dataset == "auto" else dataset, text)
        (result,) = solve_problems([problem], _specialists_for([problem], checkpoints, cpu),
                                   config)
        if as_json:
            sys.stdout.write(result.model_dump_json() + "\n")
        else:
            _print_solution(result)
        return
    inputs = read_solve_inputs(input_file, dataset)
    problems = [item.problem for item in inputs if item.problem is not None]
    specialists = _specialists_for(problems, checkpoints, cpu)
    with _stages() as report:
        solved = solve_in_chunks(problems, specialists, config, progress=report, stage="solving")
    answers = iter(solved)
    rows = []
    for item in inputs:
        if item.problem is None:
            rows.append({"line": item.line, **SolveResult(
                problem_id=f"line-{item.line}", dataset="math" if dataset == "math" else "gsm8k",
                status="invalid", reason=item.reason).model_dump(), "detail": item.detail})
        else:
            rows.append({"line": item.line, **next(answers).model_dump()})
    if output is not None:
        write_jsonl_atomic(output, rows)
    else:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    counts = {status: sum(row["status"] == status for row in rows)
              for status in ("ok", "no_answer", "invalid")}
    stderr.print(f"{len(rows)} lines: {counts['ok']} answered, {counts['no_answer']} no answer, "
                 f"{counts['invalid']} invalid" + (f" -> {escape(str(output))}" if output else ""),
                 highlight=False)
    if counts["invalid"]:
        raise SystemExit(1)


def _print_solution(result) -> None:
    if result.status != "ok":
        stdout.print(f"no answer ({escape(result.status)}: {escape(result.reason)})",
                     highlight=False)
        return
    stdout.print(f"[bold]answer: {escape(str(result.answer))}[/]   (track: {result.track})",
                 highlight=False)
    for step in result.steps:
        stdout.print(f"  {escape(step['line'])}", highlight=False)
        if step.get("words"):
            stdout.print(f"      from: “{escape(step['words'])}”", style="dim", highlight=False)


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Option(help="Problems with gold answers (e.g. your dev split).")],
    out: Annotated[Path, typer.Option(help="Folder for samples.jsonl, results.json, "
                                           "report.html.")],
    dataset: Annotated[str, typer.Option(help="gsm8k or math.")] = "gsm8k",
    checkpoints: Annotated[Path | None, typer.Option(
        help="Folder with tagger/, classifier/, extractor/ (default: the newest round).")
                           ] = None,
    labels: Annotated[Path | None, typer.Option(
        help="Validated labels of --file for the oracle stages (default: built now).")] = None,
    attribution: Annotated[bool, typer.Option(
        "--attribution/--no-attribution",
        help="Run the oracle stages that attribute each failure (about 2x the solve time).")
    ] = True,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed lines.")] = False,
    beam_width: Annotated[int | None, typer.Option(help="Search beam width.")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Run on the CPU even with CUDA.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON.")] = False,
) -> None:
    """Accuracy, beam hit and error attribution on a file with gold answers; writes per-sample
    JSONL, results.json and a self-contained HTML report."""
    from mycelium.evaluation.evaluate import evaluate, write_eval
    from mycelium.specialists.labels.store import read_labels

    loaded = load_problems(dataset, file, skip_bad=skip_bad, limit=limit)
    if not loaded.problems:
        raise MyceliumError(f"{file}: no problems to evaluate")
    specialists = _specialists_for([item.problem for item in loaded.problems], checkpoints, cpu)
    label_rows = None
    if not attribution:
        label_rows = {}  # no labels: no oracle passes (as a round with attribution: false)
    elif labels is not None:
        label_rows = {row.problem_id: row for row in read_labels(labels)}
    with _stages() as report:
        records, summary = evaluate(dataset, loaded.problems, specialists,
                                    config=_search_config(beam_width), labels=label_rows,
                                    progress=report)
    summary.update(file=str(file), checkpoints=str(specialists.directory) if specialists
                   else None, bad_rows=len(loaded.bad))
    results = write_eval(out, records, summary)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table(title=f"eval: {escape(str(file))}", show_header=False)
    for key in ("n", "correct", "accuracy", "beam_hit", "invalid", "no_answer", "labelled",
                "problems_per_s"):
        table.add_row(key, str(summary[key]))
    for track, entry in summary["by_track"].items():
        table.add_row(f"track {escape(track)}", f"{entry['correct']}/{entry['n']} "
                                                f"({entry['accuracy']:.3f})")
    for stage, count in summary["attribution"].items():
        table.add_row(f"failures: {escape(stage)}", str(count))
    stdout.print(table)
    stdout.print(f"report: {escape(str(out / 'report.html'))}\nresults: "
                 f"{escape(str(results))}", highlight=False)


@app.command("round")
def round_command(
    config: Annotated[Path, typer.Option(help="Run config (YAML), e.g. configs/local.yaml.")],
    rounds: Annotated[int | None, typer.Option(
        help="Run rounds 1..K (finished rounds and stages are skipped).")] = None,
    round_number: Annotated[int | None, typer.Option(
        "--round", help="Run only round N (round N-1 must be finished).")] = None,
    executor: Annotated[str, typer.Option(
        help="prefect: the distill-round flow on a local (ephemeral) Prefect API; local: the "
             "same stages in this process without Prefect.")] = "prefect",
    runner: Annotated[str, typer.Option(
        help="Prefect task runner: threads, or dask (one worker process per shard).")
    ] = "threads",
    world_size: Annotated[int | None, typer.Option(
        help="Shards per problem stage (default: the config's world_size).")] = None,
    until: Annotated[str | None, typer.Option(help="Stop after this stage.")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (the run's folder).")] = None,
    train_file: Annotated[str | None, typer.Option(help="Train problems (file or hub id).")
                          ] = None,
    dev_file: Annotated[str | None, typer.Option(help="Dev problems (default: carved from "
                                                       "train by problem id).")] = None,
    teacher: Annotated[str | None, typer.Option(help="Teacher model folder or hub id.")] = None,
    base: Annotated[str | None, typer.Option(help="Student base model folder or hub id.")
                    ] = None,
    home: Annotated[str | None, typer.Option(help="Run home (default $MYCELIUM_HOME or "
                                                   "./runs).")] = None,
    if_locked: Annotated[str, typer.Option(
        help="When another run holds the run folder: refuse (exit 1, naming it) or wait.")
    ] = "refuse",
) -> None:
    """Run distillation rounds: labels (reference or teacher), from round 2 the students' own
    validated programs (and the teacher's mop-up of their failures), training of the three
    specialists, evaluation on the dev split, and the round report. Reruns resume."""
    from mycelium.rounds.config import load_round_config
    from mycelium.rounds.lock import run_lock
    from mycelium.rounds.round import prepare_round, run_round

    if rounds is not None and round_number is not None:
        raise MyceliumError("--rounds K runs rounds 1..K and --round N runs round N: give one")
    if executor not in ("prefect", "local"):
        raise MyceliumError(f"--executor {executor}: expected prefect or local")
    if runner not in ("threads", "dask"):
        raise MyceliumError(f"--runner {runner}: expected threads or dask")
    if if_locked not in ("refuse", "wait"):
        raise MyceliumError(f"--if-locked {if_locked}: expected refuse or wait")
    numbers = [round_number] if round_number is not None else list(range(1, (rounds or 1) + 1))
    overrides = {"train_file": train_file, "dev_file": dev_file, "teacher": teacher,
                 "base": base, "name": name, "home": home}
    loaded = load_round_config(config, overrides)
    # everything round 1 needs is checked before anything runs; later rounds are checked as
    # they start (their previous round exists only then)
    prepare_round(loaded, numbers[0], world_size=world_size, until=until)
    for number in numbers:
        if executor == "local":
            plan = prepare_round(loaded, number, world_size=world_size, until=until)
            say = lambda message: stderr.print(message, highlight=False,  # noqa: E731
                                               markup=False)
            with run_lock(plan.run_dir, if_locked=if_locked, log=say):  # type: ignore[arg-type]
                run_round(plan, say)
            report = plan.report_path if "report" in plan.stages else None
        else:
            from mycelium.flows.distill_round import distill_round

            result = distill_round(config=str(config), round=number, world_size=world_size,
                                   runner=runner, until=until, if_locked=if_locked,
                                   **overrides)
            report = result["report"]
        if report:
            stdout.print(f"round {number} report: {escape(str(report))}", highlight=False)


@app.command("serve")
def serve_command(
    checkpoints: Annotated[Path | None, typer.Option(
        help="Trained specialists (default: the newest round under $MYCELIUM_HOME or ./runs).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(
        help="Solver processes (each loads the specialists once and uses one core).")] = 2,
    model_name: Annotated[str, typer.Option(help="The model id clients ask for.")
                          ] = "mycelium",
    timeout: Annotated[float, typer.Option(help="Seconds a request may take, queueing "
                                                "included (then 504).")] = 60.0,
    max_body_kb: Annotated[int, typer.Option(help="Largest request body (then 413).")] = 256,
    max_batch: Annotated[int, typer.Option(
        help="Problems a worker takes from the queue at once. 1 on a CPU: the reasoner's beam "
             "search is per problem, and 8 gave 5.6 problems/s against 6.2 for 1 "
             "(benchmarks/serve.py, 20 clients, 2 workers); larger batches pay on a GPU.")] = 1,
    max_queue: Annotated[int, typer.Option(help="Problems waiting before new requests are "
                                                "refused with 503.")] = 256,
    math_only: Annotated[bool, typer.Option(
        "--math-only", help="Serve without trained specialists: MATH tracks only.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Serve the solver over HTTP: an OpenAI-compatible /v1/chat/completions (streaming too),
    /v1/models, /v1/solve for one problem or a batch, and a page at / to try problems. The
    specialists load once, in each worker process, before the server listens."""
    from mycelium.serve.api import ServeSettings, serve
    from mycelium.specialists.registry import find_checkpoints

    if workers < 1:
        raise MyceliumError(f"--workers {workers}: expected at least 1")
    if not 0 < port < 65536:
        raise MyceliumError(f"--port {port}: expected 1-65535")
    found = None if math_only else find_checkpoints(checkpoints)
    stderr.print(f"loading the specialists from {escape(str(found))} in {workers} worker "
                 f"process(es), then serving on http://{host}:{port}", highlight=False)
    serve(ServeSettings(found, model_name=model_name, workers=workers, max_batch=max_batch,
                        max_queue=max_queue, max_body_bytes=max_body_kb * 1024,
                        timeout_s=timeout), host=host, port=port, log_level=log_level)


@app.command("doctor")
def doctor_command(
    checkpoints: Annotated[Path | None, typer.Argument(
        help="A checkpoint folder, or a folder of them (tagger/, classifier/, extractor/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
) -> None:
    """Check the environment (torch, spaCy model, MiniLM, Prefect); given checkpoints, show what
    each holds and run one prediction with it."""
    from mycelium.specialists.doctor import (
        checkpoint_dirs,
        describe_checkpoint,
        environment_checks,
    )

    with stderr.status("checking the environment"):
        checks = environment_checks()
    described = []
    if checkpoints is not None:
        for path in checkpoint_dirs(checkpoints):
            with stderr.status(f"loading {escape(str(path))}"):
                described.append(describe_checkpoint(path))
    failed = [check.name for check in checks if not check.ok]
    if as_json:
        sys.stdout.write(json.dumps({
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            "checkpoints": described, "ok": not failed}, default=str) + "\n")
    else:
        table = Table(title="environment", show_header=False)
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for check in checks:
            table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]",
                          escape(check.detail))
        stdout.print(table)
        for entry in described:
            info = entry["info"]
            table = Table(title=escape(entry["path"]), show_header=False)
            table.add_column("field")
            table.add_column("value", overflow="fold")
            table.add_row("specialist", f"{info['specialist']} ({info['kind']})")
            table.add_row("base model", escape(str(info["base_model"])))
            table.add_row("labels", escape(", ".join(info["labels"])[:200]))
            table.add_row("label schema", str(info["label_schema_version"]))
            table.add_row("training data", info["training_data_hash"][:16])
            table.add_row("round", str(info["round"]))
            table.add_row("metrics", escape(", ".join(
                f"{key}={value:.4f}" for key, value in info["metrics"].items()
                if isinstance(value, float))))
            table.add_row("prediction", escape(entry["prediction"]))
            stdout.print(table)
    if failed:
        raise MyceliumError(f"environment check failed: {', '.join(failed)}")


@app.callback()
def _root() -> None:
    """Mycelium: distil a teacher's math reasoning into tiny specialists."""


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except MyceliumError as error:
        stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise SystemExit(error.exit_code) from None


if __name__ == "__main__":
    main()
