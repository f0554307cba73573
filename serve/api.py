"""`mycelium serve`: the trained solver behind an OpenAI-compatible HTTP API and a page.

    mycelium serve --checkpoints runs/ckpt --port 8000
    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' \
      -d '{"model": "mycelium", "messages": [{"role": "user", "content": "Tom has 3 ..."}]}'

Routes:
  GET  /v1/models             the one model this server serves
  POST /v1/chat/completions   OpenAI chat completions: the last user message is the problem; the
                              reply's content is the answer and the program, `stream: true`
                              sends it as server-sent events; the structured result is in the
                              extra field `mycelium`
  POST /v1/solve              {"problem": TEXT} or {"problems": [TEXT | {"id", "text"}, ...]},
                              optional "dataset" (auto/gsm8k/math) and "html": true; returns
                              {"results": [SolveResult, ...]}
  GET  /                      a page: paste a problem, see the answer, the program and the text
                              with each step's words highlighted (inference/render.py)
  GET  /health                workers, queue, batches so far

Errors are JSON in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with a 4xx
status for anything the caller can fix (malformed JSON, bytes that are not UTF-8, a body over the
size limit, no user message, an unknown model, a problem with no numbers), 503 when the queue is
full, 504 past the time limit, never a traceback. The answers come from `SolverPool`
(serve/workers.py); nothing here takes a gold answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mycelium.data.records import Problem, SolveResult, guess_dataset
from mycelium.inference.render import arithmetic_lines, render_solution
from mycelium.inference.word_problems import check_text
from mycelium.serve.page import PAGE
from mycelium.serve.workers import Busy, SolverPool
from mycelium.specialists.problem_view import candidate_quantities

logger = logging.getLogger("mycelium.serve")


@dataclass
class ServeSettings:
    checkpoints: Path | None  # None: MATH tracks only
    model_name: str = "mycelium"
    workers: int = 2
    max_batch: int = 1  # problems one worker takes at once (CPU: 1 measured best; see CLI)
    max_queue: int = 256  # problems waiting; more are refused with 503
    max_body_bytes: int = 256 * 1024  # a GSM8K problem is under 1 KB, MATH under 5 KB
    max_problems: int = 64  # per /v1/solve request
    timeout_s: float = 60.0  # per request, queueing included


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str,
                 kind: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.kind, self.param = (status, message, code,
                                                                        kind, param)


def error_body(message: str, code: str, kind: str = "invalid_request_error",
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# ------------------------------------------------------------------------------- requests
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "\n".join(str(part.get("text", "")) for part in self.content
                             if part.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: no effect here
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = 1


class ProblemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    id: str | None = None


class SolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problem: str | None = None
    problems: list[str | ProblemIn] | None = None
    dataset: Literal["auto", "gsm8k", "math"] = "auto"
    html: bool = False  # add each result's rendering (the page uses it)


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, read at most `limit` bytes far."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {int(declared)} bytes; the limit is {limit}",
                       "body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the request body is over the limit of {limit} bytes",
                           "body_too_large")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"the request body is not UTF-8 ({error.reason} at byte "
                            f"{error.start})", "not_utf8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(400, f"the request body is not valid JSON ({error.msg} at line "
                            f"{error.lineno} column {error.colno})", "malformed_json") from None


def parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']} ({error.error_count()} problem(s) with "
                            f"the {model.__name__} body)", "invalid_body", param=where) from None


def make_problem(text: str, dataset: str, problem_id: str | None = None) -> Problem | str:
    """The Problem, or why the text cannot be one (a snake_case reason)."""
    reason = check_text(text)
    if reason:
        return reason
    chosen = guess_dataset(text) if dataset == "auto" else dataset
    if chosen == "gsm8k" and not candidate_quantities(text):
        return "no_numbers"
    problem = Problem.create(chosen, text)  # type: ignore[arg-type]
    return problem.model_copy(update={"id": problem_id}) if problem_id else problem


REASONS = {"empty_text": "the problem text is empty",
           "text_too_long": "the problem text is longer than the solver takes",
           "no_numbers": "the problem has no numbers to compute with (expected a math word "
                         "problem such as 'Tom has 3 apples and buys 5 more. How many ...?')"}


# ------------------------------------------------------------------------------- replies
def reply_text(result: SolveResult) -> str:
    """The chat reply: the answer, then the program one step per line with its words."""
    if result.status != "ok":
        return f"No answer ({result.reason})."
    lines = [f"Answer: {result.answer}", ""]
    arithmetic = arithmetic_lines(result) or [step.get("line", "") for step in result.steps]
    for step, line in zip(result.steps, arithmetic, strict=False):
        words = f'    (from "{step["words"]}")' if step.get("words") else ""
        lines.append(f"{line}{words}")
    return "\n".join(lines).rstrip()


def create_app(settings: ServeSettings, pool: SolverPool | None = None) -> FastAPI:
    pool = pool or SolverPool(settings.checkpoints, workers=settings.workers,
                              max_batch=settings.max_batch, max_queue=settings.max_queue)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        logger.info("solver ready: %d worker(s), checkpoints %s", settings.workers,
                    settings.checkpoints)
        yield
        await pool.stop()

    app = FastAPI(title="Mycelium solver", lifespan=lifespan,
                  description="GSM8K/MATH problems solved by trained specialists and exact "
                              "execution: no chain-of-thought, no gold answer.")
    app.state.pool, app.state.settings = pool, settings
    created = int(time.time())

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse(error_body(error.message, error.code, error.kind, error.param),
                            status_code=error.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = (f"no route {request.method} {request.url.path}" if error.status_code in
                   (404, 405) else str(error.detail))
        return JSONResponse(error_body(message, f"http_{error.status_code}"),
                            status_code=error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        return JSONResponse(error_body(f"internal error ({type(error).__name__}); the server "
                                       "keeps serving", "internal_error", "server_error"),
                            status_code=500)

    async def solve(problems: list[Problem]) -> list[SolveResult]:
        try:
            return await pool.solve(problems, settings.timeout_s)
        except Busy as busy:
            raise ApiError(503, f"the server is busy ({busy}); retry shortly", "busy",
                           "server_error") from None
        except TimeoutError:
            raise ApiError(504, f"no answer within the time limit of {settings.timeout_s:g} s",
                           "timeout", "server_error") from None

    def check_model(name: str) -> None:
        if name != settings.model_name:
            raise ApiError(404, f"model {name!r} does not exist here; this server serves "
                                f"{settings.model_name!r} (GET /v1/models)", "model_not_found",
                           param="model")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model",
                                            "created": created, "owned_by": "mycelium"}]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = pool.stats
        return {"status": "ok", "workers": settings.workers, "queued": pool.queued,
                "checkpoints": str(settings.checkpoints), "batches": stats.batches,
                "problems": stats.problems, "largest_batch": stats.largest_batch,
                "restarts": stats.restarts}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
        body = parse(ChatCompletionRequest, await read_json(request, settings.max_body_bytes))
        check_model(body.model)
        if body.n != 1:
            raise ApiError(400, f"n={body.n}: this server gives one answer per request (n=1)",
                           "unsupported_n", param="n")
        users = [message for message in body.messages if message.role == "user"]
        if not users or not users[-1].text().strip():
            raise ApiError(400, "no user message with text: the last user message is the "
                                "problem to solve", "no_user_message", param="messages")
        problem = make_problem(users[-1].text(), "auto")
        if isinstance(problem, str):
            raise ApiError(400, REASONS.get(problem, problem), problem, param="messages")
        (result,) = await solve([problem])
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        content = reply_text(result)
        extra = result.model_dump()
        if not body.stream:
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": int(time.time()),
                "model": settings.model_name,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content}}],
                "mycelium": extra})

        def chunk(delta: dict[str, Any], finish: str | None, **more: Any) -> str:
            return "data: " + json.dumps({
                "id": completion_id, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": settings.model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                             "logprobs": None}], **more}) + "\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""}, None)
            for line in content.splitlines(keepends=True):
                yield chunk({"content": line}, None)
            yield chunk({}, "stop", mycelium=extra)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.post("/v1/solve")
    async def solve_route(request: Request) -> dict[str, Any]:
        body = parse(SolveRequest, await read_json(request, settings.max_body_bytes))
        if (body.problem is None) == (body.problems is None):
            raise ApiError(400, 'give "problem" (one text) or "problems" (a list), not both or '
                                "neither", "invalid_body")
        if body.problem is not None:  # one problem: a bad one is the request's error
            problem = make_problem(body.problem, body.dataset)
            if isinstance(problem, str):
                raise ApiError(400, REASONS.get(problem, problem), problem, param="problem")
            made: list[Problem | str] = [problem]
            texts = [body.problem]
        else:  # a batch: each bad problem gets its own "invalid" result, the rest are solved
            assert body.problems is not None
            if len(body.problems) > settings.max_problems:
                raise ApiError(413, f"{len(body.problems)} problems in one request; the limit "
                                    f"is {settings.max_problems}", "too_many_problems",
                               param="problems")
            items = [item if isinstance(item, ProblemIn) else ProblemIn(text=item)
                     for item in body.problems]
            made = [make_problem(item.text, body.dataset, item.id) for item in items]
            texts = [item.text for item in items]
        solved = iter(await solve([item for item in made if isinstance(item, Problem)]))
        results = []
        for index, (item, text) in enumerate(zip(made, texts, strict=True)):
            if isinstance(item, str):
                dataset = "math" if body.dataset == "math" else "gsm8k"
                result = SolveResult(problem_id=f"problem-{index}", dataset=dataset,
                                     status="invalid", reason=item)
            else:
                result = next(solved)
            row = result.model_dump()
            if body.html:
                row["html"] = render_solution(text, result)
            results.append(row)
        return {"results": results}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.replace("{{MODEL}}", settings.model_name)

    return app


def serve(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run the server until interrupted (uvicorn; the specialists load before it listens)."""
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level,
                timeout_graceful_shutdown=5)
