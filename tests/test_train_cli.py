"""`mycelium train` and `mycelium doctor` end to end, and their answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from sample_rows import GSM8K_ROWS

from mycelium.data.loaders import row_to_gold_problem
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.store import LabelManifest, write_labels


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items = [row_to_gold_problem("gsm8k", row) for row in GSM8K_ROWS]
    rows, manifest = build_labels(items, dataset="gsm8k", source="reference")
    path = tmp_path_factory.mktemp("labels")
    write_labels(path, rows, manifest)
    return path


def test_train_then_doctor_describes_and_runs_the_checkpoint(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "ckpt" / "classifier"
    done = run_cli("train", "classifier", "--data", str(store), "--out", str(out),
                   "--max-steps", "2", "--batch-size", "2", "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["train_examples"] > 0 and "accuracy" in summary["metrics"]
    info = json.loads((out / "mycelium.json").read_text())
    assert info["specialist"] == "classifier" and info["label_schema_version"] == 1
    assert sorted(info["labels"]) == ["ADD", "MUL", "SUB"]  # the sample rows' operations

    doctor = run_cli("doctor", str(tmp_path / "ckpt"), "--json", timeout=600)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["ok"] and {check["name"] for check in report["checks"]} >= {
        "torch", "spaCy English model", "MiniLM base (CPU default)", "Prefect"}
    (entry,) = report["checkpoints"]
    assert entry["info"]["training_data_hash"] == info["training_data_hash"]
    assert "question clause ->" in entry["prediction"]


@pytest.mark.parametrize("problem", ["missing base", "empty store", "not a store",
                                     "unknown specialist", "selection the tagger lacks"])
def test_train_bad_input_is_one_clear_line_and_exit_2(problem: str, store: Path,
                                                      tmp_path: Path) -> None:
    args = ["train", "tagger", "--data", str(store), "--out", str(tmp_path / "out")]
    expected = {"missing base": "does-not-exist", "empty store": "empty",
                "not a store": "not a label store", "unknown specialist": "unknown specialist",
                "selection the tagger lacks": "--select-by problem_exact"}
    if problem == "missing base":
        args += ["--base", str(tmp_path / "does-not-exist")]
    elif problem == "empty store":
        write_labels(tmp_path / "empty", [], LabelManifest("gsm8k", "reference", 1, "x"))
        args[3] = str(tmp_path / "empty")
    elif problem == "not a store":
        args[3] = str(tmp_path)
    elif problem == "selection the tagger lacks":
        args += ["--select-by", "problem_exact"]
    else:
        args[1] = "summariser"
    done = run_cli(*args, timeout=600)
    assert done.returncode == 2
    assert expected[problem] in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "mycelium.json").exists()


def test_doctor_refuses_a_checkpoint_of_another_schema(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "mycelium.json").write_text(json.dumps(
        {"specialist": "tagger", "checkpoint_version": 1, "label_schema_version": 0}))
    done = run_cli("doctor", str(tmp_path / "old"), timeout=600)
    assert done.returncode == 2
    assert "label schema version 0" in done.stderr and "Traceback" not in done.stderr
