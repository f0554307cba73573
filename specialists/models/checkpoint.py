"""Self-describing specialist checkpoints: a folder any later stage loads with no other settings.

    out/
      mycelium.json        what it is (the completion marker: written last)
      config.json, model.safetensors, tokenizer files   (save_pretrained)
      head.safetensors     the custom head of the classifier / scoring extractor, if any

`mycelium.json` holds the specialist name, this format's version, the label schema version, the
base model it was trained from, its kind (encoder | causal), the label names, its vocabularies,
the training data's hash, round, metrics, creation time and the torch/transformers versions.

    info = read_checkpoint_info("runs/r1/tagger")
    tagger = load_specialist("runs/r1/tagger")      # specialists/registry.py: any specialist
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_text_atomic
from mycelium.specialists.labels.schema import SCHEMA_VERSION, ProblemLabels
from mycelium.specialists.registry import SPECIALISTS

CHECKPOINT_VERSION = 1
INFO_FILE = "mycelium.json"
HEAD_FILE = "head.safetensors"


@dataclass
class CheckpointInfo:
    specialist: str  # one of SPECIALISTS
    base_model: str  # the path or hub id the weights started from
    kind: str  # "encoder" | "causal"
    labels: list[str]  # tag names, classifier labels, or the extractor's op vocabulary
    vocabularies: dict[str, Any] = field(default_factory=dict)
    training_data_hash: str = ""
    round: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    max_length: int = 512
    created: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    checkpoint_version: int = CHECKPOINT_VERSION
    label_schema_version: int = SCHEMA_VERSION


def training_data_hash(labels: list[ProblemLabels]) -> str:
    """sha256 over the sorted (problem id, label config hash) pairs: the same problems labelled
    by the same build give the same hash, whatever their order."""
    lines = sorted(f"{row.problem_id}\t{row.config_hash}" for row in labels)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def runtime_versions() -> dict[str, str]:
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def write_checkpoint_info(out_dir: Path, info: CheckpointInfo) -> Path:
    """Written after the weights, atomically: its presence means the checkpoint is whole."""
    info.created = info.created or datetime.now(UTC).isoformat(timespec="seconds")
    info.versions = info.versions or runtime_versions()
    path = Path(out_dir) / INFO_FILE
    write_text_atomic(path, json.dumps(asdict(info), indent=2, default=str) + "\n")
    return path


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    info_path = path / INFO_FILE
    if not info_path.is_file():
        raise MyceliumError(f"{path}: not a specialist checkpoint (no {INFO_FILE}); train one "
                            "with mycelium.specialists.training")
    try:
        data = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MyceliumError(f"{info_path}: not valid JSON ({error})") from None
    version = data.get("checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise MyceliumError(f"{path}: checkpoint format version {version}, expected "
                            f"{CHECKPOINT_VERSION}; retrain it with this version")
    schema = data.get("label_schema_version")
    if schema != SCHEMA_VERSION:
        raise MyceliumError(f"{path}: trained on label schema version {schema}, expected "
                            f"{SCHEMA_VERSION}; retrain it on labels of this version")
    if data.get("specialist") not in SPECIALISTS:
        raise MyceliumError(f"{path}: unknown specialist {data.get('specialist')!r} in "
                            f"{INFO_FILE} (expected one of {', '.join(SPECIALISTS)})")
    known = set(CheckpointInfo.__dataclass_fields__)
    return CheckpointInfo(**{key: value for key, value in data.items() if key in known})


def save_head(module: torch.nn.Module, out_dir: Path, body: str = "encoder.") -> None:
    """The parameters outside the pretrained body, as safetensors (the body goes through
    save_pretrained so it stays loadable by transformers on its own)."""
    from safetensors.torch import save_file

    tensors = {name: tensor.detach().cpu().contiguous()
               for name, tensor in module.state_dict().items() if not name.startswith(body)}
    save_file(tensors, str(Path(out_dir) / HEAD_FILE))


def load_head(module: torch.nn.Module, path: Path, body: str = "encoder.") -> None:
    from safetensors.torch import load_file

    head_path = Path(path) / HEAD_FILE
    if not head_path.is_file():
        raise MyceliumError(f"{path}: {HEAD_FILE} is missing from the checkpoint")
    missing, unexpected = module.load_state_dict(load_file(str(head_path)), strict=False)
    missing = [name for name in missing if not name.startswith(body)]
    if missing or unexpected:
        raise MyceliumError(f"{head_path}: head does not match the model (missing {missing}, "
                            f"unexpected {unexpected})")
