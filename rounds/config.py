"""The run configuration of distillation rounds: a YAML file checked against a strict schema.

    config = load_round_config("configs/local.yaml")
    config = load_round_config("configs/local.yaml", overrides={"train_file": "train.jsonl"})

Every key is known (an unknown or misspelt key is an error that names it and lists the expected
ones); paths written in the file are relative to the file's own folder, so a deployment that
runs from another working directory reads the same files; paths given as overrides (CLI options,
deployment parameters) are relative to the working directory, as any command-line path is.

`result_hash()` covers the settings that shape a round's outputs; execution settings (how many
shards, which task runner, where the run home is) are left out, so the same run can resume on
another machine or with more workers and still be recognised as the same run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mycelium.data.errors import MyceliumError
from mycelium.data.loaders import is_local_source
from mycelium.specialists.train_config import TrainConfig, selection_metrics

# Settings added after run folders existed, by section: RoundConfig.result_hash leaves each out
# while it holds its default. A new setting whose default keeps the old behaviour goes here.
_ADDED_LATER: dict[str, tuple[str, ...]] = {"students": ("solve_traces",)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeacherSettings(_Strict):
    """The teacher LLM that writes chain-of-thought (source: teacher, and round ≥ 2 mop-up)."""

    model: str  # a local folder or a hub id (Qwen/Qwen2.5-Math-7B-Instruct)
    backend: Literal["transformers", "vllm"] = "transformers"
    device: str = "cpu"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_new_tokens: int = Field(1024, gt=0)  # GSM8K solutions run ~150-400 tokens
    batch_size: int = Field(8, gt=0)  # generation batch
    capture_batch_size: int = Field(4, gt=0)  # teacher-forced passes with attention kept
    # boundary layers averaged; None (and iaf_layers None): the calibration shipped for this
    # teacher (teacher/calibrated/), else every layer
    layers: list[int] | None = None
    tensor_parallel_size: int = Field(1, gt=0)  # vLLM: GPUs one teacher is split over
    # a llama.cpp GGUF file inside the `model` folder (SmolLM2-135M-Instruct.Q4_1.gguf)
    gguf_file: str | None = None
    # generate: the teacher's own CoT; reference: the worked solution teacher-forced in its
    # place (a weak teacher's attention over a correct solution is still a real signal)
    cot_source: Literal["generate", "reference"] = "generate"
    iaf_layers: list[int] | None = None  # layers read for IAF spans; None: the boundary layers
    # pick the boundary layers, peak threshold and IAF layers by measurement on the first
    # `calibration_problems` train problems (stage calibrate); replaces layers / iaf_layers
    calibrate: bool = False
    calibration_problems: int = Field(100, gt=0)


class StudentSettings(_Strict):
    """The students: which family solves, its base model, and how long it trains."""

    base: str | None = None  # None: the bundled all-MiniLM-L6-v2 (CPU default)
    # which students solve (specialists/registry.py FAMILIES): the tagger, classifier and
    # extractor with the candidate search, or the state-aware reasoner
    family: Literal["pipeline", "reasoner"] = "pipeline"
    # defaults: TrainConfig's (specialists/train_config.py); the configs state their epochs
    epochs: int = Field(TrainConfig.epochs, gt=0)
    max_steps: int | None = Field(None, gt=0)  # optimizer steps instead of epochs
    batch_size: int = Field(TrainConfig.batch_size, gt=0)
    learning_rate: float = Field(TrainConfig.learning_rate, gt=0)
    head_learning_rate: float = Field(TrainConfig.head_learning_rate, gt=0)
    # number variants per training problem (specialists/labels/augment.py)
    number_variants: int = Field(TrainConfig.number_variants, ge=0)
    # the reasoner: encoder layers kept as pretrained (specialists/train_config.py)
    frozen_layers: int = Field(TrainConfig.frozen_layers, ge=0)
    step_reading: bool = TrainConfig.step_reading  # reasoner: the step context reads the state
    # the reasoner: the pool's literal vocabulary, its N most frequent values (None: all)
    max_literals: int | None = Field(TrainConfig.max_literals, ge=0)
    # the reasoner: bf16 autocast for the encoder on the CPU (None: where the CPU has bf16)
    cpu_bf16: bool | None = TrainConfig.cpu_bf16
    # data-parallel training processes on the CPU (one torch thread each; training.py)
    processes: int = Field(TrainConfig.processes, gt=0)
    # the reasoner: fit a verifier (specialists/models/verifier.py) on its beams over up to
    # this many of the training problems its training held out (stage fit_verifier)
    verifier: bool = False
    verifier_problems: int = Field(300, gt=0)
    # the reasoner, round >= 2: training starts from the previous round's reasoner (its
    # weights, and the embeddings of the literals and constants it knew) instead of the
    # pretrained base, so each round's epochs add to the last round's
    warm_start: bool = False
    # the evaluation metric that picks the kept epoch (TrainConfig.select_by)
    select_by: str = TrainConfig.select_by
    # round >= 2, stage student_solve: which of the students' programs for a train problem
    # become traces: "chosen" (the answer they give, when it equals gold) or "beam" (every
    # distinct finished program of the beam that executes to the gold answer, chosen or not)
    solve_traces: Literal["chosen", "beam"] = "chosen"

    @model_validator(mode="after")
    def _verifier_ranks_the_reasoner(self) -> StudentSettings:
        allowed = selection_metrics(self.family)
        if self.select_by not in allowed:
            raise ValueError(f"select_by: {self.select_by} is not one of {', '.join(allowed)} "
                             f"(family {self.family})")
        if self.verifier and self.family != "reasoner":
            raise ValueError("verifier: true ranks the reasoner's programs; it needs family: "
                             "reasoner")
        if self.warm_start and self.family != "reasoner":
            raise ValueError("warm_start: true continues the reasoner's training; it needs "
                             "family: reasoner")
        return self
    use_cpu: bool = False  # train on the CPU even where CUDA is present
    # torch threads per training task: three specialists train side by side, so on a small
    # CPU one thread each beats several threads fighting over the cores
    threads: int | None = Field(None, gt=0)


class EvalSettings(_Strict):
    attribution: bool = True  # oracle passes over reference labels: which stage failed
    limit: int | None = Field(None, gt=0)  # only the first N dev problems


class RoundConfig(_Strict):
    name: str = Field("local", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # the run's folder
    # math: the MATH students (specialists/registry.py family "math") train on MATH labels and
    # order the structure parser's candidates; students.family names the GSM8K family
    dataset: Literal["gsm8k", "math"] = "gsm8k"
    train_file: str | None = None  # JSONL/Parquet path or hub id; None: the bundled sample
    dev_file: str | None = None  # None: a dev split carved from train_file by problem id
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    # only the first N train problems (after the split, in file order): the fast experiment loop
    train_limit: int | None = Field(None, gt=0)
    source: Literal["reference", "teacher"] = "reference"  # round 1's labels
    teacher: TeacherSettings | None = None
    students: StudentSettings = StudentSettings()
    search: dict[str, float | int | bool] = {}  # SearchConfig overrides (beam_width, ...)
    eval: EvalSettings = EvalSettings()
    # execution settings (not part of result_hash)
    world_size: int = Field(1, gt=0)  # shards per problem-processing stage
    home: str | None = None  # run home; None: $MYCELIUM_HOME, else ./runs

    @model_validator(mode="after")
    def _math_trains_its_own_family(self) -> RoundConfig:
        # the verifier and warm starts belong to the reasoner, which MATH rounds do not train
        students = self.students
        if self.dataset == "math" and (students.verifier or students.warm_start):
            raise ValueError("dataset: math trains the MATH students (tagger, classifier, "
                             "extractor); students.verifier and students.warm_start are for "
                             "the GSM8K reasoner: set them false")
        if self.dataset == "math" and self.train_file is None:
            raise ValueError("dataset: math needs a train_file (a MATH JSONL/Parquet file such "
                             "as ../shared/data/math/train.jsonl); the bundled sample is GSM8K")
        # teacher labels are built for GSM8K only (labels/teacher.py)
        if self.dataset == "math" and (self.source == "teacher" or self.teacher is not None):
            raise ValueError("dataset: math labels come from MATH's worked solutions: set "
                             "source: reference and leave out the teacher section")
        return self

    @field_validator("search")
    @classmethod
    def _known_search_keys(cls, value: dict) -> dict:
        from mycelium.solver.search import SearchConfig

        known = {field.name for field in fields(SearchConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown search setting(s) {unknown}; expected some of "
                             f"{sorted(known)}")
        return value

    def result_hash(self) -> str:
        settings = self.model_dump(exclude={"world_size", "home", "name"})
        # a setting added after runs were made is left out at its default (the behaviour of
        # those runs), so their folders resume instead of refusing a "changed" config
        for section, names in _ADDED_LATER.items():
            model = getattr(self, section)
            for name in names:
                if getattr(model, name) == type(model).model_fields[name].default:
                    del settings[section][name]
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def trained_family(config: RoundConfig) -> str:
    """The family of specialists a round trains: the MATH students for dataset math, else the
    configured word-problem family."""
    return "math" if config.dataset == "math" else config.students.family


def load_round_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RoundConfig:
    """Read and check a config file; `overrides` (non-None values only) replace its keys."""
    path = Path(path)
    if not path.is_file():
        raise MyceliumError(f"config {path} not found: expected a YAML file such as "
                            "configs/local.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise MyceliumError(f"config {path}: not valid YAML ({error})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MyceliumError(f"config {path}: expected a mapping of settings at the top level, "
                            f"got {type(data).__name__}")
    base = path.resolve().parent
    for key in ("train_file", "dev_file", "home"):
        data[key] = _relative_to(base, data.get(key))
    if isinstance(data.get("teacher"), dict):
        data["teacher"] = {**data["teacher"], "model": _relative_to(
            base, data["teacher"].get("model"), must_look_local=True)}
    if isinstance(data.get("students"), dict) and data["students"].get("base"):
        data["students"] = {**data["students"], "base": _relative_to(
            base, data["students"]["base"], must_look_local=True)}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "teacher":
            data["teacher"] = {**(data.get("teacher") or {}), "model": value}
        elif key == "base":
            data["students"] = {**(data.get("students") or {}), "base": value}
        else:
            data[key] = value
    try:
        return RoundConfig.model_validate(data)
    except ValidationError as error:
        raise MyceliumError(f"config {path}: {_describe(error)}") from None


def _relative_to(base: Path, value: Any, must_look_local: bool = False) -> Any:
    """A relative local path written in the config file, made absolute against its folder.
    Hub ids ("openai/gsm8k", "Qwen/Qwen2.5-0.5B") are left as written."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    looks_local = value.startswith((".", "~")) or (base / value).exists()
    if must_look_local and not looks_local:
        return value
    if looks_local or is_local_source(value):
        return str((base / Path(value).expanduser()).resolve())
    return value


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}")
        else:
            problems.append(f"{where}: {item['msg']}")
    expected = ", ".join(RoundConfig.model_fields)
    return "; ".join(problems) + f" (top-level keys: {expected})"
