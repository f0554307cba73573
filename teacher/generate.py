"""Chain-of-thought generation behind one interface, two backends: transformers and vLLM.

    from mycelium.teacher.generate import GenerationConfig, generate_traces
    traces = generate_traces(teacher, problems, GenerationConfig(max_new_tokens=2048))

Generation runs at full speed (SDPA or vLLM); attention is captured afterwards in one
teacher-forced pass (`mycelium.teacher.capture`). Every TeacherTrace keeps the token ids the
teacher produced and exact char offsets: prompt tokens into the problem text (through the
tokenizer's offset mapping), CoT tokens into the decoded CoT text (by incremental decoding, so
offsets come from the ids that were generated, never from a re-tokenisation).

The default prompt is the one Qwen2.5-Math-Instruct is trained with. `max_new_tokens` defaults
to 2048: the system this is modelled on lost answers to a 512-token cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mycelium.data.errors import MyceliumError
from mycelium.data.records import Problem, TeacherTrace
from mycelium.teacher.models import DEFAULT_SYSTEM_PROMPT, Teacher


@dataclass
class GenerationConfig:
    max_new_tokens: int = 2048
    batch_size: int = 8
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greedy: bool = True  # reproducible traces; sampling only when asked
    temperature: float = 0.7  # used when greedy is False
    backend: str = "transformers"  # or "vllm" (the optional extra; GPU)
    tensor_parallel_size: int = 1  # vLLM: GPUs one teacher is split over


def build_prompt(tokenizer, problem_text: str, config: GenerationConfig
                 ) -> tuple[str, list[int], list[tuple[int, int] | None]]:
    """The chat-templated prompt, its ids, and each token's char span in the problem text."""
    messages = [{"role": "system", "content": config.system_prompt},
                {"role": "user", "content": problem_text}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    offset = prompt.find(problem_text)
    if offset < 0:
        raise MyceliumError("the chat template does not contain the problem text verbatim")
    encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    spans: list[tuple[int, int] | None] = []
    for start, end in encoded["offset_mapping"]:
        # Clip each token to the problem text; tokens wholly outside it are template tokens.
        clipped = (max(start, offset) - offset, min(end, offset + len(problem_text)) - offset)
        spans.append(clipped if clipped[0] < clipped[1] else None)
    return prompt, list(encoded["input_ids"]), spans


def cot_offsets(tokenizer, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """Decode generated ids and give each token its char span in the decoded text.

    Token j spans [len(decode(ids[:j])), len(decode(ids[:j+1]))). A token that ends inside a
    multi-byte character decodes to a replacement char until the character completes; such a
    token gets an empty span at the current end, and the completing token the whole character.
    """
    text = tokenizer.decode(list(ids), skip_special_tokens=False)
    spans: list[tuple[int, int]] = []
    previous = 0
    for j in range(len(ids)):
        prefix = tokenizer.decode(list(ids[:j + 1]), skip_special_tokens=False)
        end = len(prefix.rstrip("\ufffd")) if text.startswith(prefix.rstrip("\ufffd")) else \
            previous
        end = max(end, previous)
        spans.append((previous, end))
        previous = end
    return text, spans


def _strip_stop(ids: list[int], stop_ids: set[int]) -> tuple[list[int], bool]:
    """Ids up to and excluding the first stop token; True when one was found."""
    for index, token in enumerate(ids):
        if token in stop_ids:
            return ids[:index], True
    return ids, False


def _stop_ids(teacher: Teacher) -> set[int]:
    eos = teacher.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if teacher.tokenizer.eos_token_id is not None:
        ids.add(teacher.tokenizer.eos_token_id)
    return ids


def _generate_transformers(teacher: Teacher, prompts: list[list[int]],
                           config: GenerationConfig) -> list[list[int]]:
    tokenizer = teacher.tokenizer
    batch = tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt")
    device = teacher.model.device
    with torch.no_grad():
        output = teacher.model.generate(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=config.max_new_tokens, do_sample=not config.greedy,
            temperature=None if config.greedy else config.temperature,
            top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    return [row[width:].tolist() for row in output.cpu()]


def _generate_vllm(teacher: Teacher, prompts: list[list[int]],
                   config: GenerationConfig) -> list[list[int]]:
    try:
        from vllm import LLM, SamplingParams  # the optional extra: pip install -e ".[vllm]"
    except ImportError:
        raise MyceliumError("the vllm backend needs the optional extra: "
                            "pip install -e '.[vllm]' (GPU machines)") from None
    engine = LLM(model=teacher.name, tensor_parallel_size=config.tensor_parallel_size)
    params = SamplingParams(max_tokens=config.max_new_tokens,
                            temperature=0.0 if config.greedy else config.temperature)
    outputs = engine.generate([{"prompt_token_ids": ids} for ids in prompts], params)
    return [list(output.outputs[0].token_ids) for output in outputs]


BACKENDS = {"transformers": _generate_transformers, "vllm": _generate_vllm}


def generate_traces(teacher: Teacher, problems: Sequence[Problem],
                    config: GenerationConfig | None = None,
                    progress=None) -> list[TeacherTrace]:
    """One TeacherTrace per problem, in order. `progress(n)` is called after each batch."""
    config = config or GenerationConfig()
    if config.backend not in BACKENDS:
        raise MyceliumError(f"unknown generation backend {config.backend!r}: expected one of "
                            f"{', '.join(BACKENDS)}")
    stop = _stop_ids(teacher)
    traces: list[TeacherTrace] = []
    for begin in range(0, len(problems), config.batch_size):
        chunk = problems[begin:begin + config.batch_size]
        prompts = [build_prompt(teacher.tokenizer, problem.text, config) for problem in chunk]
        generated = BACKENDS[config.backend](teacher, [ids for _, ids, _ in prompts], config)
        for problem, (prompt, prompt_ids, spans), ids in zip(chunk, prompts, generated,
                                                              strict=True):
            cot_ids, finished = _strip_stop(ids, stop)
            # Left-padded batches pad the *right* of shorter generations with pad ids too.
            cot_ids = [token for token in cot_ids if token != teacher.tokenizer.pad_token_id] \
                if teacher.tokenizer.pad_token_id not in stop else cot_ids
            cot_text, cot_spans = cot_offsets(teacher.tokenizer, cot_ids)
            traces.append(TeacherTrace(
                problem_id=problem.id, teacher=teacher.name, prompt_text=prompt,
                prompt_ids=prompt_ids, prompt_problem_spans=spans, cot_text=cot_text,
                cot_ids=cot_ids, cot_spans=cot_spans, finished=finished))
        if progress is not None:
            progress(len(chunk))
    return traces
