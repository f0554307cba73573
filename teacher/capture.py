"""Attention capture in one teacher-forced forward pass over prompt + chain-of-thought.

    rows = capture_attention(model, input_ids, attention_mask, query_start,
                             CaptureConfig(layers=[-1]))
    rows[i]   # float32 CPU [L_i - query_start[i], L_i]: CoT query row r attends over all L_i keys

The signals need, for every chain-of-thought token, one attention distribution over the whole
sequence (averaged over the chosen heads, then over the chosen layers). Asking the model for
`output_attentions=True` needs eager attention and keeps [layers, heads, T, T] alive: gigabytes
at T = 2048 and slower layers. Instead the model runs SDPA as usual, through a function
registered in transformers' `AttentionInterface`. For the selected layers that function also
recomputes softmax(Q Kᵀ·scale + mask) from the post-RoPE q and k it is handed, for the CoT query
rows only, `chunk_size` rows at a time, and folds each chunk straight into the running average:
only a couple of [heads, chunk_size, T] buffers exist at once, beside the [n_query, T]
result itself.

`eager_reference` is the slow, obvious computation (eager attention, output_attentions=True) that
the tests (`python -m pytest tests/test_capture.py`) and the benchmark
(`python benchmarks/capture.py`) compare against.

Sequences are left-padded (as generation pads them) and get position ids counted from their
first real token, so a sequence's rows do not depend on what it was batched with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from mycelium.data.errors import MyceliumError

# The name our attention function is registered under, and the forward keyword through which a
# pass hands it its collector: transformers forwards unknown model kwargs to the attention
# function, so each call carries its own collector and concurrent captures cannot mix.
CAPTURE_IMPLEMENTATION = "mycelium_capture"
COLLECTOR_KWARG = "mycelium_attention_collector"


class CaptureError(MyceliumError, ValueError):
    """Input or model that capture cannot handle correctly (raised instead of a wrong answer)."""


@dataclass(frozen=True)  # frozen: one shared instance is every function's default
class CaptureConfig:
    # None means every layer; negative indices count from the end, so [-1] is the last layer
    # (what the original system read).
    layers: Sequence[int] | None = None
    # None means every query head; a query head reads KV head h // (n_heads // n_kv_heads).
    heads: Sequence[int] | None = None
    # Query rows recomputed at once: bounds the transient scores to [heads, chunk_size, T].
    chunk_size: int = 128


DEFAULT_CONFIG = CaptureConfig()


class _Collector:
    """Running head/layer average of the CoT rows, one [n_query, T] sum per sequence; with
    `per_layer`, one head average per selected layer instead, [n_layers, n_query, T]."""

    def __init__(self, layers: list[int], heads: list[int] | None, starts: list[int],
                 width: int, chunk_size: int, device: torch.device,
                 per_layer: bool = False) -> None:
        self.layers = set(layers)
        self.slot = {layer: index for index, layer in enumerate(sorted(layers))}
        self.per_layer = per_layer
        self.weight = 1.0 if per_layer else 1.0 / len(layers)
        self.heads = heads
        self.starts = starts  # first CoT row of each sequence, in padded coordinates
        self.chunk_size = chunk_size
        shape = (len(layers),) if per_layer else ()
        self.sums = [torch.zeros(*shape, width - start, width, dtype=torch.float32,
                                 device=device) for start in starts]
        self.calls: Counter[int] = Counter()

    def add(self, module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
            mask: torch.Tensor | None, kwargs: dict) -> None:
        layer = getattr(module, "layer_idx", None)
        if layer is None:
            raise CaptureError(f"{type(module).__name__} has no layer_idx, so capture cannot "
                               "tell which layer is attending")
        self.calls[layer] += 1
        if layer not in self.layers:
            return
        if kwargs.get("position_bias") is not None:
            raise CaptureError(f"layer {layer} adds a position bias to its scores; capture "
                               "recomputes q·k only and would be wrong")
        scaling = kwargs.get("scaling")
        scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
        is_causal = kwargs.get("is_causal")
        is_causal = getattr(module, "is_causal", True) if is_causal is None else is_causal

        heads = slice(None) if self.heads is None else torch.tensor(self.heads, device=query.device)
        group = query.shape[1] // key.shape[1]  # GQA: query heads per KV head
        kv_heads = (torch.arange(query.shape[1], device=query.device) // group)[heads]
        if mask is not None:
            mask = mask.expand(query.shape[0], -1, -1, -1)
        for row, (start, total) in enumerate(zip(self.starts, self.sums, strict=True)):
            # Scores in float32 whatever the model dtype: the signals compare small differences
            # between neighbouring distributions, and bf16 logits would blur them. The scale is
            # applied to q here, once, rather than to every chunk's [H, c, T] scores.
            queries = query[row, heads, start:].float() * scaling  # [H, n_query, d]
            keys = key[row, kv_heads].float()  # [H, T, d]
            rows_mask, causal = None, is_causal
            if mask is not None:
                rows_mask = mask[row, :, start:]
                rows_mask = rows_mask[heads] if rows_mask.shape[0] > 1 else rows_mask
                causal = not _sees_future(rows_mask, start)
            target = total[self.slot[layer]] if self.per_layer else total
            self._add_rows(target, queries, keys, rows_mask, start, causal)

    def _add_rows(self, total: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor,
                  mask: torch.Tensor | None, start: int, causal: bool) -> None:
        """Fold one sequence's CoT rows of one layer into `total`, chunk by chunk."""
        heads = queries.shape[0]
        # Head averaging as one matrix-vector product: a reduction over the leading dim of
        # [H, c, T] is several times slower on CPU.
        head_weight = torch.full((1, heads), self.weight / heads, dtype=torch.float32,
                                 device=queries.device)
        for begin in range(0, queries.shape[1], self.chunk_size):
            stop = min(begin + self.chunk_size, queries.shape[1])
            count, last = stop - begin, start + stop  # rows are query positions [last-count, last)
            # Causal rows never see a key at or past `last`: skipping those columns saves about
            # 40% of the work when the CoT is the last 3/4 of the sequence.
            width = last if causal else keys.shape[1]
            scores = torch.matmul(queries[:, begin:stop], keys[:, :width].transpose(1, 2))
            if mask is not None:
                rows = mask[:, begin:stop, :width]
                if rows.dtype == torch.bool:
                    rows = torch.where(rows, 0.0, float("-inf"))
                scores.add_(rows)
            elif causal:
                # No mask from the library means plain causal attention: within the kept columns
                # only the last `count` can lie in a row's future, a strict upper triangle.
                future = torch.ones(count, count, dtype=torch.bool, device=scores.device)
                scores[:, :, width - count:].masked_fill_(future.triu_(1), float("-inf"))
            probs = scores.softmax(dim=-1).view(heads, -1)
            total[begin:stop, :width].add_(torch.matmul(head_weight, probs).view(count, width))


def _sees_future(mask: torch.Tensor, start: int) -> bool:
    """Whether any row of a [heads, n_query, T] mask for query positions start.. may attend to a
    later key (a bidirectional span, say); one check per sequence and layer, not per chunk."""
    width = mask.shape[-1]
    future = (torch.arange(width, device=mask.device)
              > torch.arange(start, width, device=mask.device)[:, None])
    allowed = mask if mask.dtype == torch.bool else mask > torch.finfo(mask.dtype).min
    return bool((allowed & future).any())


def _capture_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                  value: torch.Tensor, attention_mask: torch.Tensor | None, **kwargs):
    """SDPA for the layer's output; on a capture pass, also the reduced attention rows."""
    collector = kwargs.pop(COLLECTOR_KWARG, None)
    if collector is not None:
        collector.add(module, query, key, attention_mask, kwargs)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


# transformers has no way to unregister a function, so the entry stays for the process; it is
# inert outside a capture pass (plain SDPA when no collector arrives). The mask entry matters:
# an implementation without one gets no attention mask at all, padding included.
AttentionInterface.register(CAPTURE_IMPLEMENTATION, _capture_sdpa)
AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, sdpa_mask)


def _configs(model: PreTrainedModel) -> list:
    """Every config whose attention implementation set_attn_implementation may change."""
    found, pending = {}, [module.config for module in model.modules()
                          if isinstance(module, PreTrainedModel)]
    while pending:
        config = pending.pop()
        if id(config) not in found:
            found[id(config)] = config
            pending.extend(sub for key in config.sub_configs
                           if (sub := getattr(config, key, None)) is not None)
    return list(found.values())


@contextmanager
def attention_implementation(model: PreTrainedModel, name: str) -> Iterator[None]:
    """Run the model with attention `name`, then put back exactly what every config had."""
    saved = [(config, config._attn_implementation_internal) for config in _configs(model)]
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        # Restored attribute by attribute rather than through set_attn_implementation, which
        # validates and may fall back, and would flatten per-sub-model choices into one.
        for config, implementation in saved:
            config._attn_implementation_internal = implementation


def _check_inputs(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  query_start: Sequence[int], config: CaptureConfig
                  ) -> tuple[list[int], list[int] | None, list[int], list[int]]:
    """Validated (layers, heads, pad lengths, padded CoT starts); CaptureError names the problem."""
    if model.training:
        raise CaptureError("the model is in training mode (dropout would make the captured "
                           "attention random): call model.eval() first")
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise CaptureError(f"input_ids {tuple(input_ids.shape)} and attention_mask "
                           f"{tuple(attention_mask.shape)} must be the same [batch, T] shape")
    if len(query_start) != input_ids.shape[0]:
        raise CaptureError(f"{len(query_start)} query_start values for a batch of "
                           f"{input_ids.shape[0]} sequences")
    if config.chunk_size < 1:
        raise CaptureError(f"chunk_size must be at least 1, got {config.chunk_size}")
    text = model.config.get_text_config()
    n_layers, n_heads = text.num_hidden_layers, text.num_attention_heads
    layers = _indices(config.layers, n_layers, "layer")
    heads = None if config.heads is None else _indices(config.heads, n_heads, "head")

    width = input_ids.shape[1]
    mask = attention_mask.detach().to("cpu", torch.long)
    lengths = mask.sum(dim=1).tolist()
    positions = torch.arange(width)
    pads, starts = [], []
    for row, (length, first) in enumerate(zip(lengths, query_start, strict=True)):
        if not torch.equal(mask[row], (positions >= width - length).long()):
            raise CaptureError(f"sequence {row}: attention_mask is not a left-padded run of 0s "
                               "then 1s")
        if not 0 <= int(first) < length:
            raise CaptureError(f"sequence {row}: empty chain-of-thought (query_start {first}, "
                               f"{length} real tokens)")
        pads.append(width - length)
        starts.append(width - length + int(first))
    return layers, heads, pads, starts


def _indices(requested: Sequence[int] | None, count: int, what: str) -> list[int]:
    if requested is None:
        return list(range(count))
    if len(requested) == 0:
        raise CaptureError(f"no {what}s selected")
    bad = [index for index in requested if not -count <= index < count]
    if bad:
        raise CaptureError(f"{what} indices {bad} out of range for a model with {count} {what}s")
    return sorted({index % count for index in requested})


def _position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    # Count positions from each sequence's first real token, as generation does, so left padding
    # does not shift RoPE positions.
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


@contextmanager
def layers_up_to(model: PreTrainedModel, last: int) -> Iterator[None]:
    """Run only decoder layers 0..last: nothing after the last captured layer reaches the
    signals (the pass returns no hidden states or logits), so a boundary layer early in the
    stack (SmolLM2-135M's best is near layer 6 of 30) costs a fraction of the full pass.
    Models whose decoder layers are not a `layers` ModuleList on the base model run whole."""
    base = model.base_model
    stack = getattr(base, "layers", None)
    if not isinstance(stack, torch.nn.ModuleList) or last + 1 >= len(stack):
        yield
        return
    base.layers = torch.nn.ModuleList(list(stack)[:last + 1])
    try:
        yield
    finally:
        base.layers = stack


def _forward(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             collector: _Collector, layers: list[int]) -> None:
    # The decoder stack only (`base_model`): the vocabulary projection is not needed, and at a
    # 150k vocabulary it would cost more memory than the capture itself.
    with torch.no_grad(), attention_implementation(model, CAPTURE_IMPLEMENTATION), \
            layers_up_to(model, max(layers)):
        model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=_position_ids(attention_mask), use_cache=False,
                         **{COLLECTOR_KWARG: collector})
    wrong = {layer: collector.calls[layer] for layer in layers if collector.calls[layer] != 1}
    if wrong:
        raise CaptureError(f"{type(model).__name__}: attention of layers {sorted(wrong)} did not "
                           "go through transformers' AttentionInterface exactly once (calls: "
                           f"{wrong}); this model's attention cannot be captured")


def capture_attention_by_layer(model: PreTrainedModel, input_ids: torch.Tensor,
                               attention_mask: torch.Tensor, query_start: Sequence[int],
                               config: CaptureConfig = DEFAULT_CONFIG
                               ) -> tuple[list[int], list[torch.Tensor]]:
    """As `capture_attention`, but each selected layer kept apart (heads still averaged):
    returns the layer indices in order and, per sequence, a float32 CPU tensor
    [n_layers, n_query_i, L_i]. For measuring which layers carry the step structure
    (mycelium.signals.quality); its mean over layers is what `capture_attention` returns."""
    layers, heads, pads, starts = _check_inputs(model, input_ids, attention_mask, query_start,
                                                config)
    collector = _Collector(layers, heads, starts, input_ids.shape[1], config.chunk_size,
                           input_ids.device, per_layer=True)
    _forward(model, input_ids, attention_mask, collector, layers)
    return layers, [total[:, :, pad:].cpu() for total, pad in zip(collector.sums, pads,
                                                                  strict=True)]


def capture_attention(model: PreTrainedModel, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor, query_start: Sequence[int],
                      config: CaptureConfig = DEFAULT_CONFIG) -> list[torch.Tensor]:
    """One forward pass (torch.no_grad). Sequences are LEFT-padded (batch > 1 allowed).
    query_start[i] is the index (in the UNPADDED sequence i) of the first chain-of-thought token.
    Returns, per sequence i, a float32 CPU tensor [n_query_i, L_i] where L_i is the unpadded
    length and n_query_i = L_i - query_start[i]: row r is the head/layer-averaged attention of
    query position query_start[i] + r over all L_i real keys (pad columns dropped; causal: zeros
    after the query position; each row sums to 1)."""
    layers, heads, pads, starts = _check_inputs(model, input_ids, attention_mask, query_start,
                                                config)
    collector = _Collector(layers, heads, starts, input_ids.shape[1], config.chunk_size,
                           input_ids.device)
    _forward(model, input_ids, attention_mask, collector, layers)
    return [total[:, pad:].cpu() for total, pad in zip(collector.sums, pads, strict=True)]


def eager_reference(model: PreTrainedModel, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor, query_start: Sequence[int],
                    config: CaptureConfig = DEFAULT_CONFIG) -> list[torch.Tensor]:
    """The same result computed the slow, obvious way: the model run with attn_implementation
    'eager' and output_attentions=True, then the same selection and averaging. For tests and
    the benchmark."""
    layers, heads, pads, starts = _check_inputs(model, input_ids, attention_mask, query_start,
                                                config)
    with torch.no_grad(), attention_implementation(model, "eager"):
        attentions = model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                      position_ids=_position_ids(attention_mask),
                                      use_cache=False, output_attentions=True).attentions
        expected = model.config.get_text_config().num_hidden_layers
        if attentions is None or len(attentions) != expected:
            raise CaptureError(f"{type(model).__name__}: eager pass returned "
                               f"{len(attentions or ())} attention maps for {expected} layers")
        selected = slice(None) if heads is None else heads
        # Summed layer by layer so the reduction adds one [batch, T, T], not a second copy of
        # every layer's weights.
        average = sum(attentions[layer][:, selected].float().mean(dim=1) for layer in layers)
        average = average / len(layers)
    return [average[row, start:, pad:].cpu()
            for row, (start, pad) in enumerate(zip(starts, pads, strict=True))]
