"""Inference end to end on specialists trained for a few steps in the test: the cached argument
scorer against the model's own forward, answers that re-execute, bad input statuses, the solve
and eval commands, the report in headless Chromium, and gold-independence of predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import plain_env, run_cli

from mycelium.data.gold import Gold, GoldProblem
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.data.records import Problem
from mycelium.evaluation.evaluate import evaluate
from mycelium.inference.word_problems import solve_word_problems
from mycelium.solver.executor import execute
from mycelium.solver.program import Program
from mycelium.solver.search import SearchConfig
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.store import write_labels
from mycelium.specialists.models.bases import default_base
from mycelium.specialists.models.extractor import ArgumentQuery
from mycelium.specialists.registry import Specialists, find_checkpoints, specialists_for
from mycelium.specialists.training import TRAINERS, TrainConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sample():
    return load_problems("gsm8k", bundled_sample_path()).problems


@pytest.fixture(scope="module")
def labels(sample):
    rows, manifest = build_labels(sample, dataset="gsm8k", source="reference")
    return rows, manifest


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, labels) -> Path:
    """A round folder as rounds write it: runs/<name>/round-1/checkpoints/<specialist>."""
    home = tmp_path_factory.mktemp("runs")
    directory = home / "local" / "round-1" / "checkpoints"
    config = TrainConfig(max_steps=3, batch_size=8, warmup_ratio=0.0, learning_rate=3e-4,
                         head_learning_rate=3e-3, progress=False, use_cpu=True)
    for name in specialists_for("gsm8k"):
        TRAINERS[name](labels[0], default_base(), directory / name, config, None)
    write_labels(home / "labels", *labels)
    return directory


@pytest.fixture(scope="module")
def specialists(checkpoints) -> Specialists:
    return Specialists.load(checkpoints, use_cpu=True)


def test_newest_complete_round_is_found(checkpoints, tmp_path, monkeypatch):
    home = checkpoints.parents[2]
    assert find_checkpoints(home) == checkpoints
    assert find_checkpoints(checkpoints) == checkpoints
    monkeypatch.setenv("MYCELIUM_HOME", str(home))
    assert find_checkpoints(None) == checkpoints
    # an unfinished round (no mycelium.json) is not taken
    (home / "local" / "round-2" / "checkpoints" / "tagger").mkdir(parents=True)
    assert find_checkpoints(home) == checkpoints


def test_cached_scorer_equals_the_models_forward(specialists, labels):
    extractor = specialists.extractor
    queries = [ArgumentQuery.from_labels(row) for row in labels[0][:6]]
    reference = extractor.score_arguments(queries)
    scorers = extractor.step_scorers(queries)
    for query, steps, scorer in zip(queries, reference, scorers, strict=True):
        for k, step in enumerate(steps):
            candidates, (ranked,) = scorer(k, query.ops[:k], list(range(k)), None,
                                           [(k, query.ops[k])])
            assert candidates == step.candidates
            rows = np.full((len(ranked), len(candidates)), -np.inf)
            for position, (order, values) in enumerate(ranked):
                rows[position, order] = values
            np.testing.assert_allclose(rows, np.array(step.log_probs), atol=1e-4)


def test_answers_come_with_programs_that_execute_to_them(specialists, sample):
    results = solve_word_problems([item.problem for item in sample], specialists)
    assert len(results) == len(sample)
    answered = [result for result in results if result.status == "ok"]
    assert answered, [result.reason for result in results]
    for result in answered:
        program = Program.from_json(result.program)
        assert execute(program) == Fraction(result.answer)
        assert result.track == "specialists" and result.steps
        assert all(step["line"].startswith(f"s{i}") for i, step in enumerate(result.steps, 1))
        assert result.beam[0]["answer"] and len(result.beam) <= SearchConfig().kept


def test_bad_problems_get_a_status_not_a_crash(specialists):
    texts = ["", "   ", "What is the colour of the sky?", "x" * 100_000,
             "Tom has 3 apples and buys 4 more. How many apples does he have?"]
    results = solve_word_problems([Problem.create("gsm8k", text) for text in texts],
                                  specialists)
    assert [(r.status, r.reason) for r in results[:4]] == [
        ("invalid", "empty_text"), ("invalid", "empty_text"), ("no_answer", "no_numbers"),
        ("invalid", "text_too_long")]
    assert results[4].status in ("ok", "no_answer")


def test_predictions_do_not_depend_on_the_gold_answer(specialists, sample):
    """Evaluate twice, the second time with every gold answer replaced: the predictions and the
    programs must be identical, only the scoring changes."""
    items = sample[:6]
    altered = [GoldProblem(problem=item.problem, gold=Gold(
        problem_id=item.gold.problem_id, answer="123456789", solution=item.gold.solution))
        for item in items]
    first, _ = evaluate("gsm8k", items, specialists, labels={})
    second, summary = evaluate("gsm8k", altered, specialists, labels={})
    assert [(r.prediction, r.program, r.beam) for r in first] == \
        [(r.prediction, r.program, r.beam) for r in second]
    assert summary["correct"] == 0


def mycelium(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env=plain_env(OMP_NUM_THREADS="1", **env), timeout=timeout)


def test_solve_command_text_and_json(checkpoints):
    text = "Tom has 3 apples and buys 4 more. How many apples does he have?"
    done = mycelium("solve", text, "--checkpoints", str(checkpoints))
    assert done.returncode == 0, done.stderr
    assert "answer:" in done.stdout and "s1 = " in done.stdout and "from:" in done.stdout
    done = mycelium("solve", text, "--checkpoints", str(checkpoints), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] in ("ok", "no_answer") and result["track"] == "specialists"


def test_solve_without_specialists_names_the_training_command(tmp_path):
    done = mycelium("solve", "Tom has 3 apples and buys 4 more. How many?",
                    MYCELIUM_HOME=str(tmp_path))
    assert done.returncode == 2
    assert "no trained specialists" in done.stderr and "mycelium train" in done.stderr
    assert "Traceback" not in done.stderr


def test_solve_file_keeps_every_line_and_flags_invalid_input(checkpoints, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"question": "Ann has 10 pens and gives 2 away. How many are left?"}),
             json.dumps({"question": ""}),
             "{not json",
             json.dumps({"question": "y" * 100_000}),
             json.dumps({"title": "no text field"}),
             json.dumps({"problem": "What is $\\frac{1}{2} + \\frac{1}{3}$?"})]
    source.write_bytes(("\n".join(lines[:3]) + "\n").encode() + b"\xff\xfe bad bytes\n"
                       + ("\n".join(lines[3:]) + "\n").encode())
    out = tmp_path / "out.jsonl"
    done = mycelium("solve", "--input", str(source), "--output", str(out),
                    "--checkpoints", str(checkpoints))
    assert done.returncode == 1, done.stderr  # some input was invalid
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [(row["status"], row["reason"]) for row in rows[1:6]] == [
        ("invalid", "empty_text"), ("invalid", "not_json"), ("invalid", "not_utf8"),
        ("invalid", "text_too_long"), ("invalid", "no_problem_text")]
    assert rows[0]["status"] in ("ok", "no_answer")
    # the MATH line went to the direct track: 1/2 + 1/3 = 5/6, computed by hand
    assert rows[6]["track"] == "direct" and rows[6]["answer"] == "\\frac{5}{6}"


@pytest.fixture(scope="module")
def eval_run(checkpoints, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    done = mycelium("eval", "--dataset", "gsm8k", "--file", str(bundled_sample_path()),
                    "--checkpoints", str(checkpoints), "--out", str(out), "--limit", "8",
                    "--json")
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def test_eval_writes_samples_results_and_attribution(eval_run, sample):
    out, summary = eval_run
    for key in ("n", "correct", "accuracy", "beam_hit", "attribution", "stage_accuracy",
                "by_track", "op_confusion", "accuracy_by_steps"):
        assert key in summary, key
    assert summary["n"] == 8 and json.loads((out / "results.json").read_text()) == summary
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 8
    gold = {item.problem.id: item.gold.answer for item in sample}
    for record in records:
        assert record["gold"] == gold[record["problem_id"]]  # the dataset's own answer
        assert record["correct"] == (record["prediction"] is not None and Fraction(
            record["prediction"]) == Fraction(record["gold"].replace(",", "")))
        assert record["correct"] == (record["attribution"] == "")
        assert record["beam_hit"] >= record["correct"]
    failures = sum(not record["correct"] for record in records)
    assert sum(summary["attribution"].values()) == failures
    # the full oracle replays the validated labels: always right
    assert summary["stage_accuracy"]["oracle_extractor"] == 1.0


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(.ci/run installs it: apt-get install chromium)")
def test_eval_without_attribution_gives_the_same_answers(eval_run, checkpoints, tmp_path):
    out, summary = eval_run
    done = mycelium("eval", "--dataset", "gsm8k", "--file", str(bundled_sample_path()),
                    "--checkpoints", str(checkpoints), "--out", str(tmp_path), "--limit", "8",
                    "--no-attribution", "--json")
    assert done.returncode == 0, done.stderr
    plain = json.loads(done.stdout)
    assert plain["correct"] == summary["correct"] and plain["beam_hit"] == summary["beam_hit"]
    failures = plain["n"] - plain["correct"]
    assert plain["attribution"] == ({"unlabelled": failures} if failures else {})
    assert plain["labelled"] == 0


def test_report_renders_in_headless_chromium(eval_run, tmp_path):
    from PIL import Image

    out, _ = eval_run
    page = (out / "report.html").read_text()
    assert "<script" not in page and "http" not in page.split("<svg", 1)[0]
    assert page.count("<svg") >= 3  # stage accuracy, confusion matrix, accuracy by steps
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
                    f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    non_white = (pixels < 240).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3) // 16, axis=0))
    assert non_white > 0.03 and colours > 20, (non_white, colours)


def test_search_runs_on_a_causal_extractor(specialists, labels, tmp_path):
    """The GPU extractor (a causal LM) scores hypotheses through the same search; here a tiny
    random Qwen2 stands in for Qwen2.5-0.5B."""
    from mycelium.teacher.models import make_tiny_teacher

    qwen = make_tiny_teacher(tmp_path / "qwen", train_steps=0, hidden_size=32)
    config = TrainConfig(max_steps=1, batch_size=8, warmup_ratio=0.0, progress=False,
                         use_cpu=True)
    causal = TRAINERS["extractor"](labels[0][:8], str(qwen), tmp_path / "c", config).specialist
    mixed = Specialists(specialists.tagger, specialists.classifier, causal, tmp_path)
    problems = [Problem.create("gsm8k", "Tom has 3 apples and buys 4 more. How many apples "
                                        "does he have?")]
    (result,) = solve_word_problems(problems, mixed, SearchConfig(beam_width=2, kept=2))
    assert result.status in ("ok", "no_answer")
    if result.status == "ok":
        assert execute(Program.from_json(result.program)) == Fraction(result.answer)
