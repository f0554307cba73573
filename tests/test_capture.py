"""Attention capture (teacher/capture.py) against the eager output_attentions reference.

Tiny random Qwen2 and Llama models (GQA: 4 query heads over 2 KV heads) are built here from
configs, with a large initializer range so attention is peaked and a masking or position error
shows up far above the 1e-5 tolerance.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from mycelium.teacher.capture import (
    CaptureConfig,
    CaptureError,
    capture_attention,
    eager_reference,
)

LENGTHS = [20, 14, 17]  # left padding of 0, 6 and 3 tokens
QUERY_START = [8, 5, 11]  # CoT lengths 12, 9 and 6
TOLERANCE = 1e-5

CONFIGS = {
    "all_layers": CaptureConfig(),
    "layer_subset": CaptureConfig(layers=[0, -1]),
    "head_subset": CaptureConfig(heads=[1, 2]),  # one head from each KV group
    "chunked": CaptureConfig(layers=[-2, 2], heads=[3, 0], chunk_size=3),
}


def tiny_model(kind: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                 max_position_embeddings=64, initializer_range=0.3)
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**shape, **extra)).eval()
    return LlamaForCausalLM(LlamaConfig(**shape, **extra)).eval()


def left_padded_batch(lengths: list[int] = LENGTHS) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    width = max(lengths)
    input_ids = torch.zeros(len(lengths), width, dtype=torch.long)
    attention_mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        input_ids[row, width - length:] = torch.randint(1, 100, (length,), generator=generator)
        attention_mask[row, width - length:] = 1
    return input_ids, attention_mask


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def model(request):
    return tiny_model(request.param)


@pytest.mark.parametrize("name", CONFIGS)
def test_capture_matches_eager(model, name):
    input_ids, attention_mask = left_padded_batch()
    config = CONFIGS[name]
    captured = capture_attention(model, input_ids, attention_mask, QUERY_START, config)
    reference = eager_reference(model, input_ids, attention_mask, QUERY_START, config)
    for rows, expected, length, start in zip(captured, reference, LENGTHS, QUERY_START,
                                             strict=True):
        assert rows.dtype == torch.float32 and rows.device.type == "cpu"
        assert rows.shape == (length - start, length)
        torch.testing.assert_close(rows, expected, atol=TOLERANCE, rtol=0)


def test_sliding_window_layers_match_eager():
    # Layers 1 and 2 attend over a 4-token window: the mask the library hands the attention
    # function carries the window, so capture must follow it rather than assume plain causal.
    model = tiny_model("qwen2", use_sliding_window=True, sliding_window=4, max_window_layers=1)
    input_ids, attention_mask = left_padded_batch()
    captured = capture_attention(model, input_ids, attention_mask, QUERY_START)
    reference = eager_reference(model, input_ids, attention_mask, QUERY_START)
    for rows, expected in zip(captured, reference, strict=True):
        torch.testing.assert_close(rows, expected, atol=TOLERANCE, rtol=0)


def test_bidirectional_mask_is_followed():
    # config.is_causal=False makes the library build a bidirectional mask while the modules
    # still say is_causal: capture must read the mask, not skip the "future" keys.
    model = tiny_model("llama", is_causal=False)
    input_ids, attention_mask = left_padded_batch()
    captured = capture_attention(model, input_ids, attention_mask, QUERY_START,
                                 CaptureConfig(chunk_size=4))
    reference = eager_reference(model, input_ids, attention_mask, QUERY_START)
    for rows, expected in zip(captured, reference, strict=True):
        assert rows[0, -1] > 0
        torch.testing.assert_close(rows, expected, atol=TOLERANCE, rtol=0)


def test_selection_changes_the_result(model):
    input_ids, attention_mask = left_padded_batch()
    everything = capture_attention(model, input_ids, attention_mask, QUERY_START)
    one_head = capture_attention(model, input_ids, attention_mask, QUERY_START,
                                 CaptureConfig(layers=[-1], heads=[0]))
    assert (everything[0] - one_head[0]).abs().max() > 0.05


def test_rows_are_causal_distributions(model):
    input_ids, attention_mask = left_padded_batch()
    captured = capture_attention(model, input_ids, attention_mask, QUERY_START,
                                 CaptureConfig(chunk_size=5))
    for rows, start in zip(captured, QUERY_START, strict=True):
        torch.testing.assert_close(rows.sum(dim=1), torch.ones(rows.shape[0]), atol=TOLERANCE,
                                   rtol=0)
        assert (rows >= 0).all()
        future = torch.arange(rows.shape[1]) > torch.arange(start, rows.shape[1])[:, None]
        assert (rows[future] == 0).all()
        assert (rows[~future] > 0).all()


def test_batching_does_not_change_rows(model):
    input_ids, attention_mask = left_padded_batch()
    batched = capture_attention(model, input_ids, attention_mask, QUERY_START)
    for row, (length, start) in enumerate(zip(LENGTHS, QUERY_START, strict=True)):
        alone = capture_attention(model, input_ids[row:row + 1, -length:],
                                  attention_mask[row:row + 1, -length:], [start])
        torch.testing.assert_close(batched[row], alone[0], atol=TOLERANCE, rtol=0)


def test_outputs_unchanged_and_implementation_restored(model):
    input_ids, attention_mask = left_padded_batch()
    seen = []
    handle = model.base_model.register_forward_hook(
        lambda module, args, output: seen.append(output.last_hidden_state))
    try:
        capture_attention(model, input_ids, attention_mask, QUERY_START)
    finally:
        handle.remove()
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        plain = model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                 position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0),
                                 use_cache=False).last_hidden_state
    # The capture pass computes every layer output with the same SDPA call and mask, so the
    # hidden states (and hence the logits) are identical, not merely close.
    assert torch.equal(seen[0], plain)
    eager_reference(model, input_ids, attention_mask, QUERY_START)
    assert model.config._attn_implementation == "sdpa"


def test_eager_model_stays_eager():
    model = tiny_model("llama")
    model.set_attn_implementation("eager")
    input_ids, attention_mask = left_padded_batch()
    capture_attention(model, input_ids, attention_mask, QUERY_START)
    assert model.config._attn_implementation == "eager"


@pytest.mark.parametrize(("query_start", "config", "message"), [
    ([8, 14, 11], CaptureConfig(), "sequence 1: empty chain-of-thought"),
    ([8, 5, -1], CaptureConfig(), "sequence 2: empty chain-of-thought"),
    ([8, 5], CaptureConfig(), "2 query_start values for a batch of 3"),
    (QUERY_START, CaptureConfig(layers=[3]), r"layer indices \[3\] out of range"),
    (QUERY_START, CaptureConfig(layers=[0, -4]), r"layer indices \[-4\] out of range"),
    (QUERY_START, CaptureConfig(heads=[4]), r"head indices \[4\] out of range"),
    (QUERY_START, CaptureConfig(heads=[]), "no heads selected"),
    (QUERY_START, CaptureConfig(chunk_size=0), "chunk_size must be at least 1"),
])
def test_bad_requests_are_refused(model, query_start, config, message):
    input_ids, attention_mask = left_padded_batch()
    with pytest.raises(ValueError, match=message):
        capture_attention(model, input_ids, attention_mask, query_start, config)
    assert model.config._attn_implementation == "sdpa"


def test_right_padding_is_refused(model):
    input_ids, attention_mask = left_padded_batch()
    with pytest.raises(CaptureError, match="sequence 1: attention_mask is not a left-padded"):
        capture_attention(model, input_ids, attention_mask.flip(1), QUERY_START)


def test_training_mode_is_refused():
    model = tiny_model("qwen2").train()
    input_ids, attention_mask = left_padded_batch()
    with pytest.raises(CaptureError, match="training mode"):
        capture_attention(model, input_ids, attention_mask, QUERY_START)


def test_attention_outside_the_interface_is_refused():
    # Layer 1 reads its own config, still on plain "sdpa", so its attention never reaches the
    # capture function: a model that bypasses the interface looks exactly like this.
    model = tiny_model("qwen2")
    attention = model.model.layers[1].self_attn
    attention.config = copy.copy(attention.config)
    input_ids, attention_mask = left_padded_batch()
    with pytest.raises(CaptureError, match=r"layers \[1\] did not go through"):
        capture_attention(model, input_ids, attention_mask, QUERY_START)
    assert model.config._attn_implementation == "sdpa"
    with pytest.raises(CaptureError, match="eager pass returned 2 attention maps for 3 layers"):
        eager_reference(model, input_ids, attention_mask, QUERY_START)
    # Layers that do go through the interface can still be captured.
    captured = capture_attention(model, input_ids, attention_mask, QUERY_START,
                                 CaptureConfig(layers=[0, 2]))
    assert captured[0].shape == (LENGTHS[0] - QUERY_START[0], LENGTHS[0])
