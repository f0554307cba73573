"""The teacher-forced capture pass over generated traces: batches, left padding, numpy out.

    rows = capture_traces(teacher, traces, CaptureConfig(layers=[-1]), batch_size=4)
    rows[i]   # float32 [len(cot_ids), len(prompt_ids) + len(cot_ids)]: CoT token attention

Traces with no CoT tokens get None (the signals stage reports them as `empty_cot`); they never
enter a batch, so one empty trace cannot break the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from mycelium.data.records import TeacherTrace
from mycelium.teacher.capture import CaptureConfig, capture_attention
from mycelium.teacher.models import Teacher


def capture_traces(teacher: Teacher, traces: Sequence[TeacherTrace],
                   config: CaptureConfig | None = None, batch_size: int = 4,
                   progress: Callable[[int], None] | None = None) -> list[np.ndarray | None]:
    config = config or CaptureConfig()
    results: list[np.ndarray | None] = [None] * len(traces)
    usable = [index for index, trace in enumerate(traces) if trace.cot_ids]
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
        captured = capture_attention(teacher.model, input_ids.to(device),
                                     attention_mask.to(device),
                                     [len(traces[index].prompt_ids) for index in chunk], config)
        for index, rows in zip(chunk, captured, strict=True):
            results[index] = rows.float().numpy()
        if progress is not None:
            progress(len(chunk))
    return results
