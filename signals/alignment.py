"""Token ↔ char alignment checks shared by the teacher and the specialists.

Signals map attention back to problem words, and the specialists align word labels to
sub-tokens; both need a tokenizer whose offset mapping covers every visible character. A slow or
broken tokenizer (no `tokenizer.json`) gives none or a partial one, and everything downstream
would be silently misaligned, so it is refused up front.
"""

from __future__ import annotations

from typing import Any

from mycelium.data.errors import MyceliumError

OFFSET_PROBE = "Natalia sold 48 clips in April, and half as many in May."


def check_offset_mapping(tokenizer: Any, problem: str) -> None:
    """Raise MyceliumError(problem) unless `tokenizer` gives char offsets that cover every
    visible character of a probe sentence."""
    try:
        offsets = tokenizer(OFFSET_PROBE, add_special_tokens=False,
                            return_offsets_mapping=True)["offset_mapping"]
    except (NotImplementedError, ValueError, TypeError):
        raise MyceliumError(problem) from None
    covered = {position for start, end in offsets for position in range(start, end)}
    if any(not char.isspace() and index not in covered
           for index, char in enumerate(OFFSET_PROBE)):
        raise MyceliumError(problem)
