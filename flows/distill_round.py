"""The `distill-round` Prefect flow: one distillation round, one task run per stage (and per
shard of the stages that process problems).

    python flows/distill_round.py --config configs/local.yaml --round 1
    mycelium round --config configs/local.yaml --rounds 2          # the same flow, from the CLI
    prefect deployment run 'distill-round/local' -p round=2       # deployments: prefect.yaml

The flow only wires library functions (mycelium.rounds): `prepare_round` checks everything a round
needs before any expensive stage (bad config, missing files, a teacher that cannot load, a
missing previous round: one clear error, nothing written); then the stage groups run in order,
the units of a group side by side on the task runner (threads, or Dask worker processes with
`runner="dask"`). Every unit resumes from its completion marker, so a rerun of a killed round
recomputes only what was unfinished. Task results are persisted under the round's folder
(`round-N/prefect-results`); a unit that fails on a transient error (I/O, CUDA out of memory) is
retried, a user error (MyceliumError) is not. The round's table (traces added per source, dev
accuracy, attribution, minutes per stage) is published as a markdown artifact with the HTML
report's path.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any, Literal

# A local run starts Prefect's temporary API server; on a small, busy machine it needs longer
# than Prefect's default 20 s to come up, and an offline machine cannot send telemetry. Set
# before Prefect is imported (its settings are read then); a user's own values win.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.filesystems import LocalFileSystem  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from mycelium.data.errors import MyceliumError
from mycelium.rounds.config import load_round_config
from mycelium.rounds.lock import IfLocked, run_lock
from mycelium.rounds.report import round_summaries, round_table_markdown, stage_table_markdown
from mycelium.rounds.round import (
    RoundPlan,
    Unit,
    prepare_round,
    run_unit_of,
    stage_groups,
)

Runner = Literal["threads", "dask"]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass on a second try: never a user error (bad input, bad config)."""
    try:
        state.result()
    except MyceliumError:
        return False
    except Exception:
        return True
    return False


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_transient, persist_result=True)
def run_stage(plan: RoundPlan, unit: Unit) -> dict[str, Any]:
    """One stage (or shard): skipped when its completion marker exists."""
    return run_unit_of(plan, unit, get_run_logger().info)


@task(persist_result=True)
def publish_round(plan: RoundPlan) -> dict[str, Any]:
    """The round table and stage times as a Prefect markdown artifact."""
    summaries = round_summaries(plan, plan.round)
    current = summaries[-1]
    markdown = (f"# {plan.config.name}, round {plan.round}\n\n"
                f"Report: `{plan.report_path}`\n\n"
                f"Evaluation report: `{current['eval_report']}`\n\n"
                f"## Round over round\n\n{round_table_markdown(summaries)}\n"
                f"## Minutes per stage\n\n{stage_table_markdown(current)}")
    key = re.sub(r"[^a-z0-9-]+", "-", f"{plan.config.name}-round-{plan.round}".lower())
    create_markdown_artifact(key=key, markdown=markdown,
                             description=f"distillation round {plan.round}")
    return current


def task_runner(runner: Runner, workers: int) -> Any:
    """Threads in the flow's process, or a local Dask cluster of `workers` processes (one
    thread each: torch already uses the cores a process is given)."""
    if runner == "dask":
        import dask
        from prefect_dask import DaskTaskRunner

        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand
        # freed memory back to the kernel almost at once; torch training frees and re-allocates
        # large buffers every step, and under it the reasoner trained 1.4x slower on two
        # processes (1.7x on one: benchmarks/train.py --reasoner-setups, README). Unset, the
        # workers keep glibc's default (or the user's own setting, which they inherit).
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if runner != "threads":
        raise MyceliumError(f"runner {runner!r}: expected threads or dask")
    return ThreadPoolTaskRunner(max_workers=max(workers, 3))


def _result_storage(plan: RoundPlan) -> LocalFileSystem:
    """A LocalFileSystem block rooted in the round's folder (Prefect wants result storage saved
    server-side, so each round's block is saved under the round's name)."""
    block = LocalFileSystem(basepath=str((plan.round_dir() / "prefect-results").resolve()))
    name = re.sub(r"[^a-z0-9-]+", "-", f"mycelium-{plan.config.name}-{plan.config.result_hash()}"
                  f"-round-{plan.round}".lower())
    block.save(name, overwrite=True)
    return block


def _share_api_with_workers() -> None:
    """Dask worker processes report their task runs to the API in PREFECT_API_URL; a local run
    on a temporary API server has none set, and each worker would start a server of its own.
    Point them at this flow's server (workers inherit the environment)."""
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            os.environ["PREFECT_API_URL"] = str(client.api_url)


def _plan(config: str, round: int, overrides: dict[str, Any], world_size: int | None,
          until: str | None) -> RoundPlan:
    return prepare_round(load_round_config(config, overrides), round, world_size=world_size,
                         until=until)


@flow(name="distill-round-stages")
def round_stages(config: str, round: int, overrides: dict[str, Any], world_size: int | None,
                 until: str | None) -> dict[str, Any]:
    """The stage groups of a prepared round, in order; units of a group run concurrently."""
    plan = _plan(config, round, overrides, world_size, until)
    storage = _result_storage(plan)
    markers: dict[str, Any] = {}
    for group in stage_groups(plan):
        futures = [run_stage.with_options(name=unit.stage, task_run_name=unit.label,
                                          result_storage=storage).submit(plan, unit)
                   for unit in group]
        for unit, future in zip(group, futures, strict=True):
            markers[unit.label] = future.result()
    if "report" in plan.stages:
        publish_round.with_options(result_storage=storage)(plan)
    return {"round": plan.round, "run_dir": str(plan.run_dir),
            "report": str(plan.report_path) if "report" in plan.stages else None,
            "units": {label: {"seconds": marker["seconds"], "skipped": marker["skipped"]}
                      for label, marker in markers.items()}}


@flow(name="distill-round")
def distill_round(config: str = "configs/local.yaml", round: int = 1,
                  train_file: str | None = None, dev_file: str | None = None,
                  teacher: str | None = None, base: str | None = None,
                  name: str | None = None, home: str | None = None,
                  world_size: int | None = None, runner: Runner = "threads",
                  until: str | None = None, if_locked: IfLocked = "refuse") -> dict[str, Any]:
    """One distillation round. `teacher` and `base` override the config's teacher model and
    student base; `world_size` the shards per problem stage; `runner` "dask" runs the shards in
    `world_size` worker processes; `until` stops after that stage. The run folder is locked
    for the round (rounds/lock.py): another run on it makes this one refuse, or wait with
    `if_locked="wait"`."""
    overrides = {"train_file": train_file, "dev_file": dev_file, "teacher": teacher,
                 "base": base, "name": name, "home": home}
    plan = _plan(config, round, overrides, world_size, until)  # fails fast, writes nothing
    if runner == "dask":
        _share_api_with_workers()
    with run_lock(plan.run_dir, if_locked=if_locked, log=get_run_logger().info):
        return round_stages.with_options(task_runner=task_runner(runner, plan.world_size))(
            config, round, overrides, world_size, until)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one distillation round (Prefect flow).")
    parser.add_argument("--config", default="configs/local.yaml")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--world-size", type=int)
    parser.add_argument("--runner", choices=("threads", "dask"), default="threads")
    parser.add_argument("--until")
    parser.add_argument("--if-locked", choices=("refuse", "wait"), default="refuse")
    args = parser.parse_args()
    result = distill_round(config=args.config, round=args.round, world_size=args.world_size,
                           runner=args.runner, until=args.until, if_locked=args.if_locked)
    print(f"report: {result['report']}")


if __name__ == "__main__":
    main()
