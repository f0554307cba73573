"""The label store: `labels.parquet` (one `ProblemLabels` row per problem, written through
`datasets`) and `labels.json` (provenance and the build's counts, written last as the store's
completion marker).

    store = write_labels(out_dir, rows, manifest)
    rows = read_labels(out_dir)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_text_atomic
from mycelium.specialists.labels.schema import SCHEMA_VERSION, ProblemLabels

LABELS_FILE = "labels.parquet"
MANIFEST_FILE = "labels.json"


def features() -> Any:
    """The Parquet schema as `datasets.Features`; a store whose columns differ is refused."""
    from datasets import Features, List, Value

    span = List(Value("int32"), length=2)
    return Features({
        "problem_id": Value("string"), "dataset": Value("string"), "text": Value("string"),
        "answer": Value("string"), "words": List(span), "tags": List(Value("string")),
        "quantities": List({"value": Value("string"), "start": Value("int32"),
                            "end": Value("int32"), "text": Value("string")}),
        "constants": List({"name": Value("string"), "value": Value("string")}),
        "steps": List({"label": Value("string"), "group": List(span),
                       "args": List({"kind": Value("string"), "index": Value("int32"),
                                     "value": Value("string")}),
                       "expression": Value("string")}),
        "program": Value("string"), "source": Value("string"), "round": Value("int32"),
        "config_hash": Value("string"), "schema_version": Value("int32"),
    })


def config_hash(settings: dict[str, Any]) -> str:
    """Short stable hash of the settings that shaped a build (source, dataset, clause model...)."""
    text = json.dumps({"schema_version": SCHEMA_VERSION, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class LabelManifest:
    """What `labels.json` holds: provenance and the build's counts (the `label --json` object)."""

    dataset: str
    source: str
    round: int
    config_hash: str
    problems: int = 0
    validated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # denominator of coverage: problems that have a gold answer and were not excluded
    with_gold: int = 0
    schema_version: int = SCHEMA_VERSION

    @property
    def coverage(self) -> float:
        return self.validated / self.with_gold if self.with_gold else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["coverage"] = round(self.coverage, 6)
        data["dropped"] = dict(sorted(self.dropped.items(), key=lambda item: -item[1]))
        return data


def write_labels(out_dir: Path, rows: list[ProblemLabels], manifest: LabelManifest) -> Path:
    """Write `labels.parquet` then `labels.json` (the completion marker) into `out_dir`.

    The Parquet file is written to a temporary name and renamed, so a reader (or a rerun after a
    kill) never sees a torn file; the manifest goes last, so its presence means the store is
    whole."""
    import datasets

    datasets.disable_progress_bars()  # the caller shows its own progress
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    schema = features()
    # from_list([]) would drop the columns; an empty store keeps its schema (and is refused on
    # read with a clear message, not a column mismatch)
    dataset = (datasets.Dataset.from_list([row.to_row() for row in rows], features=schema)
               if rows else datasets.Dataset.from_dict({name: [] for name in schema},
                                                       features=schema))
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=f".{LABELS_FILE}.", suffix=".tmp")
    os.close(handle)
    try:
        dataset.to_parquet(temporary)
        os.replace(temporary, out_dir / LABELS_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    write_text_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest.to_json(), indent=2) + "\n")
    return out_dir / LABELS_FILE


def read_manifest(store: Path) -> dict[str, Any]:
    store = Path(store)
    path = store / MANIFEST_FILE
    if not path.is_file():
        raise MyceliumError(f"{store}: not a label store (no {MANIFEST_FILE}); build one with "
                            "`mycelium label --out DIR`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MyceliumError(f"{store}: label schema version {version}, expected "
                            f"{SCHEMA_VERSION}; rebuild it with `mycelium label`")
    return manifest


def load_label_dataset(store: Path) -> Any:
    """The store as a `datasets.Dataset`, checked against `features()` and the schema version."""
    import datasets

    datasets.disable_progress_bars()
    store = Path(store)
    read_manifest(store)
    path = store / LABELS_FILE
    if not path.is_file():
        raise MyceliumError(f"{store}: {LABELS_FILE} is missing")
    try:
        dataset = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise MyceliumError(f"{path}: not a readable Parquet file ({error})") from None
    expected = features()
    if dataset.features != expected:
        missing = sorted(set(expected) - set(dataset.features))
        extra = sorted(set(dataset.features) - set(expected))
        raise MyceliumError(f"{path}: columns do not match label schema v{SCHEMA_VERSION} "
                            f"(missing {missing}, unexpected {extra}, or different types)")
    if len(dataset) == 0:
        raise MyceliumError(f"{path}: the label store is empty; nothing to train on")
    return dataset


def read_labels(store: Path) -> list[ProblemLabels]:
    return [ProblemLabels.from_row(row) for row in load_label_dataset(store)]
