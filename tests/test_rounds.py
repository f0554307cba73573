"""Distillation rounds end to end on the bundled sample with specialists trained for one step:
the trace store against the plain label builder and the dataset's gold answers, the
self-improving round 2, fail-fast input checks, SIGKILL inside every stage then a rerun, two
Dask workers against one, and the `distill-round/local` deployment on a real Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, run_cli

from mycelium.data.answers import parse_number
from mycelium.data.errors import MyceliumError
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.rounds.config import load_round_config
from mycelium.rounds.markers import MARKER
from mycelium.rounds.round import prepare_round, run_round
from mycelium.rounds.store import merge_traces, trace_key
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.gsm8k import execute_labels
from mycelium.specialists.labels.store import read_labels
from mycelium.specialists.registry import find_checkpoints

REPO = Path(__file__).resolve().parents[1]
TINY = """\
name: tiny
train_file: {train}
dev_fraction: 0.2
students: {{epochs: 1, max_steps: 1, batch_size: 4, use_cpu: true, threads: 1}}
eval: {{attribution: true}}
world_size: {world_size}
"""

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(directory: Path, world_size: int = 1) -> Path:
    path = directory / "tiny.yaml"
    path.write_text(TINY.format(train=bundled_sample_path(), world_size=world_size))
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    env.pop("MYCELIUM_CRASH_AT", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """Rounds 1 and 2 of the tiny config, in this process (the plain local executor)."""
    directory = tmp_path_factory.mktemp("finished")
    config = load_round_config(tiny_config(directory), {"home": str(directory / "runs")})
    for number in (1, 2):
        run_round(prepare_round(config, number))
    return directory / "runs" / "tiny"


def store(run_dir: Path, number: int) -> list:
    return read_labels(run_dir / f"round-{number}" / "traces")


def markers(run_dir: Path) -> dict[str, str]:
    """unit folder (relative) -> its marker's finished_at. Checkpoint folders are links to
    their published version (data/io.py): followed, and the versions folder itself skipped."""
    found = {}
    for root, folders, files in os.walk(run_dir, followlinks=True):
        folders[:] = [name for name in folders if name != ".versions"]
        if MARKER in files:
            path = Path(root) / MARKER
            found[str(Path(root).relative_to(run_dir))] = \
                json.loads(path.read_text())["finished_at"]
    return dict(sorted(found.items()))


def test_round_one_store_is_what_the_label_builder_validates(finished_run):
    train = load_problems("gsm8k", finished_run / "split" / "train.jsonl").problems
    expected, _ = build_labels(train, dataset="gsm8k", source="reference")
    rows = store(finished_run, 1)
    assert [row.problem_id for row in rows] == [row.problem_id for row in expected]
    assert [trace_key(row) for row in rows] == [trace_key(row) for row in expected]
    assert {row.source for row in rows} == {"reference"} and {row.round for row in rows} == {1}
    dev = {item.problem.id for item in
           load_problems("gsm8k", finished_run / "split" / "dev.jsonl").problems}
    assert dev and not dev & {row.problem_id for row in rows}


def test_round_two_adds_student_traces_that_reach_the_gold_answer(finished_run):
    gold = {item.problem.id: parse_number(item.gold.answer)
            for item in load_problems("gsm8k", bundled_sample_path()).problems}
    first, second = store(finished_run, 1), store(finished_run, 2)
    keys = [trace_key(row) for row in second]
    assert len(keys) == len(set(keys)), "a trace is in the store twice"
    assert {trace_key(row) for row in first} <= set(keys), "a round-1 trace was lost"
    for row in second:  # the dataset's own answer, not anything the pipeline computed
        assert execute_labels(row) == gold[row.problem_id], row.problem_id
    students = [row for row in second if row.source == "student"]
    assert all(row.round == 2 for row in students)
    shards = (finished_run / "round-2" / "student_solve").iterdir()
    solutions = [json.loads(line) for shard in shards
                 for line in (shard / "solutions.jsonl").read_text().splitlines()]
    assert len(solutions) == len(load_problems("gsm8k", finished_run / "split" /
                                               "train.jsonl").problems)
    validated = {row["problem_id"] for row in solutions if row["validated"]}
    assert {row.problem_id for row in students} <= validated
    summary = json.loads((finished_run / "round-2" / "report" / "round.json").read_text())
    assert summary["traces"]["added"].get("student", 0) == len(students)
    assert summary["traces"]["traces"] == len(second)
    assert summary["students"]["problems"] == len(solutions)
    assert summary["students"]["correct"] == sum(row["correct"] for row in solutions)
    shard_rows = [line for shard in (finished_run / "round-2" / "student_solve").iterdir()
                  for line in (shard / "rows.jsonl").read_text().splitlines()]
    assert summary["students"]["traces"] == len(shard_rows) == sum(row["traces"]
                                                                   for row in solutions)
    assert set(summary["stages"]) >= {"split", "student_solve", "validate", "train_tagger",
                                      "train_classifier", "train_extractor", "eval"}


def test_round_report_and_checkpoints(finished_run):
    page = (finished_run / "round-2" / "report" / "report.html").read_text()
    assert "Round over round" in page and "Time per stage" in page
    results = json.loads((finished_run / "round-2" / "eval" / "results.json").read_text())
    dev = load_problems("gsm8k", finished_run / "split" / "dev.jsonl").problems
    assert results["n"] == len(dev)
    assert f"{results['correct']}/{results['n']}" in page
    table = page.split("Round over round")[1].split("Time per stage")[0]
    assert table.count("<tr>") == 3  # header, round 1, round 2
    assert find_checkpoints(finished_run.parent) == finished_run / "round-2" / "checkpoints"


def test_merge_keeps_old_traces_and_drops_duplicates_and_wrong_ones(finished_run):
    rows = store(finished_run, 1)
    order = {row.problem_id: index for index, row in enumerate(rows)}
    previous, new = rows[:3], rows[2:6]
    wrong = new[-1].__class__(**{**new[-1].__dict__, "answer": "123456789", "source": "student"})
    merged = merge_traces(previous, [*reversed(new[:-1]), wrong], order)
    assert [trace_key(row) for row in merged.rows] == [trace_key(row) for row in rows[:5]]
    assert merged.duplicates == {"reference": 1}
    assert merged.rejected == {"execution_mismatch": 1}
    assert merged.added == {"reference": 2}


def test_bad_config_and_missing_inputs_fail_before_anything_is_written(tmp_path):
    config = tiny_config(tmp_path)
    home = tmp_path / "runs"
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text() + "epoch: 3\n")
    with pytest.raises(MyceliumError, match="unknown key 'epoch'"):
        load_round_config(bad)
    bad.write_text(config.read_text().replace("max_steps: 1", "max_step: 1"))
    with pytest.raises(MyceliumError, match="unknown key 'students.max_step'"):
        load_round_config(bad)
    with pytest.raises(MyceliumError, match="train_file: .*missing.jsonl not found"):
        prepare_round(load_round_config(config, {"train_file": str(tmp_path / "missing.jsonl"),
                                                 "home": str(home)}))
    with pytest.raises(MyceliumError, match="round 2 needs round 1 finished"):
        prepare_round(load_round_config(config, {"home": str(home)}), 2)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(config.read_text() + "source: teacher\nteacher: {model: ./no-such-model}\n")
    with pytest.raises(MyceliumError, match="teacher directory not found"):
        prepare_round(load_round_config(teacher, {"home": str(home)}))
    assert not home.exists()
    result = run_cli("round", "--config", str(bad), "--home", str(home), env=child_env())
    assert result.returncode == 2 and "max_step" in result.stderr and not home.exists()


def test_another_config_cannot_reuse_a_run(finished_run, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(tiny_config(tmp_path).read_text().replace("dev_fraction: 0.2",
                                                               "dev_fraction: 0.3"))
    before = markers(finished_run)
    with pytest.raises(MyceliumError, match="started with another config"):
        prepare_round(load_round_config(other, {"home": str(finished_run.parent)}), 2)
    assert markers(finished_run) == before


def test_sigkill_inside_each_stage_then_rerun(finished_run, tmp_path):
    """Kill the round inside every stage in turn; each rerun redoes only the unfinished unit,
    and the stores end up exactly those of an uninterrupted run."""
    config = str(tiny_config(tmp_path, world_size=2))
    home = str(tmp_path / "runs")
    run_dir = tmp_path / "runs" / "tiny"
    # (rounds to run, crash point, the unit killed inside it, units that finish first)
    crashes = [
        ("1", "split", "split", set()),
        ("1", "labels:1", "round-1/labels/shard-00001-of-00002",
         {"split", "round-1/labels/shard-00000-of-00002"}),
        ("1", "validate", "round-1/traces", {"round-1/labels/shard-00001-of-00002"}),
        ("1", "train_tagger", "round-1/checkpoints/tagger", {"round-1/traces"}),
        ("1", "train_classifier", "round-1/checkpoints/classifier", {"round-1/checkpoints/tagger"}),
        ("1", "train_extractor", "round-1/checkpoints/extractor",
         {"round-1/checkpoints/classifier"}),
        ("1", "eval", "round-1/eval", {"round-1/checkpoints/extractor"}),
        ("1", "report", "round-1/report", {"round-1/eval"}),
        ("2", "student_solve:1", "round-2/student_solve/shard-00001-of-00002",
         {"round-1/report", "round-2/student_solve/shard-00000-of-00002"}),
        ("2", "validate", "round-2/traces", {"round-2/student_solve/shard-00001-of-00002"}),
    ]
    for rounds, crash, killed, finished in crashes:
        before = markers(run_dir) if run_dir.exists() else {}
        result = run_cli("round", "--config", config, "--home", home, "--executor", "local",
                         "--rounds", rounds, env=child_env(MYCELIUM_CRASH_AT=crash), timeout=600)
        assert result.returncode == -signal.SIGKILL, (crash, result.stderr[-2000:])
        after = markers(run_dir)
        for unit, finished_at in before.items():  # nothing finished was recomputed
            assert after[unit] == finished_at, (crash, unit)
        assert killed not in after, crash
        # the rerun finished the unit killed last time, then was killed inside this one
        assert set(after) - set(before) == finished, (crash, set(after) - set(before))
    result = run_cli("round", "--config", config, "--home", home, "--executor", "local",
                     "--rounds", "2", "--until", "validate", env=child_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "round-2/traces" in markers(run_dir)
    for number in (1, 2):
        assert [row.to_row() for row in store(run_dir, number)] == \
            [row.to_row() for row in store(finished_run, number)]


def test_two_dask_workers_give_the_same_stores_as_one(finished_run, tmp_path):
    """Round 1 labels and round 2 student solutions as 2 shards on 2 Dask worker processes
    (through the Prefect flow) against 1 shard in one process."""
    home = tmp_path / "runs"
    shutil.copytree(finished_run / "round-1" / "checkpoints",
                    home / "tiny" / "round-1" / "checkpoints")
    result = run_cli("round", "--config", str(tiny_config(tmp_path)), "--home", str(home),
                     "--rounds", "2", "--until", "validate", "--runner", "dask", "--world-size",
                     "2", env=child_env(PREFECT_HOME=str(tmp_path / "prefect")), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((home / "tiny" / "round-2" / "student_solve").iterdir())) == 2
    for number in (1, 2):
        assert [row.to_row() for row in store(home / "tiny", number)] == \
            [row.to_row() for row in store(finished_run, number)]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the process and the children it started
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_local_deployment_on_a_real_prefect_server(tmp_path):
    """prefect server (SQLite in tmp) → prefect deploy (prefect.yaml) → a process worker →
    `prefect deployment run 'distill-round/local' --watch` → COMPLETED and a round report."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = child_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api,
                    PREFECT_API_DATABASE_CONNECTION_URL=(
                        f"sqlite+aiosqlite:///{tmp_path / 'prefect' / 'prefect.db'}"))
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[subprocess.Popen] = []

    def start(name: str, *command: str) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                                   stdout=(logs / f"{name}.log").open("w"),
                                   stderr=subprocess.STDOUT)
        started.append(process)
        return process

    def prefect(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)

    try:
        start("server", sys.executable, "-m", "prefect", "server", "start", "--host",
              "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, (logs / "server.log").read_text()[-2000:]
                time.sleep(1)
        assert prefect("work-pool", "create", "local-process", "--type",
                       "process").returncode == 0
        deployed = prefect("deploy", "--name", "local", "--no-prompt")
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
        start("worker", sys.executable, "-m", "prefect", "worker", "start", "--pool",
              "local-process")
        home = tmp_path / "runs"
        run = prefect("deployment", "run", "distill-round/local", "-p", "round=1", "-p",
                      f"home={home}", "--watch")
        assert run.returncode == 0, run.stdout[-3000:] + (logs / "worker.log").read_text()[-3000:]
        assert "Completed" in run.stdout
        summary = json.loads((home / "local" / "round-1" / "report" / "round.json").read_text())
        assert summary["eval"]["n"] > 0 and summary["traces"]["traces"] > 0
        assert (home / "local" / "round-1" / "prefect-results").is_dir()
    finally:
        for process in reversed(started):  # the worker before the server
            _stop(process)
    assert all(process.poll() is not None for process in started)


def test_teacher_round_writes_traces_signals_and_counted_labels(tmp_path):
    """source: teacher on a tiny random Qwen2-shaped teacher: CoT and signals per shard, every
    problem counted by the labels stage; a store with no validated trace stops the round with a
    clear message instead of training on nothing."""
    from mycelium.teacher.models import make_tiny_teacher

    make_tiny_teacher(tmp_path / "teacher", train_steps=0)
    config = tmp_path / "teacher.yaml"
    config.write_text(tiny_config(tmp_path, world_size=2).read_text() + (
        "source: teacher\nteacher: {model: ./teacher, max_new_tokens: 24, batch_size: 4}\n"))
    plan = prepare_round(load_round_config(config, {"home": str(tmp_path / "runs")}),
                         until="labels")
    assert plan.stages == ("split", "teacher_cot", "signals", "labels")
    run_round(plan)
    train = load_problems("gsm8k", plan.stage_dir("split") / "train.jsonl").problems
    traced, counted = [], 0
    for shard in ("shard-00000-of-00002", "shard-00001-of-00002"):
        traced += [json.loads(line)["problem_id"] for line in
                   (plan.round_dir() / "teacher_cot" / shard / "traces.jsonl").read_text()
                   .splitlines()]
        signals = (plan.round_dir() / "signals" / shard / "signals.jsonl").read_text()
        assert len(signals.splitlines()) == len(
            (plan.round_dir() / "teacher_cot" / shard / "traces.jsonl").read_text().splitlines())
        marker = json.loads((plan.round_dir() / "labels" / shard / MARKER).read_text())
        assert marker["summary"]["source"] == "teacher"
        counted += marker["summary"]["validated"] + sum(marker["summary"]["dropped"].values())
    assert sorted(traced) == sorted(item.problem.id for item in train)
    assert counted == len(train)
    full = prepare_round(load_round_config(config, {"home": str(tmp_path / "runs")}))
    rows = sum(len((plan.round_dir() / "labels" / shard / "rows.jsonl").read_text().splitlines())
               for shard in ("shard-00000-of-00002", "shard-00001-of-00002"))
    if rows == 0:  # a random teacher reproduces no gold answer
        with pytest.raises(MyceliumError, match="no validated trace to train on"):
            run_round(full)


def test_a_calibrated_reference_teacher_round(tmp_path):
    """cot_source: reference with calibrate: the calibrate stage measures the layers on the
    train problems' worked solutions and writes calibration.json; teacher_cot is each worked
    solution (annotations removed); the signals stage reads with the calibrated layers; the
    labels stage counts every problem."""
    from mycelium.teacher.calibration import read_calibration
    from mycelium.teacher.models import make_tiny_teacher
    from mycelium.teacher.reference import reference_cot

    make_tiny_teacher(tmp_path / "teacher", train_steps=0)
    config = tmp_path / "teacher.yaml"
    config.write_text(tiny_config(tmp_path).read_text() + (
        "source: teacher\nteacher: {model: ./teacher, cot_source: reference, calibrate: true, "
        "calibration_problems: 6}\n"))
    plan = prepare_round(load_round_config(config, {"home": str(tmp_path / "runs")}),
                         until="labels")
    assert plan.stages == ("split", "calibrate", "teacher_cot", "signals", "labels")
    run_round(plan)
    layers, _, iaf_layers = read_calibration(plan.stage_dir("calibrate") / "calibration.json")
    assert layers and iaf_layers
    train = {item.problem.id: item for item in
             load_problems("gsm8k", plan.stage_dir("split") / "train.jsonl").problems}
    shard = "shard-00000-of-00001"
    traces = [json.loads(line) for line in
              (plan.round_dir() / "teacher_cot" / shard / "traces.jsonl").read_text().splitlines()]
    assert {trace["problem_id"] for trace in traces} == set(train)
    assert all(trace["cot_text"] == reference_cot(train[trace["problem_id"]])
               for trace in traces)
    signals = [json.loads(line) for line in
               (plan.round_dir() / "signals" / shard / "signals.jsonl").read_text().splitlines()]
    assert len(signals) == len(train) and all(row["status"] in ("ok", "no_peaks")
                                                for row in signals)
    marker = json.loads((plan.round_dir() / "labels" / shard / MARKER).read_text())
    summary = marker["summary"]
    assert summary["validated"] + sum(summary["dropped"].values()) == len(train)


def test_teacher_mops_up_the_problems_the_students_failed(finished_run, tmp_path):
    """Round 2 with a teacher configured: the teacher writes CoT for exactly the train problems
    whose student program did not validate, and labels are built for those only."""
    from mycelium.teacher.models import make_tiny_teacher

    make_tiny_teacher(tmp_path / "teacher", train_steps=0)
    path = tmp_path / "mopup.yaml"
    path.write_text(tiny_config(tmp_path).read_text() + (
        "teacher: {model: ./teacher, max_new_tokens: 16, batch_size: 8}\n"))
    config = load_round_config(path, {"home": str(tmp_path / "runs")})
    # round 1 is the finished run's (reference labels: the teacher has no part in it)
    run_dir = tmp_path / "runs" / "tiny"
    shutil.copytree(finished_run / "split", run_dir / "split")
    shutil.copytree(finished_run / "round-1", run_dir / "round-1")
    (run_dir / "run.json").write_text(json.dumps({"result_hash": config.result_hash()}))
    plan = prepare_round(config, 2, until="labels")
    assert plan.stages == ("split", "student_solve", "teacher_cot", "signals", "labels")
    run_round(plan)
    solutions = [json.loads(line) for line in (plan.stage_dir("student_solve") /
                 "shard-00000-of-00001" / "solutions.jsonl").read_text().splitlines()]
    failed = {row["problem_id"] for row in solutions if not row["validated"]}
    traces = (plan.stage_dir("teacher_cot") / "shard-00000-of-00001" / "traces.jsonl")
    traced = {json.loads(line)["problem_id"] for line in traces.read_text().splitlines()}
    assert traced == failed
    marker = json.loads((plan.stage_dir("labels") / "shard-00000-of-00001" / MARKER).read_text())
    assert marker["summary"]["problems"] == len(failed)


def test_a_reasoner_round_fits_its_verifier_after_training(tmp_path):
    config = tiny_config(tmp_path)
    reasoner = tmp_path / "reasoner.yaml"
    reasoner.write_text(config.read_text().replace(
        "students: {", "students: {family: reasoner, verifier: true, verifier_problems: 50, "
                       "number_variants: 1, frozen_layers: 3, "))
    plan = prepare_round(load_round_config(reasoner, {"home": str(tmp_path / "runs")}))
    assert plan.stages[-4:] == ("train_reasoner", "fit_verifier", "eval", "report")
    assert plan.stage_dir("fit_verifier") == plan.checkpoints / "verifier"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(config.read_text().replace("students: {", "students: {verifier: true, "))
    with pytest.raises(MyceliumError, match="needs family: reasoner"):
        load_round_config(pipeline)


def test_train_limit_takes_the_first_problems_of_the_train_side(tmp_path):
    """The fast loop's `train_limit`: the same split, only the first N train problems labelled
    (every one of them accounted for: validated or dropped with a reason)."""
    config = tmp_path / "limited.yaml"
    config.write_text(tiny_config(tmp_path).read_text() + "train_limit: 5\n")
    plan = prepare_round(load_round_config(config, {"home": str(tmp_path / "runs")}),
                         until="labels")
    run_round(plan)
    train = load_problems("gsm8k", plan.stage_dir("split") / "train.jsonl").problems
    assert len(train) > 5  # the split itself is not cut
    marker = json.loads((plan.round_dir() / "labels" / "shard-00000-of-00001" / MARKER)
                        .read_text())
    assert marker["summary"]["validated"] + sum(marker["summary"]["dropped"].values()) == 5


def test_a_warm_started_round_two_continues_round_ones_reasoner(tmp_path):
    """warm_start: round 2's reasoner trains on from round 1's checkpoint (what starting from a
    checkpoint means is tested in test_reasoner.py), and says so in its own checkpoint; round 1
    starts from the base. The pipeline students cannot warm-start."""
    config = tiny_config(tmp_path)
    warm = tmp_path / "warm.yaml"
    warm.write_text(config.read_text().replace(
        "students: {", "students: {family: reasoner, warm_start: true, "
                       "select_by: problem_exact, "))
    loaded = load_round_config(warm, {"home": str(tmp_path / "runs")})
    run_round(prepare_round(loaded, 1))
    plan = prepare_round(loaded, 2, until="train_reasoner")
    run_round(plan)
    first = plan.round_dir(1) / "checkpoints" / "reasoner"
    infos = [json.loads((path / "mycelium.json").read_text())
             for path in (first, plan.checkpoints / "reasoner")]
    assert infos[0]["train_config"]["init_from"] is None
    assert infos[1]["train_config"]["init_from"] == str(first)
    assert [info["round"] for info in infos] == [1, 2]
    assert infos[1]["base_model"] == infos[0]["base_model"]
    assert [info["train_config"]["select_by"] for info in infos] == ["problem_exact"] * 2
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(config.read_text().replace("students: {", "students: {warm_start: true, "))
    with pytest.raises(MyceliumError, match="warm_start.*needs family: reasoner"):
        load_round_config(pipeline)
    pipeline.write_text(config.read_text().replace("students: {",
                                                   "students: {select_by: problem_exact, "))
    with pytest.raises(MyceliumError, match="select_by: problem_exact is not one of eval_loss"):
        load_round_config(pipeline)


def test_dask_workers_start_without_dask_s_malloc_trim_threshold(monkeypatch):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker unless told not to; under
    it torch training ran 1.4-1.7x slower (README). The round's dask runner turns it off: a
    worker of a cluster started after it must not see the variable."""
    import dask
    from distributed import Client, LocalCluster

    from mycelium.flows.distill_round import task_runner

    key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    before = dask.config.get(key)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    try:
        task_runner("dask", 1)
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    finally:
        dask.config.set({key: before})
    assert list(seen.values()) == [None]


def test_student_solve_harvests_each_right_program_of_the_beam_once():
    """A beam whose chosen answer is wrong still gives its program that reaches the gold answer
    (72, GSM8K's own answer for Natalia's clips); the same program with its steps and
    arguments swapped, and a detour that reaches 72 early then wanders back, are left out."""
    from fractions import Fraction

    from mycelium.data.records import SolveResult
    from mycelium.rounds.stages import programs_reaching_gold
    from mycelium.solver.executor import execute
    from mycelium.solver.program import Literal, Op, Program, Quantity, Step, StepRef

    text = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
            "clips in May. How many clips did Natalia sell altogether in April and May?")
    forty_eight = Quantity(Fraction(48), text.index("48"), text.index("48") + 2, "48")
    half = Quantity(Fraction(2), text.index("half"), text.index("half") + 4, "half")
    wrong = Program((Step(Op.DIV, (forty_eight, half)),))
    right = Program((Step(Op.DIV, (forty_eight, half)), Step(Op.ADD, (forty_eight, StepRef(0)))))
    swapped = Program((Step(Op.DIV, (forty_eight, half)), Step(Op.ADD, (StepRef(0),
                                                                        forty_eight))))
    detour = Program((*right.steps, Step(Op.MUL, (StepRef(1), Literal(Fraction(2)))),
                      Step(Op.DIV, (StepRef(2), Literal(Fraction(2))))))
    beam = [{"answer": str(execute(program)), "program": program.render(),
             "program_json": program.to_json()} for program in (wrong, right, swapped, detour)]
    result = SolveResult(problem_id="natalia", dataset="gsm8k", status="ok", answer="24",
                         program=wrong.to_json(), beam=beam)

    def reaches_gold(answer):
        return answer == "72"

    assert programs_reaching_gold(result, "chosen", reaches_gold) == []
    harvested = programs_reaching_gold(result, "beam", reaches_gold)
    assert harvested == [right] and execute(harvested[0]) == 72
    chosen_right = result.model_copy(update={"answer": "72", "program": swapped.to_json()})
    assert programs_reaching_gold(chosen_right, "chosen", reaches_gold) == [swapped]
    assert programs_reaching_gold(chosen_right, "beam", reaches_gold) == [swapped]


def test_harvesting_the_beam_is_another_config_and_the_default_keeps_old_run_folders(tmp_path):
    """A run folder refuses a config whose results would differ, so `solve_traces: beam` must
    change the result hash; `chosen` (the behaviour before the setting existed) hashes as a
    config written before it: the settings without the key, as the earlier code dumped them."""
    import hashlib

    config = load_round_config(tiny_config(tmp_path))
    beam = config.model_copy(update={"students": config.students.model_copy(
        update={"solve_traces": "beam"})})
    assert beam.result_hash() != config.result_hash()
    before = config.model_dump(exclude={"world_size", "home", "name"})
    del before["students"]["solve_traces"]
    text = json.dumps(before, sort_keys=True, default=str)
    assert config.result_hash() == hashlib.sha256(text.encode()).hexdigest()[:12]
