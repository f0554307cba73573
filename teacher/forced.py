"""The teacher-forced capture pass over generated traces: batches, left padding, numpy out.

    rows = capture_traces(teacher, traces, CaptureConfig(layers=[-1]), batch_size=4)
    rows[i]   # float32 [len(cot_ids), len(prompt_ids) + len(cot_ids)]: CoT token attention

Traces with no CoT tokens, or longer than the teacher's context (`context_length`), get None
(the signals stage reports them as `empty_cot` / `too_long`); they never enter a batch, so one
such trace cannot break the others.

    layers, rows, first = capture_problem_layers(teacher, trace, CaptureConfig(layers=None))
    rows   # [n_layers, n_problem_and_cot_rows, n_keys]: rows from the problem's first token on
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from mycelium.data.records import TeacherTrace
from mycelium.teacher.capture import CaptureConfig, capture_attention, capture_attention_by_layer
from mycelium.teacher.models import Teacher


def context_length(teacher: Teacher) -> int | None:
    """The most tokens the teacher's positions cover (None when its config does not say)."""
    return getattr(teacher.model.config.get_text_config(), "max_position_embeddings", None)


def len_layers(teacher: Teacher) -> int:
    return teacher.model.config.get_text_config().num_hidden_layers


def fits_context(teacher: Teacher, trace: TeacherTrace) -> bool:
    limit = context_length(teacher)
    return limit is None or len(trace.prompt_ids) + len(trace.cot_ids) <= limit


def capture_traces(teacher: Teacher, traces: Sequence[TeacherTrace],
                   config: CaptureConfig | None = None, batch_size: int = 4,
                   progress: Callable[[int], None] | None = None,
                   layer_sets: Sequence[Sequence[int]] | None = None) -> list:
    """Per trace, its CoT rows averaged over `config.layers` (or None, module doc). With
    `layer_sets`, one pass captures the union of the sets' layers apart and each result is a
    tuple of arrays, the rows averaged over each set in turn (boundary and IAF layers can
    differ: they are chosen by separate measurements)."""
    config = config or CaptureConfig()
    if layer_sets is not None:
        union = sorted({layer for layers in layer_sets for layer in layers})
        config = CaptureConfig(layers=union, heads=config.heads, chunk_size=config.chunk_size)
    results: list[np.ndarray | None] = [None] * len(traces)
    usable = [index for index, trace in enumerate(traces)
              if trace.cot_ids and fits_context(teacher, trace)]
    pad_id = teacher.tokenizer.pad_token_id
    device = teacher.model.device
    for begin in range(0, len(usable), batch_size):
        chunk = usable[begin:begin + batch_size]
        sequences = [traces[index].prompt_ids + traces[index].cot_ids for index in chunk]
        width = max(map(len, sequences))
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):  # left padding, as in generation
            input_ids[row, width - len(sequence):] = torch.tensor(sequence)
            attention_mask[row, width - len(sequence):] = 1
        starts = [len(traces[index].prompt_ids) for index in chunk]
        if layer_sets is None:
            captured = capture_attention(teacher.model, input_ids.to(device),
                                         attention_mask.to(device), starts, config)
            for index, rows in zip(chunk, captured, strict=True):
                results[index] = rows.float().numpy()
        else:
            kept, captured = capture_attention_by_layer(
                teacher.model, input_ids.to(device), attention_mask.to(device), starts, config)
            slots = [[kept.index(layer % len_layers(teacher)) for layer in layers]
                     for layers in layer_sets]
            for index, rows in zip(chunk, captured, strict=True):
                results[index] = tuple(rows[chosen].mean(dim=0).numpy() for chosen in slots)
        if progress is not None:
            progress(len(chunk))
    return results


def capture_problem_layers(teacher: Teacher, trace: TeacherTrace,
                           config: CaptureConfig | None = None
                           ) -> tuple[list[int], np.ndarray, int]:
    """Each selected layer's head-averaged attention rows of one trace, from the first prompt
    token that lies in the problem text through the last CoT token: the reading phase (rows
    over the problem) and the generation phase (the CoT rows) in one array. Returns (layer
    indices, float32 [n_layers, n_rows, n_keys], index of the first problem token)."""
    config = config or CaptureConfig()
    first = next((index for index, span in enumerate(trace.prompt_problem_spans)
                  if span is not None), len(trace.prompt_ids))
    sequence = torch.tensor([trace.prompt_ids + trace.cot_ids], device=teacher.model.device)
    layers, rows = capture_attention_by_layer(teacher.model, sequence, torch.ones_like(sequence),
                                              [first], config)
    return layers, rows[0].numpy(), first
