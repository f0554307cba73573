"""JSONL reading, and atomic file writes: a reader never sees half a file, and a killed run leaves
no torn output.

Everything is written to a temporary file in the destination folder and renamed over the target
(`os.replace` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line; returns the number of rows."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any | ValueError]]:
    """(line number, parsed object or the ValueError that explains why not) for each non-blank
    line. Lines end at "\n" only: str.splitlines() also splits on U+2028 and other separators
    that JSON strings (written with ensure_ascii=False) may hold, tearing a row in two."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, ValueError(f"not UTF-8 ({error.reason} at byte {error.start})")
                continue
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                yield number, ValueError(f"malformed JSON ({error.msg}, column {error.colno})")


def read_jsonl(path: Path) -> list[Any]:
    """Every row of a JSONL file this project wrote; a bad line is a MyceliumError naming it."""
    rows = []
    for number, row in iter_jsonl(path):
        if isinstance(row, ValueError):
            raise MyceliumError(f"{path}:{number}: {row}")
        rows.append(row)
    return rows
