"""End to end on a tiny teacher built in the test: generation with exact offsets, capture,
Signals records, HTML pages (screenshotted in headless Chromium), the CLI, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import run_cli

from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.data.records import Problem, Signals
from mycelium.signals.boundaries import is_word_boundary
from mycelium.signals.extract import extract_signals
from mycelium.teacher import pipeline
from mycelium.teacher.generate import GenerationConfig, generate_traces
from mycelium.teacher.models import load_teacher
from mycelium.teacher.pipeline import SignalsRunConfig, run_signals


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return [item.problem for item in load_problems("gsm8k", bundled_sample_path()).problems[:3]]


def config(tokens: int = 48) -> SignalsRunConfig:
    return SignalsRunConfig(generation=GenerationConfig(max_new_tokens=tokens, batch_size=2))


def test_trace_offsets_are_exact(teacher, problems):
    traces = generate_traces(teacher, problems, GenerationConfig(max_new_tokens=32))
    for problem, trace in zip(problems, traces, strict=True):
        # CoT spans tile the decoded text and each is that token's own decoding.
        assert "".join(trace.cot_text[a:b] for a, b in trace.cot_spans) == trace.cot_text
        for token, (start, end) in zip(trace.cot_ids, trace.cot_spans, strict=True):
            assert teacher.tokenizer.decode([token]) == trace.cot_text[start:end]
        # Prompt tokens that lie on the problem text spell it out, in order.
        pieces = [problem.text[a:b] for a, b in filter(None, trace.prompt_problem_spans)]
        assert "".join(pieces) == problem.text


def test_run_writes_records_and_pages_with_word_aligned_spans(teacher, problems, tmp_path):
    run = run_signals(teacher, problems, tmp_path, config())
    lines = (tmp_path / "signals.jsonl").read_text().splitlines()
    assert len(lines) == len(problems) == len(run.signals)
    assert len((tmp_path / "traces.jsonl").read_text().splitlines()) == len(problems)
    traces = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    for problem, trace, signals in zip(problems, traces, run.signals, strict=True):
        assert (tmp_path / "pages" / f"{problem.id}.html").is_file()
        assert signals.status in {"ok", "no_peaks"}
        assert len(signals.jsd) == len(trace["cot_ids"]) - 1
        covered = [token for s in signals.segments for token in range(s.token_start, s.token_end)]
        assert covered == list(range(len(trace["cot_ids"])))  # segments tile the CoT tokens
        for segment in signals.segments:
            assert is_word_boundary(trace["cot_text"], segment.char_start)
            assert is_word_boundary(trace["cot_text"], segment.char_end)
            for start, end in segment.iaf_spans + segment.clause_spans:
                assert is_word_boundary(problem.text, start)
                assert is_word_boundary(problem.text, end)


def test_empty_cot_is_an_explicit_result(teacher, problems):
    trace = generate_traces(teacher, problems[:1], GenerationConfig(max_new_tokens=4))[0]
    empty = trace.model_copy(update={"cot_ids": [], "cot_spans": [], "cot_text": ""})
    signals = extract_signals(problems[0], empty, None)
    assert signals.status == "empty_cot" and signals.segments == []


def test_flat_attention_gives_no_peaks_and_one_segment(teacher, problems):
    trace = generate_traces(teacher, problems[:1], GenerationConfig(max_new_tokens=24))[0]
    n_cot, n_all = len(trace.cot_ids), len(trace.prompt_ids) + len(trace.cot_ids)
    rows = np.zeros((n_cot, n_all))
    rows[:, 0] = 1.0  # every CoT token looks only at the first token: JSD is zero throughout
    signals = extract_signals(problems[0], trace, rows)
    assert signals.status == "no_peaks" and len(signals.segments) == 1


def test_one_failing_problem_does_not_lose_the_batch(teacher, problems, tmp_path, monkeypatch):
    real = pipeline.extract_signals

    def flaky(problem, trace, rows, config=None, iaf_rows=None) -> Signals:
        if problem.id == problems[1].id:
            raise ValueError("planted failure")
        return real(problem, trace, rows, config, iaf_rows)

    monkeypatch.setattr(pipeline, "extract_signals", flaky)
    run = run_signals(teacher, problems, tmp_path, config(16))
    assert [s.status for s in run.signals][1] == "failed"
    assert run.failures == {problems[1].id: "ValueError: planted failure"}
    assert sum(run.counts.values()) == len(problems)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a bare environment: nothing inherited from this process."""
    return run_cli(*args, timeout=600, env={"NO_COLOR": "1", "COLUMNS": "200",
                                            "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_cli_signals_on_one_problem_and_bad_input(tiny_teacher_dir, tmp_path):
    done = _cli("signals", "--teacher", str(tiny_teacher_dir), "--problem",
                "Tom has 3 apples and buys 4 more. How many apples does he have?",
                "--max-new-tokens", "24", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out" / "pages").glob("*.html"))) == 1
    missing = _cli("signals", "--teacher", str(tmp_path / "nope"), "--problem", "1+1?",
                   "--out", str(tmp_path / "o2"))
    assert missing.returncode == 2 and "teacher directory not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    empty = _cli("signals", "--teacher", str(tiny_teacher_dir), "--problem", "  ",
                 "--out", str(tmp_path / "o3"))
    assert empty.returncode == 2 and "--problem is empty" in empty.stderr


def test_loader_refuses_a_tokenizer_without_offsets(tiny_teacher_dir, tmp_path):
    from mycelium.data.errors import MyceliumError

    slow = tmp_path / "slow"
    shutil.copytree(tiny_teacher_dir, slow)
    (slow / "tokenizer.json").unlink()  # no fast tokenizer left to load
    with pytest.raises(MyceliumError):
        load_teacher(str(slow))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(.ci/run installs it: apt-get install chromium)")
def test_page_renders_in_headless_chromium(teacher, problems, tmp_path):
    from PIL import Image

    run_signals(teacher, problems[:1], tmp_path, config())
    page = tmp_path / "pages" / f"{problems[0].id}.html"
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1200",
                    f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    # Not blank: plenty of non-white pixels (text, coloured segments, the curve) in many colours.
    non_white = (pixels < 240).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3) // 16, axis=0))
    assert non_white > 0.02 and colours > 20, (non_white, colours)
