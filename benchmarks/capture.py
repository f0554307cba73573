"""Benchmark: attention capture against a plain SDPA pass (time) and eager attentions (memory).

    python benchmarks/capture.py [--lengths 512 1024 2048] [--repeats 3] [--json]
    python benchmarks/capture.py --device cuda --dtype bfloat16 --lengths 1024 2048 4096

The model is a random-weight causal LM of Qwen2-1.5B-like shape (hidden 1024, 16 layers, 16 query
/ 4 KV heads, MLP 2816) with a 1000-token vocabulary: the vocabulary only sizes the embedding and
the LM head, and every pass here runs the decoder stack (`model.base_model`) without the head,
so it changes neither the attention cost nor any ratio. One sequence of T tokens; the last 3/4
are the chain-of-thought query rows; all layers and heads are captured (the costliest setting).

    time_ratio  capture pass (SDPA outputs + chunked recomputation) / the same SDPA pass alone;
                median of --repeats interleaved runs after one warm-up each, in one process.
    mem_ratio   peak memory a capture pass adds on top of the loaded model / what an eager
                output_attentions=True pass plus the same head/layer averaging adds.

Memory method: each (T, pass) runs once in a fresh spawned process, so no allocator cache or
earlier pass hides or inflates anything. On CPU the process's resident set is read from
/proc/self/status after loading the model (VmRSS), the kernel's peak counter is reset (writing
5 to /proc/self/clear_refs), the pass runs, and VmHWM - VmRSS is what the pass added. On CUDA it
is torch.cuda.max_memory_allocated() after reset_peak_memory_stats() minus memory_allocated()
before. Goals: time_ratio <= 1.5, and mem_ratio <= 0.25 at T = 2048. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from mycelium.teacher.capture import CaptureConfig, capture_attention, eager_reference

SHAPE = dict(hidden_size=1024, num_hidden_layers=16, num_attention_heads=16,
             num_key_value_heads=4, intermediate_size=2816, vocab_size=1000,
             max_position_embeddings=8192)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CAPTURE = CaptureConfig()  # all layers, all heads, 128-row chunks


def build_model(device: str, dtype: str) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**SHAPE)).to(device, DTYPES[dtype]).eval()


def inputs(length: int, device: str) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    generator = torch.Generator().manual_seed(length)
    input_ids = torch.randint(0, SHAPE["vocab_size"], (1, length), generator=generator)
    return input_ids.to(device), torch.ones_like(input_ids).to(device), [length // 4]


def run_pass(kind: str, model, input_ids, attention_mask, query_start) -> None:
    if kind == "sdpa":  # the very call capture makes, without the collector
        with torch.no_grad():
            model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0),
                             use_cache=False)
    elif kind == "capture":
        capture_attention(model, input_ids, attention_mask, query_start, CAPTURE)
    else:
        eager_reference(model, input_ids, attention_mask, query_start, CAPTURE)


def timed(kind: str, model, batch, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    run_pass(kind, model, *batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _status_kib(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(),
                         re.MULTILINE).group(1))


def added_memory_mb(kind: str, length: int, device: str, dtype: str, threads: int) -> float:
    """Peak memory one pass adds over the loaded model; meant to run in a fresh process."""
    torch.set_num_threads(threads)
    model = build_model(device, dtype)
    batch = inputs(length, device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run_pass(kind, model, *batch)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    run_pass(kind, model, *batch)
    return (_status_kib("VmHWM") - before) / 1024


def measure(length: int, model, args, pool: ProcessPoolExecutor) -> dict:
    batch = inputs(length, args.device)
    seconds = {"sdpa": [], "capture": []}
    for kind in seconds:
        print(f"T={length}: warm-up {kind}", file=sys.stderr, flush=True)
        timed(kind, model, batch, args.device)
    for repeat in range(args.repeats):
        for kind in seconds:
            seconds[kind].append(timed(kind, model, batch, args.device))
        print(f"T={length}: timing run {repeat + 1}/{args.repeats}: "
              f"sdpa {seconds['sdpa'][-1]:.2f}s, capture {seconds['capture'][-1]:.2f}s",
              file=sys.stderr, flush=True)
    memory = {}
    for kind in ("sdpa", "capture", "eager"):
        print(f"T={length}: memory of one {kind} pass (fresh process)", file=sys.stderr,
              flush=True)
        memory[kind] = pool.submit(added_memory_mb, kind, length, args.device, args.dtype,
                                   args.threads).result()
    sdpa_s, capture_s = (statistics.median(seconds[kind]) for kind in ("sdpa", "capture"))
    return {"T": length, "time_ratio": round(capture_s / sdpa_s, 3),
            "mem_ratio": round(memory["capture"] / memory["eager"], 4),
            "sdpa_s": round(sdpa_s, 3), "capture_s": round(capture_s, 3),
            "sdpa_mb": round(memory["sdpa"], 1), "capture_mb": round(memory["capture"], 1),
            "eager_mb": round(memory["eager"], 1), "device": args.device, "dtype": args.dtype,
            "threads": args.threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per pass kind")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads (torch.set_num_threads); default: torch's choice")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"building the model on {args.device} ({args.dtype})", file=sys.stderr, flush=True)
    model = build_model(args.device, args.dtype)
    # A fresh spawned process per memory measurement: nothing allocated before it counts.
    with ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [measure(length, model, args, pool) for length in args.lengths]
    if args.json:
        print(json.dumps(results))
        return
    columns = ["T", "time_ratio", "mem_ratio", "sdpa_s", "capture_s", "sdpa_mb", "capture_mb",
               "eager_mb"]
    print("  ".join(f"{column:>10}" for column in columns))
    for result in results:
        print("  ".join(f"{result[column]:>10}" for column in columns))


if __name__ == "__main__":
    main()
