"""One distillation round as plain stage functions over a run directory.

    plan = prepare_round(load_round_config("configs/local.yaml"), round=1)   # fails fast
    for group in stage_groups(plan):          # units in a group may run concurrently
        for unit in group:
            run_unit_of(plan, unit)            # skipped when its completion marker exists

Run directory (`<home>/<name>/`, home = config `home`, else $MYCELIUM_HOME, else ./runs):

    run.json                       the config and its result hash (a rerun must match it)
    split/{train,dev}.jsonl        train problems and the dev split (carved once per run)
    round-N/
      student_solve/shard-*/       round ≥ 2: the previous round's students solve every train
                                   problem; correct programs → rows.jsonl (source=student)
      calibrate/                   the teacher's boundary/IAF layers, measured (calibration.json)
      teacher_cot/shard-*/         teacher chain-of-thought (traces.jsonl): round 1 with
                                   source=teacher; round ≥ 2 the students' failures (mop-up)
      signals/shard-*/             teacher-forced capture → signals.jsonl, traces.jsonl, pages/
      labels/shard-*/              execution-validated labels → rows.jsonl (reference/teacher)
      traces/                      the round's trace store: the previous round's store plus this
                                   round's new rows, each re-executed against the gold answer,
                                   deduplicated (labels.parquet + labels.json)
      checkpoints/{tagger,classifier,extractor}/
      eval/{samples.jsonl,results.json,report.html}     the dev split, gold never at inference
      report/{round.json,report.html}                   stage times, round-over-round table

Every unit writes atomically and finishes with a completion marker (rounds/markers.py): a killed
round rerun with the same config redoes only the unit that was running. The stage functions are
in rounds/stages.py, the trace-store merge in rounds/store.py.

Stages in order: split, student_solve (round ≥ 2), calibrate (teacher.calibrate), teacher_cot +
signals (when a teacher runs),
labels (round 1, or the mop-up), validate, train_tagger / train_classifier / train_extractor
(independent: they may run side by side), eval, report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.io import remove_published
from mycelium.data.loaders import is_local_source
from mycelium.rounds import stages as stage_functions
from mycelium.rounds.config import RoundConfig, trained_family
from mycelium.rounds.markers import Shard, is_done, run_unit, shards
from mycelium.specialists.registry import FAMILIES, SPECIALISTS

STAGES = ("split", "student_solve", "calibrate", "teacher_cot", "signals", "labels", "validate",
          *(spec.stage for spec in SPECIALISTS.values()), "fit_verifier", "eval", "report")
SHARDED = frozenset({"student_solve", "teacher_cot", "signals", "labels"})
Log = Callable[[str], None]


@dataclass(frozen=True)
class Unit:
    """One schedulable piece of a round: a stage, or one shard of a sharded stage."""

    stage: str
    shard: Shard | None = None

    @property
    def label(self) -> str:
        return self.stage if self.shard is None else f"{self.stage}[{self.shard.rank}]"


@dataclass(frozen=True)
class RoundPlan:
    config: RoundConfig
    round: int
    run_dir: Path
    stages: tuple[str, ...]
    world_size: int = 1
    until: str | None = None

    def round_dir(self, number: int | None = None) -> Path:
        return self.run_dir / f"round-{self.round if number is None else number}"

    def stage_dir(self, stage: str, shard: Shard | None = None) -> Path:
        if stage == "split":
            return self.run_dir / "split"
        if stage.startswith("train_"):
            return self.round_dir() / "checkpoints" / stage.removeprefix("train_")
        if stage == "fit_verifier":
            return self.round_dir() / "checkpoints" / "verifier"
        if stage == "validate":
            return self.round_dir() / "traces"
        base = self.round_dir() / stage
        return base if shard is None else base / shard.name

    def unit_dir(self, unit: Unit) -> Path:
        return self.stage_dir(unit.stage, unit.shard)

    @property
    def checkpoints(self) -> Path:
        return self.round_dir() / "checkpoints"

    @property
    def report_path(self) -> Path:
        return self.round_dir() / "report" / "report.html"


def run_home(config: RoundConfig) -> Path:
    """The config's home, else where `mycelium solve` looks ($MYCELIUM_HOME, else ./runs)."""
    if config.home:
        return Path(config.home)
    from mycelium.data.home import run_home as default_home

    return default_home()


def prepare_round(config: RoundConfig, round: int = 1, *, world_size: int | None = None,
                  until: str | None = None) -> RoundPlan:
    """Check everything a round needs before any expensive stage; writes nothing.

    Refuses: a round number below 1; a missing dataset file; a run folder made with another
    config; round N ≥ 2 whose round N-1 is not complete; a teacher that cannot load (when one
    runs this round); a student base that cannot load."""
    if round < 1:
        raise MyceliumError(f"round {round}: rounds are numbered from 1")
    if until is not None and until not in STAGES:
        raise MyceliumError(f"--until {until!r}: expected one of {', '.join(STAGES)}")
    for key in ("train_file", "dev_file"):
        value = getattr(config, key)
        if value is not None and is_local_source(value) and not Path(value).is_file():
            raise MyceliumError(f"config {key}: {value} not found (expected a "
                                f"{config.dataset.upper()} JSONL/Parquet file, or a hub id "
                                "such as openai/gsm8k)")
    run_dir = run_home(config) / config.name
    recorded = run_dir / "run.json"
    if recorded.is_file():
        found = json.loads(recorded.read_text(encoding="utf-8"))
        if found.get("result_hash") != config.result_hash():
            raise MyceliumError(
                f"{run_dir} was started with another config (result hash "
                f"{found.get('result_hash')}, this one {config.result_hash()}); nothing was "
                "changed: give this config another `name`, or rerun with the run's own config "
                f"({recorded})")
    if round > 1:
        previous = run_dir / f"round-{round - 1}"
        family = FAMILIES[trained_family(config)]
        missing = [name for name in ("traces", *(f"checkpoints/{s}" for s in family))
                   if not is_done(previous / name)]
        if missing:
            raise MyceliumError(f"round {round} needs round {round - 1} finished in {previous} "
                                f"(missing: {', '.join(missing)}); run round {round - 1} first")
    teacher_runs = (config.source == "teacher" and round == 1) or (
        round > 1 and config.teacher is not None)
    if config.source == "teacher" and config.teacher is None:
        raise MyceliumError("config source: teacher needs a `teacher:` section (model, backend, "
                            "device)")
    if teacher_runs:
        from mycelium.teacher.models import check_teacher

        check_teacher(config.teacher.model, config.teacher.backend, config.teacher.gguf_file)
    _check_base(config.students.base)
    stages = ["split"]
    if round > 1:
        stages.append("student_solve")
    if teacher_runs:
        stages += [*(["calibrate"] if config.teacher.calibrate else []), "teacher_cot",
                   "signals"]
    if round == 1 or teacher_runs:
        stages.append("labels")
    stages += ["validate", *(SPECIALISTS[name].stage for name in FAMILIES[trained_family(config)])]
    if config.students.verifier:
        stages.append("fit_verifier")
    stages += ["eval", "report"]
    if until is not None:
        if until not in stages:
            raise MyceliumError(f"--until {until}: round {round} has no such stage (its stages: "
                                f"{', '.join(stages)})")
        stages = stages[:stages.index(until) + 1]
    return RoundPlan(config=config, round=round, run_dir=run_dir, stages=tuple(stages),
                     world_size=world_size or config.world_size, until=until)


def _check_base(base: str | None) -> None:
    if base is None:
        from mycelium.specialists.models.bases import default_base

        default_base()
        return
    if is_local_source(base) and not Path(base).is_dir():
        raise MyceliumError(f"students.base {base}: not a model folder (expected a folder with "
                            "config.json, or a hub id such as Qwen/Qwen2.5-0.5B)")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(base)
    except (OSError, ValueError) as error:
        raise MyceliumError(f"students.base {base!r} cannot load: "
                            f"{str(error).strip().splitlines()[0]}") from None


def stage_groups(plan: RoundPlan) -> list[list[Unit]]:
    """The plan's units in order; units of one group are independent of each other."""
    groups: list[list[Unit]] = []
    trainers: list[Unit] = []
    for position, stage in enumerate(plan.stages):
        if stage in SHARDED:
            groups.append([Unit(stage, shard) for shard in shards(plan.world_size)])
        elif stage.startswith("train_"):
            trainers.append(Unit(stage))
            following = plan.stages[position + 1:position + 2]
            if not following or not following[0].startswith("train_"):
                groups.append(trainers)
        else:
            groups.append([Unit(stage)])
    return [group for group in groups if group]


def run_unit_of(plan: RoundPlan, unit: Unit, log: Log | None = None) -> dict[str, Any]:
    """Run one unit (skipped when already done); returns its completion marker."""
    log = log or (lambda message: None)
    work = {
        "split": lambda out: stage_functions.split_stage(plan, out, log),
        "student_solve": lambda out: stage_functions.student_solve_stage(plan, unit.shard, out,
                                                                         log),
        "calibrate": lambda out: stage_functions.calibrate_stage(plan, out, log),
        "teacher_cot": lambda out: stage_functions.teacher_cot_stage(plan, unit.shard, out, log),
        "signals": lambda out: stage_functions.signals_stage(plan, unit.shard, out, log),
        "labels": lambda out: stage_functions.labels_stage(plan, unit.shard, out, log),
        "validate": lambda out: stage_functions.validate_stage(plan, out, log),
        "fit_verifier": lambda out: stage_functions.verifier_stage(plan, out, log),
        "eval": lambda out: stage_functions.eval_stage(plan, out, log),
        "report": lambda out: stage_functions.report_stage(plan, out, log),
    }.get(unit.stage)
    if work is None and unit.stage.startswith("train_"):
        def work(out: Path) -> dict[str, Any]:
            return stage_functions.train_stage(plan, unit.stage.removeprefix("train_"), out, log)
    if work is None:
        raise MyceliumError(f"unknown stage {unit.stage!r}; expected one of {STAGES}")
    directory = plan.unit_dir(unit)
    if unit.stage.startswith("train_") and not is_done(directory):
        remove_published(directory)  # a killed training's checkpoint has no marker: start clean
    marker = run_unit(directory, unit.stage, work, log, unit.label)
    if not marker["skipped"]:
        log(f"{unit.label}: done in {marker['seconds']:.1f} s")
    return marker


def run_round(plan: RoundPlan, log: Log | None = None) -> list[dict[str, Any]]:
    """The plain local executor: every unit in order, in this process."""
    return [run_unit_of(plan, unit, log) for group in stage_groups(plan) for unit in group]
