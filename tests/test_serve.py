"""`mycelium serve` end to end on a reasoner trained for a few steps in the test: the official
`openai` client (plain and streaming) against the running server, answers equal to the library's
own solve and to exact re-execution of the returned program, every kind of bad input answered
with a JSON 4xx while the server keeps serving, concurrent callers batched, the page driven in
headless Chromium, and the worker pool's time limit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from chromium import CHROMIUM, Browser
from conftest import free_port, plain_env

from mycelium.data.answers import parse_number
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.data.records import Problem, SolveResult
from mycelium.inference.solve import solve_problems
from mycelium.serve.workers import SolverPool
from mycelium.solver.executor import execute
from mycelium.solver.program import Program
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.models.bases import default_base
from mycelium.specialists.registry import Specialists
from mycelium.specialists.training import TRAINERS, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

PROBLEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
           "clips in May. How many clips did Natalia sell altogether?")


@pytest.fixture(scope="module")
def sample() -> list:
    return load_problems("gsm8k", bundled_sample_path()).problems


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, sample) -> Path:
    directory = tmp_path_factory.mktemp("serve") / "ckpt"
    rows, _ = build_labels(sample, dataset="gsm8k", source="reference")
    config = TrainConfig(max_steps=3, batch_size=8, warmup_ratio=0.0, learning_rate=3e-4,
                         head_learning_rate=3e-3, progress=False, use_cpu=True)
    TRAINERS["reasoner"](rows, default_base(), directory / "reasoner", config, None)
    return directory


@pytest.fixture(scope="module")
def server(checkpoints, tmp_path_factory):
    """The real command, one worker process, on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    with log.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "mycelium.flows.cli", "serve", "--checkpoints",
             str(checkpoints), "--port", str(port), "--workers", "1", "--max-body-kb", "64",
             "--max-batch", "8",
             "--log-level", "warning"],
            stdout=stream, stderr=subprocess.STDOUT, env=plain_env(OMP_NUM_THREADS="1"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(checkpoints, sample):
    """The library's own answers for the same checkpoints: what the server must reproduce."""
    specialists = Specialists.load(checkpoints, use_cpu=True)
    problems = [Problem.create("gsm8k", PROBLEM), *(item.problem for item in sample[:6])]
    return {problem.text: result for problem, result in
            zip(problems, solve_problems(problems, specialists), strict=True)}


def client(url: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)


def test_openai_client_gets_the_librarys_answer_and_a_program_that_executes_to_it(
        server, reference):
    completion = client(server).chat.completions.create(
        model="mycelium", messages=[{"role": "system", "content": "Solve it."},
                                    {"role": "user", "content": PROBLEM}])
    extra = completion.model_extra["mycelium"]
    expected = reference[PROBLEM]
    assert extra["status"] == expected.status
    assert extra["answer"] == expected.answer
    content = completion.choices[0].message.content
    if expected.status == "ok":
        assert content.startswith(f"Answer: {expected.answer}\n")
        program = Program.from_json(extra["program"])
        assert execute(program) == parse_number(extra["answer"])
        # each step's words are where the program's quantities are written
        for step, shown in zip(program.steps, extra["steps"], strict=True):
            for arg, (start, end) in zip([a for a in step.args if hasattr(a, "start")],
                                         shown["spans"], strict=True):
                assert PROBLEM[start:end] == arg.text
    assert completion.choices[0].finish_reason == "stop"
    assert [model.id for model in client(server).models.list()] == ["mycelium"]


def test_streaming_sends_the_same_reply_in_chunks(server):
    plain = client(server).chat.completions.create(
        model="mycelium", messages=[{"role": "user", "content": PROBLEM}])
    chunks = list(client(server).chat.completions.create(
        model="mycelium", messages=[{"role": "user", "content": PROBLEM}], stream=True))
    assert len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == \
        plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["mycelium"]["answer"] == plain.model_extra["mycelium"]["answer"]


def test_solve_takes_a_batch_and_marks_each_bad_problem(server, reference, sample):
    texts = [item.problem.text for item in sample[:6]]
    reply = httpx.post(f"{server}/v1/solve", timeout=120, json={
        "problems": [texts[0], "What a lovely day.", {"id": "mine", "text": texts[1]}, "",
                     *texts[2:]]})
    assert reply.status_code == 200
    results = reply.json()["results"]
    assert [row["status"] for row in results[1:4:2]] == ["invalid", "invalid"]
    assert [row["reason"] for row in results[1:4:2]] == ["no_numbers", "empty_text"]
    assert results[2]["problem_id"] == "mine"
    solved = [results[0], results[2], *results[4:]]
    assert [row["answer"] for row in solved] == [reference[text].answer for text in texts]


def post_raw(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json"},
                      timeout=60)


@pytest.mark.parametrize(("body", "status", "code"), [
    (b'{"model": "mycelium", "messages": [', 400, "malformed_json"),
    (b'{"model": "mycelium", "messages": [{"role": "user", "content": "\xff\xfe 3 apples"}]}',
     400, "not_utf8"),
    (b'{"model": "mycelium", "messages": [{"role": "system", "content": "Be brief."}]}', 400,
     "no_user_message"),
    (b'{"model": "gpt-5", "messages": [{"role": "user", "content": "Tom has 3 apples."}]}', 404,
     "model_not_found"),
    (b'{"model": "mycelium", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}',
     400, "no_numbers"),
    (b'{"model": "mycelium"}', 400, "invalid_body"),
    (b'[1, 2, 3]', 400, "invalid_body"),
    (b'{"model": "mycelium", "messages": [{"role": "user", "content": "'
     + b"x" * (1 << 20) + b'"}]}', 413, "body_too_large"),
])
def test_bad_input_gets_a_json_4xx_and_the_server_keeps_serving(server, body, status, code):
    reply = post_raw(f"{server}/v1/chat/completions", body)
    assert reply.status_code == status, reply.text[:300]
    error = reply.json()["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in reply.text
    assert httpx.get(f"{server}/health", timeout=10).json()["status"] == "ok"


def test_unknown_routes_and_methods_are_json_errors(server):
    for reply in (httpx.get(f"{server}/nowhere"), httpx.get(f"{server}/v1/solve")):
        assert reply.status_code in (404, 405)
        assert reply.json()["error"]["message"]


def test_concurrent_callers_are_answered_and_batched(server, reference, sample):
    texts = [item.problem.text for item in sample[:6]] * 2
    before = httpx.get(f"{server}/health").json()

    def ask(text: str) -> httpx.Response:
        return httpx.post(f"{server}/v1/solve", json={"problem": text}, timeout=120)

    with ThreadPoolExecutor(len(texts)) as callers:
        replies = list(callers.map(ask, texts))
    assert all(reply.status_code == 200 for reply in replies)
    assert [reply.json()["results"][0]["answer"] for reply in replies] == \
        [reference[text].answer for text in texts]
    after = httpx.get(f"{server}/health").json()
    assert after["problems"] - before["problems"] == len(texts)
    # one worker, twelve callers at once: some of them shared a batch
    assert after["batches"] - before["batches"] < len(texts)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_page_answers_a_typed_problem_in_headless_chromium(server, reference, tmp_path):
    with Browser() as browser:
        browser.open(f"{server}/")
        browser.type_into("#problem", PROBLEM)
        browser.click("#solve")
        browser.wait_for("document.querySelector('#answer') || "
                         "document.querySelector('#reason') || "
                         "document.querySelector('#error').textContent")
        expected = reference[PROBLEM]
        if expected.status == "ok":
            assert browser.text("#answer") == expected.answer
            lines = browser.evaluate("[...document.querySelectorAll('#program div')]"
                                     ".map(line => line.textContent)")
            assert len(lines) == len(expected.steps)
            assert lines[-1].split(" = ")[-1].split(" ")[0] == expected.answer
            # each step's words are shaded in the problem text
            shaded = browser.evaluate("[...document.querySelectorAll('.text span[title]')]"
                                      ".map(span => span.textContent)")
            assert shaded and all(piece in PROBLEM for piece in shaded)
        else:
            assert browser.text("#reason") == expected.reason
        browser.screenshot(tmp_path / "page.png")
    assert (tmp_path / "page.png").stat().st_size > 1000


def test_pool_time_limit_then_the_next_request_is_answered():
    """A MATH-only pool (no checkpoints: quick to start) with a limit nothing meets, then a
    generous one: the first caller gets TimeoutError, the pool still answers the next."""
    async def run() -> str | None:
        pool = SolverPool(None, workers=1)
        await pool.start()
        try:
            with pytest.raises(TimeoutError):
                await pool.solve([Problem.create("math", "Compute $12 \\cdot 12$.")], 1e-4)
            (result,) = await pool.solve([Problem.create("math", "Compute $7 \\cdot 6$.")], 120)
            return result.answer
        finally:
            await pool.stop()

    answer = asyncio.run(run())
    assert answer is not None and Fraction(answer) == 42


def test_reply_text_writes_the_program_as_the_worked_solution_does():
    """Natalia's worked solution is "48/2 = 24, 48+24 = 72": the reply shows that program the
    same way, each step with the words it came from, the answer first."""
    from mycelium.serve.api import reply_text
    from mycelium.solver.program import Literal, Op, Quantity, Step, StepRef

    start = PROBLEM.index("48")
    forty_eight = Quantity(Fraction(48), start, start + 2, "48")
    program = Program((Step(Op.DIV, (forty_eight, Literal(Fraction(2)))),
                       Step(Op.ADD, (forty_eight, StepRef(0)))))
    assert execute(program) == 72
    result = SolveResult(problem_id="natalia", dataset="gsm8k", status="ok", answer="72",
                         program=program.to_json(),
                         steps=[{"step": "s1", "value": "24", "words": "48"},
                                {"step": "s2", "value": "72", "words": "48"}])
    assert reply_text(result).splitlines() == [
        "Answer: 72", "", 's1 = 48 ÷ 2 = 24    (from "48")', 's2 = 48 + s1 = 72    (from "48")']
    failed = SolveResult(problem_id="x", dataset="gsm8k", status="no_answer",
                         reason="no_program_executes")
    assert reply_text(failed) == "No answer (no_program_executes)."
