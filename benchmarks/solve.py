"""Benchmark: the specialist pipeline's cost per problem against a 256-token chain-of-thought.

    python benchmarks/solve.py [--checkpoints DIR] [--file GSM8K_FILE] [--problems 200]
                               [--beam-widths 5,10,16] [--json]

Pipeline: `solve_word_problems` (tagger, classifier, extractor, candidate search, exact
execution) over --problems GSM8K problems, after a short warm-up. Baseline, in the same run and
with the same torch threads: greedy generation of 256 new tokens per problem (batch 1, KV cache,
EOS never ends it early) by a causal LM shaped like Qwen2.5-0.5B (24 layers, hidden 896, 14/2
attention heads, vocabulary 151,936), with random weights: the weights' values do not change the
cost. Its prompt is the problem's token count under the MiniLM tokenizer plus 40 tokens of chat
template. --cot-problems problems are timed (default 2; each takes tens of seconds on 2 cores).

Checkpoints: --checkpoints, else the newest round (`find_checkpoints`); with none, specialists
are trained for one optimizer step on the bundled sample's labels (untrained, but the same
models and search, which is all a cost measurement needs; the output says so).

--beam-widths also times the same problems at other search beam widths (the default's is the
headline; `by_beam_width` holds each one's problems/s and speedup against the same baseline).

Goal: speedup = pipeline problems/s / CoT problems/s >= 100. --json prints one object with
pipeline_problems_per_s, cot_problems_per_s and speedup (and the details).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from mycelium.data.errors import MyceliumError
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.inference.word_problems import solve_word_problems
from mycelium.solver.search import SearchConfig
from mycelium.specialists.registry import Specialists, find_checkpoints, specialists_for

GOAL_SPEEDUP = 100.0
COT_TOKENS = 256
TEMPLATE_TOKENS = 40  # Qwen chat markup and the "reason step by step" instruction
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_specialists(checkpoints: Path | None, scratch: Path) -> tuple[Specialists, str]:
    try:
        directory = find_checkpoints(checkpoints)
        return Specialists.load(directory, use_cpu=True), str(directory)
    except MyceliumError:
        if checkpoints is not None:
            raise
    from mycelium.specialists.labels.build import build_labels
    from mycelium.specialists.models.bases import default_base
    from mycelium.specialists.training import TRAINERS, TrainConfig

    progress("no checkpoints: training each specialist for one step on the bundled sample")
    items = load_problems("gsm8k", bundled_sample_path()).problems
    labels, _ = build_labels(items, dataset="gsm8k", source="reference")
    config = TrainConfig(epochs=1, max_steps=1, batch_size=4, use_cpu=True)
    for name in specialists_for("gsm8k"):
        TRAINERS[name](labels, default_base(), scratch / name, config, None)
    return Specialists.load(scratch, use_cpu=True), "untrained (1 step on the bundled sample)"


def qwen_half_billion() -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=32768, tie_word_embeddings=True)
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


@torch.no_grad()
def cot_seconds(model: torch.nn.Module, prompt_lengths: list[int]) -> list[float]:
    times = []
    for length in prompt_lengths:
        ids = torch.randint(0, 150_000, (1, length))
        started = time.perf_counter()
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=COT_TOKENS,
                       min_new_tokens=COT_TOKENS, do_sample=False, pad_token_id=0)
        times.append(time.perf_counter() - started)
        progress(f"  CoT: {COT_TOKENS} tokens after a {length}-token prompt in {times[-1]:.1f} s")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", type=Path, default=None)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--cot-problems", type=int, default=2)
    parser.add_argument("--beam-widths", default="",
                        help="comma-separated beam widths to time besides the default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        widths = [int(width) for width in args.beam_widths.split(",") if width.strip()]
    except ValueError:
        parser.error(f"--beam-widths {args.beam_widths!r}: expected integers separated by commas")
    if any(width < 1 for width in widths):
        parser.error(f"--beam-widths {args.beam_widths!r}: every width must be at least 1")

    source = args.file if args.file.exists() else bundled_sample_path()
    items = load_problems("gsm8k", source, limit=args.problems).problems
    problems = [item.problem for item in items]
    while len(problems) < args.problems:  # the bundled sample has 20: cycle through it
        problems += problems[:args.problems - len(problems)]
    with tempfile.TemporaryDirectory() as scratch:
        specialists, origin = load_specialists(args.checkpoints, Path(scratch))
        progress(f"pipeline: {len(problems)} problems ({source}), specialists: {origin}")
        solve_word_problems(problems[:5], specialists)  # warm-up: first-call costs
        started = time.perf_counter()
        results = solve_word_problems(problems, specialists)
        pipeline_s = time.perf_counter() - started
        answered = sum(result.status == "ok" for result in results)
        default_width = SearchConfig().beam_width
        progress(f"  {pipeline_s:.1f} s, {answered} answered (beam width {default_width}, "
                 "the default)")
        width_seconds = {}
        for width in widths:
            started = time.perf_counter()
            solve_word_problems(problems, specialists, SearchConfig(beam_width=width))
            width_seconds[width] = time.perf_counter() - started
            progress(f"  beam width {width}: {width_seconds[width]:.1f} s")

    tokenizer = (specialists.reasoner or specialists.tagger).tokenizer
    lengths = [len(tokenizer(problem.text)["input_ids"]) + TEMPLATE_TOKENS
               for problem in problems[:args.cot_problems]]
    progress(f"chain-of-thought baseline: Qwen2.5-0.5B-shaped random LM, {len(lengths)} problems")
    cot = cot_seconds(qwen_half_billion(), lengths)

    pipeline_rate = len(problems) / pipeline_s
    cot_rate = len(cot) / sum(cot)
    report = {
        "pipeline_problems_per_s": round(pipeline_rate, 3),
        "cot_problems_per_s": round(cot_rate, 5),
        "speedup": round(pipeline_rate / cot_rate, 1),
        "goal_speedup": GOAL_SPEEDUP,
        "goal_met": pipeline_rate / cot_rate >= GOAL_SPEEDUP,
        "pipeline_seconds_per_problem": round(pipeline_s / len(problems), 4),
        "cot_seconds_per_problem": round(sum(cot) / len(cot), 2),
        "problems": len(problems), "cot_problems": len(cot), "answered": answered,
        "specialists": origin, "torch_threads": torch.get_num_threads(),
        "source": str(source), "beam_width": default_width,
        "by_beam_width": {str(width): {
            "problems_per_s": round(len(problems) / seconds, 3),
            "seconds_per_problem": round(seconds / len(problems), 4),
            "speedup": round(len(problems) / seconds / cot_rate, 1)}
            for width, seconds in width_seconds.items()},
    }
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:30s} {value}")


if __name__ == "__main__":
    main()
