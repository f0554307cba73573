"""JSONL reading, and atomic file writes: a reader never sees half a file, and a killed run leaves
no torn output.

Everything is written to a temporary file in the destination folder and renamed over the target
(`os.replace` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
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


# ------------------------------------------------------------------------- whole folders
# A checkpoint is a folder of files (weights, tokenizer, mycelium.json). Renaming a new folder
# over an old one is not atomic (the old one must move away first, and a reader opening files
# by path meanwhile mixes old and new), so a published folder is a symlink to a versioned
# folder beside it: writers fill a fresh version, then swap the link with one os.replace;
# readers resolve the link once and read every file from that version.
VERSIONS_DIR = ".versions"


@contextlib.contextmanager
def published_directory(path: Path) -> Iterator[Path]:
    """Write a folder that readers see whole or not at all:

        with published_directory(out) as staging:
            model.save_pretrained(staging)        # write everything here
        # now `out` is a symlink to the finished folder

    On an exception the staging folder is removed and `out` is untouched. An existing real
    folder at `out` (an earlier layout) is moved into the versions first. Versions other than
    the new one and the one it replaced are removed; folders still being written (their names
    start with a dot) are never touched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    versions = path.parent / VERSIONS_DIR
    versions.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    _remove_abandoned(versions, path.name)
    staging = Path(tempfile.mkdtemp(dir=versions, prefix=f".{path.name}-{stamp}-{os.getpid()}-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finished = versions / staging.name[1:].replace(f"-{os.getpid()}-", "-", 1)
    os.replace(staging, finished)
    previous = path.resolve() if path.is_symlink() else None
    if path.is_dir() and not path.is_symlink():
        if any(path.iterdir()):  # an earlier, unversioned folder: kept as the previous version
            previous = versions / f"{path.name}-{stamp}-unversioned"
            os.replace(path, previous)
        else:  # an empty folder made for us (a round's stage folder)
            path.rmdir()
    link = versions / f".{finished.name}.link"
    os.symlink(Path(VERSIONS_DIR) / finished.name, link)
    os.replace(link, path)  # the one atomic step
    for entry in versions.glob(f"{path.name}-*"):
        if entry.is_dir() and entry not in (finished, previous):
            shutil.rmtree(entry, ignore_errors=True)


def _remove_abandoned(versions: Path, name: str) -> None:
    """Staging folders of writers that died before publishing (their pid is gone)."""
    for entry in versions.glob(f".{name}-*"):
        parts = entry.name.rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not entry.is_dir():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


def remove_published(path: Path) -> None:
    """Remove what `published_directory` made at `path` (the link and the version it points
    at), or a plain folder there; nothing when there is nothing."""
    path = Path(path)
    if path.is_symlink():
        version = path.resolve()
        path.unlink()
        shutil.rmtree(version, ignore_errors=True)
    elif path.exists():
        shutil.rmtree(path)


def resolved_directory(path: Path) -> Path:
    """The version a published folder points at now (the folder itself when not a link):
    resolve once, then read every file of one load from the result."""
    return Path(path).resolve()
