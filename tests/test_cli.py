"""The real `mycelium` command line, run as a subprocess: `python -m mycelium.flows.cli ...`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import plain_env, run_cli, shared_file
from sample_rows import GSM8K_ROWS

from mycelium.data.loaders import bundled_sample_path, load_problems

KEYS = {"total", "annotated", "reproduced", "rate", "failures", "linkage"}

ROWS = GSM8K_ROWS[:3]


def mycelium(*args: str, cwd: Path | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, env=plain_env(TERM="dumb", HF_DATASETS_OFFLINE="1"),
                   timeout=timeout)


def only_json(stdout: str) -> dict:
    """stdout must be exactly one JSON object (one line)."""
    assert stdout.count("\n") == 1 and stdout.endswith("\n"), repr(stdout)
    summary = json.loads(stdout)
    assert isinstance(summary, dict)
    return summary


def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_gold_check_json_on_bundled_sample() -> None:
    done = mycelium("gold-check", "--json")
    assert done.returncode == 0, done.stderr
    summary = only_json(done.stdout)
    assert KEYS <= summary.keys()
    expected = len(load_problems("gsm8k", bundled_sample_path()).problems)
    assert summary["total"] == expected
    assert 0 < summary["annotated"] <= summary["total"]
    assert 0 <= summary["reproduced"] <= summary["annotated"]
    assert summary["rate"] == pytest.approx(summary["reproduced"] / summary["annotated"], abs=1e-6)
    assert isinstance(summary["failures"], dict)
    assert sum(summary["failures"].values()) == summary["annotated"] - summary["reproduced"]
    assert set(summary["linkage"]) == {"problem", "step", "constant", "unlinked"}
    if summary["reproduced"]:
        assert sum(summary["linkage"].values()) == pytest.approx(1.0, abs=1e-5)
    assert summary["bad_rows"] == 0
    assert "Traceback" not in done.stderr


def test_gold_check_human_output_shows_the_numbers() -> None:
    summary = only_json(mycelium("gold-check", "--json").stdout)
    done = mycelium("gold-check")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    def row(label: str) -> str:
        found = [line for line in lines if f" {label} " in line]
        assert found, f"no {label!r} row in:\n{done.stdout}"
        return found[0]

    assert str(summary["total"]) in row("problems")
    assert str(summary["annotated"]) in row("annotated")
    assert str(summary["reproduced"]) in row("reproduced")
    assert f"{summary['rate']:.4f}" in row("rate")
    assert f"{summary['linkage']['problem']:.2%}" in row("operands linked to problem")
    assert "{" not in done.stdout  # not the JSON form


def test_malformed_line_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "broken.jsonl",
                      [json.dumps(ROWS[0]), json.dumps(ROWS[1]), '{"question": "oops",',
                       json.dumps(ROWS[2])])
    done = mycelium("gold-check", str(path), "--json")
    assert done.returncode == 2
    assert f"{path}:3" in done.stderr, done.stderr
    assert "--skip-bad" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_user_text_with_markup_brackets_is_printed_verbatim(tmp_path: Path) -> None:
    # "[/]" and "[red]" in data or paths are text, not Rich markup to interpret or crash on.
    folder = tmp_path / "x[/]"
    folder.mkdir(parents=True)  # "x[" then "]": the slash nests a folder
    path = write_rows(folder / "s.jsonl", [json.dumps({"question": "How many?",
                                                       "answer": "It is 7.\n#### [red]7"})])
    done = mycelium("gold-check", str(path), "--json")
    assert done.returncode == 2
    assert "'[red]7'" in done.stderr and f"{path}:1" in done.stderr
    assert "Traceback" not in done.stderr
    done = mycelium("gold-check", str(path), "--skip-bad")
    assert done.returncode == 0 and "x[/]" in done.stdout and "[red]7" in done.stderr


def test_skip_bad_exits_0_and_counts_bad_rows(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "broken.jsonl",
                      [json.dumps(ROWS[0]), json.dumps(ROWS[1]), '{"question": "oops",',
                       json.dumps(ROWS[2]), json.dumps({"question": "no answer"})])
    done = mycelium("gold-check", str(path), "--json", "--skip-bad")
    assert done.returncode == 0, done.stderr
    summary = only_json(done.stdout)
    assert summary["bad_rows"] == 2
    assert summary["total"] == 3

    human = mycelium("gold-check", str(path), "--skip-bad")
    assert human.returncode == 0, human.stderr
    assert f"{path}:3" in human.stderr and f"{path}:5" in human.stderr


def test_missing_file_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.jsonl"
    done = mycelium("gold-check", str(missing), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(missing) in lines[0]
    assert "not found" in lines[0]
    assert "Traceback" not in done.stderr


def test_limit_option(tmp_path: Path) -> None:
    done = mycelium("gold-check", "--json", "--limit", "5")
    assert done.returncode == 0, done.stderr
    assert only_json(done.stdout)["total"] == 5


def test_programs_file_has_one_line_per_problem(tmp_path: Path) -> None:
    done = mycelium("gold-check", "--json", "--programs", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = only_json(done.stdout)
    out = tmp_path / "out.jsonl"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    sample = load_problems("gsm8k", bundled_sample_path()).problems
    expected_ids = [item.problem.id for item in sample]
    assert len(records) == summary["total"] == len(expected_ids)
    assert [record["problem_id"] for record in records] == expected_ids
    for record in records:
        assert {"problem_id", "reproduced", "program"} <= record.keys()
        assert isinstance(record["reproduced"], bool)
        if record["reproduced"]:
            assert record["program"] is not None
        else:
            assert record["program"] is None and record["failure"]
    assert sum(record["reproduced"] for record in records) == summary["reproduced"]
    # no temporary file is left next to the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


@pytest.mark.shared
def test_goal_on_shared_gsm8k_train() -> None:
    done = mycelium("gold-check", str(shared_file("gsm8k/train.jsonl")), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    summary = only_json(done.stdout)
    assert summary["total"] == 7473
    assert summary["bad_rows"] == 0
    assert summary["rate"] >= 0.99, summary
    assert summary["linkage"]["unlinked"] <= 0.05, summary
