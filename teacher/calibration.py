"""Measure a real teacher's attention against the data, and pick its boundary layers.

    problems = measure_problems(teacher, gold_problems)        # reference traces, every layer
    choice = calibrate(problems)                               # mycelium.signals.quality
    write_calibration(choice, teacher, "runs/x/calibration.json")
    choice = calibrate_teacher(teacher, gold_problems, "runs/x/calibration.json")  # all three
    layers, height_std, iaf_layers = read_calibration("runs/x/calibration.json")

`mycelium calibrate-layers`, the round's `calibrate` stage and `benchmarks/signal_quality.py`
all go through here. A teacher measured here ships its calibration in teacher/calibrated/
(`shipped_calibration`): it is the default for that teacher, by hub id or GGUF file name,
instead of averaging every layer. Only GSM8K problems whose gold program is reproduced are
measured: their solution lines and operands are the ground truth
(`signals.quality.ground_truth`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from mycelium.data.errors import MyceliumError
from mycelium.data.gold import GoldProblem
from mycelium.data.io import write_text_atomic
from mycelium.signals.quality import Calibration, ProblemAttention, calibrate, ground_truth
from mycelium.teacher.capture import CaptureConfig
from mycelium.teacher.forced import capture_problem_layers, fits_context
from mycelium.teacher.generate import GenerationConfig
from mycelium.teacher.models import Teacher
from mycelium.teacher.reference import reference_traces

CALIBRATION_VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "calibrated"
# A llama.cpp quantisation or precision suffix of a GGUF file name ("....Q4_1", "-q8_0", ".F16")
_QUANT_SUFFIX = re.compile(r"[.-](?:i?q\d\w*|f16|f32|bf16)$", re.IGNORECASE)


def teacher_key(name: str) -> str:
    """The model a teacher name stands for, lower case, without its folder or hub owner and
    without a GGUF quantisation suffix: "HuggingFaceTB/SmolLM2-135M-Instruct" and
    ".../SmolLM2-135M-Instruct.Q4_1.gguf" are both "smollm2-135m-instruct"."""
    stem = re.sub(r"\.gguf$", "", Path(str(name).rstrip("/")).name, flags=re.IGNORECASE)
    return _QUANT_SUFFIX.sub("", stem).lower()


def shipped_calibration(name: str) -> Path | None:
    """The calibration measured for this teacher and shipped with Mycelium, if any."""
    path = SHIPPED / f"{teacher_key(name)}.json"
    return path if path.is_file() else None


def measure_problems(teacher: Teacher, items: Sequence[GoldProblem],
                     layers: Sequence[int] | None = None,
                     generation: GenerationConfig | None = None,
                     progress: Callable[[int, int], None] | None = None
                     ) -> list[ProblemAttention]:
    """Reference traces of `items` with every (or the given) layer's attention kept apart;
    problems without ground truth or over the teacher's context are skipped.
    `progress(done, total)` is called after each problem."""
    traces = reference_traces(teacher, items, generation)
    config = CaptureConfig(layers=None if layers is None else list(layers))
    measured: list[ProblemAttention] = []
    for index, (item, trace) in enumerate(zip(items, traces, strict=True)):
        truth = ground_truth(item, trace)
        if truth is not None and fits_context(teacher, trace):
            kept, rows, first = capture_problem_layers(teacher, trace, config)
            measured.append(ProblemAttention(item, trace, truth, kept, rows, first))
        if progress is not None:
            progress(index + 1, len(items))
    return measured


def calibrate_teacher(teacher: Teacher, items: Sequence[GoldProblem], out: Path,
                      progress: Callable[[int, int], None] | None = None) -> Calibration:
    """Measure `items` (`measure_problems`), choose the layers (`signals.quality.calibrate`) and
    write the choice to `out`; a clear error when no problem has ground truth to measure."""
    measured = measure_problems(teacher, items, progress=progress)
    if not measured:
        raise MyceliumError(f"none of the first {len(items)} problems has a reproduced gold "
                            "program to calibrate the teacher's layers against")
    choice = calibrate(measured)
    write_calibration(choice, teacher, out)
    return choice


def write_calibration(choice: Calibration, teacher: Teacher, path: Path) -> None:
    write_text_atomic(Path(path), json.dumps(
        {"version": CALIBRATION_VERSION, "teacher": teacher.name, **choice.to_dict()},
        indent=2) + "\n")


def read_calibration(path: Path) -> tuple[list[int], float, list[int]]:
    """(boundary layers, height_std, IAF layers) from a calibration file; a clear error for
    anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CALIBRATION_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {CALIBRATION_VERSION}")
        layers = [int(layer) for layer in data["layers"]]
        height = float(data["height_std"])
        iaf_layers = [int(layer) for layer in data["iaf_layers"]]
        if not layers or not iaf_layers:
            raise ValueError("no layers")
    except FileNotFoundError:
        raise MyceliumError(f"calibration file {path} not found: run `mycelium calibrate-layers "
                            f"--out {path}`") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise MyceliumError(f"{path}: not a layer calibration ({error}); rerun `mycelium "
                            "calibrate-layers`") from None
    return layers, height, iaf_layers
