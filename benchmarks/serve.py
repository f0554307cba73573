"""Benchmark: `mycelium serve` under concurrent clients on loopback.

    python benchmarks/serve.py --checkpoints runs/ckpt [--clients 20] [--seconds 60] [--json]

Starts the server itself (`mycelium serve` on a free loopback port, --workers solver processes),
waits until it answers, then:
  1. single: one client, --single requests one after another (a problem per request): the
     latency of one problem on an otherwise idle server;
  2. load: --clients clients at once for --seconds, each sending its next problem as soon as the
     previous is answered (bounded: at most --max-requests per client), half through
     /v1/chat/completions and half through /v1/solve.
Every request is counted: answered (2xx), refused with a 4xx/5xx JSON error that says why, or
an error (a dropped connection, a timeout, a reply that is not JSON). Problems are GSM8K train
problems (--file; never test problems). The server is stopped at the end.

--json prints one object: requests, errors, refused, p50_s, p95_s, problems_per_s (under load),
single_p50_s, single_p95_s, and the goal checks (p50 of one problem <= 0.5 s, >= 4 problems/s
under load, no errors). Goal (issue "Serve the solver"): 20 clients for 60 s, no error, median
latency <= 0.5 s for one problem, >= 4 problems/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"
GOAL_P50_S, GOAL_PROBLEMS_PER_S = 0.5, 4.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def problems_from(path: Path, count: int, seed: int) -> list[str]:
    if not path.is_file():
        from mycelium.data.loaders import bundled_sample_path

        progress(f"{path} is absent: using the bundled sample problems")
        path = bundled_sample_path()
    texts = [json.loads(line)["question"] for line in path.open() if line.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:count]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mycelium.flows.cli", "serve", "--port", str(port),
               "--workers", str(args.workers), "--log-level", "warning",
               "--timeout", str(args.timeout), "--max-batch", str(args.max_batch)]
    if args.checkpoints:
        command += ["--checkpoints", str(args.checkpoints)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                progress(f"server up in {time.monotonic() - started:.1f} s")
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}):\n"
                             f"{log.read_text()[-3000:]}")
        if time.monotonic() - started > 300:
            process.kill()
            raise SystemExit("the server did not come up within 300 s")
        time.sleep(0.5)


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.answered = self.refused = self.errors = 0
        self.reasons: dict[str, int] = {}

    def note(self, key: str) -> None:
        self.reasons[key] = self.reasons.get(key, 0) + 1


async def one_request(client: httpx.AsyncClient, url: str, text: str, chat: bool,
                      tally: Tally) -> None:
    body = ({"model": "mycelium", "messages": [{"role": "user", "content": text}]} if chat
            else {"problem": text})
    path = "/v1/chat/completions" if chat else "/v1/solve"
    started = time.perf_counter()
    try:
        reply = await client.post(url + path, json=body)
        payload = reply.json()
    except (httpx.HTTPError, ValueError) as error:
        tally.errors += 1
        tally.note(type(error).__name__)
        return
    elapsed = time.perf_counter() - started
    if reply.is_success:
        tally.answered += 1
        tally.latencies.append(elapsed)
    elif isinstance(payload, dict) and payload.get("error", {}).get("message"):
        tally.refused += 1  # a 4xx/5xx that says why: not lost, but not answered
        tally.note(f"{reply.status_code} {payload['error'].get('code')}")
    else:
        tally.errors += 1
        tally.note(f"{reply.status_code} without a reason")


async def single(url: str, texts: list[str]) -> Tally:
    tally = Tally()
    async with httpx.AsyncClient(timeout=120) as client:
        for index, text in enumerate(texts):
            await one_request(client, url, text, index % 2 == 0, tally)
    return tally


async def load(url: str, texts: list[str], clients: int, seconds: float,
               max_requests: int) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def caller(rank: int, client: httpx.AsyncClient) -> None:
        for sent in range(max_requests):
            if time.monotonic() >= deadline:
                return
            text = texts[(rank * max_requests + sent) % len(texts)]
            await one_request(client, url, text, (rank + sent) % 2 == 0, tally)

    async def report() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(10)
            progress(f"  load: {tally.answered} answered, {tally.refused} refused, "
                     f"{tally.errors} errors")

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        reporter = asyncio.create_task(report())
        await asyncio.gather(*(caller(rank, client) for rank in range(clients)))
        reporter.cancel()
    return tally, time.monotonic() - started


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 4)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=Path, help="default: the newest round")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=200, help="per client")
    parser.add_argument("--single", type=int, default=30, help="sequential requests first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="the server's limit")
    parser.add_argument("--max-batch", type=int, default=1,
                        help="problems a worker takes at once (1: no batching)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    texts = problems_from(args.file, 2000, args.seed)
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mycelium-serve-bench-{port}.log"
    progress(f"starting mycelium serve on 127.0.0.1:{port} ({args.workers} workers)")
    server = start_server(args, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        progress(f"single client: {args.single} requests")
        one = asyncio.run(single(url, texts[:args.single]))
        progress(f"load: {args.clients} clients for {args.seconds:g} s")
        many, elapsed = asyncio.run(load(url, texts[args.single:], args.clients, args.seconds,
                                         args.max_requests))
        health = httpx.get(f"{url}/health", timeout=10).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    requests = many.answered + many.refused + many.errors
    result = {
        "requests": requests, "answered": many.answered, "refused": many.refused,
        "errors": many.errors, "outcomes": many.reasons,
        "p50_s": quantile(many.latencies, 0.5), "p95_s": quantile(many.latencies, 0.95),
        "problems_per_s": round(many.answered / elapsed, 3), "seconds": round(elapsed, 1),
        "clients": args.clients, "workers": args.workers, "max_batch": args.max_batch,
        "single_requests": len(one.latencies), "single_errors": one.errors + one.refused,
        "single_p50_s": quantile(one.latencies, 0.5),
        "single_p95_s": quantile(one.latencies, 0.95),
        "batches": health.get("batches"), "largest_batch": health.get("largest_batch"),
        "checkpoints": health.get("checkpoints"), "cpus": os.cpu_count(),
    }
    result["goals"] = {
        "no_errors": result["errors"] == 0 and result["single_errors"] == 0,
        f"single_p50_s<={GOAL_P50_S}": (result["single_p50_s"] or 1e9) <= GOAL_P50_S,
        f"problems_per_s>={GOAL_PROBLEMS_PER_S}": result["problems_per_s"] >= GOAL_PROBLEMS_PER_S,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
