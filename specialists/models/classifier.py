"""The role/operation classifier: what a group of clauses computes (GSM8K: ADD, SUB, MUL...;
MATH: the step's role), read in the context of its whole problem.

An `AutoModel` encoder (any base) runs once per problem; each group is then
[mean-pooled problem vector ; mean of the group's token vectors] (an empty group, a step that
only combines earlier results, uses a learned "no span" vector) -> MLP -> softmax over the
labels seen in training. Every group of a problem is scored from that one forward, so the
candidate search can score many groupings cheaply.

    classifier = load_specialist("runs/r1/classifier")
    classifier.predict([text], [[[(0, 27)], []]])   # [[{"MUL": -0.1, "ADD": -2.9, ...}, {...}]]

Metrics: accuracy and macro-F1 over the steps of the eval problems.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mycelium.data.errors import MyceliumError
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.models.checkpoint import (
    CheckpointInfo,
    load_head,
    save_head,
    write_checkpoint_info,
)
from mycelium.specialists.models.encoding import (
    autocast,
    base_kind,
    encode_text,
    load_tokenizer,
    load_weights,
    mean_pool,
    pad,
    pick_device,
    span_masks,
    span_tokens,
    span_vectors,
)

Group = list[tuple[int, int]]


class GroupClassifierModel(nn.Module):
    def __init__(self, encoder: nn.Module, num_labels: int) -> None:
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.no_span = nn.Parameter(torch.randn(hidden) * 0.02)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Dropout(0.1),
                                  nn.Linear(hidden, num_labels))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                group_batch: torch.Tensor, group_masks: torch.Tensor) -> torch.Tensor:
        """Logits (groups x labels); group g belongs to problem group_batch[g]."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)[group_batch]
        groups = span_vectors(hidden, group_batch, group_masks, self.no_span)
        return self.head(torch.cat([pooled, groups], dim=-1).float())


def macro_f1(gold: list[int], predicted: list[int]) -> float:
    """Mean F1 over the labels that occur in gold or predictions."""
    scores = []
    for label in set(gold) | set(predicted):
        hits = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        precision = hits / max(predicted.count(label), 1)
        recall = hits / max(gold.count(label), 1)
        scores.append(2 * precision * recall / (precision + recall) if hits else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


@dataclass
class ClassifierItem:
    input_ids: list[int]
    groups: list[list[int]]  # per step: the token indices of its group
    targets: list[int]  # per step: the label id


class Classifier:
    name = "classifier"

    def __init__(self, model: GroupClassifierModel, tokenizer: Any, labels: list[str],
                 base: str, kind: str, max_length: int, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.labels = labels
        self.label_ids = {label: index for index, label in enumerate(labels)}
        self.base, self.kind, self.max_length, self.device = base, kind, max_length, device

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> Classifier:
        from transformers import AutoModel

        tokenizer = load_tokenizer(base)
        names = sorted({step.label for row in labels for step in row.steps})
        if not names:
            raise MyceliumError(f"the classifier needs steps, but none of the {len(labels)} "
                                "problems has any")
        encoder = load_weights(AutoModel, base)
        model = GroupClassifierModel(encoder, len(names))
        return cls(model, tokenizer, names, str(base), base_kind(base, config.kind),
                   config.max_length, device)

    @classmethod
    def load(cls, path: Path, info: CheckpointInfo, *, use_cpu: bool = False) -> Classifier:
        from transformers import AutoModel

        encoder = load_weights(AutoModel, path)
        model = GroupClassifierModel(encoder, len(info.labels))
        load_head(model, path)
        return cls(model, load_tokenizer(path), info.labels, info.base_model, info.kind,
                   info.max_length, pick_device(use_cpu))

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[ClassifierItem], Counter]:
        items, dropped = [], Counter()
        for row in labels:
            ids, offsets = encode_text(self.tokenizer, row.text, self.max_length)
            groups, targets = [], []
            for step in row.steps:
                if step.label not in self.label_ids:
                    dropped["unknown_label"] += 1
                    continue
                groups.append(span_tokens(offsets, step.group))
                targets.append(self.label_ids[step.label])
            if targets:
                items.append(ClassifierItem(ids, groups, targets))
            else:
                dropped["no_steps"] += 1
        return items, dropped

    def _batch(self, ids: list[list[int]], groups: list[list[list[int]]]) -> dict[str, Any]:
        input_ids = pad(ids, self.tokenizer.pad_token_id)
        token_lists = [tokens for problem in groups for tokens in problem]
        return {"input_ids": input_ids, "attention_mask": pad([[1] * len(row) for row in ids], 0),
                "group_batch": torch.tensor([index for index, problem in enumerate(groups)
                                             for _ in problem], dtype=torch.long),
                "group_masks": span_masks(token_lists, input_ids.shape[1])}

    def collate(self, items: list[ClassifierItem]) -> dict[str, Any]:
        batch = self._batch([item.input_ids for item in items], [item.groups for item in items])
        batch["targets"] = torch.tensor([t for item in items for t in item.targets])
        return batch

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        inputs = {key: value for key, value in batch.items() if key != "targets"}
        return nn.functional.cross_entropy(self.model(**inputs), batch["targets"])

    def parameter_groups(self) -> tuple[list, list]:
        return (list(self.model.encoder.parameters()),
                [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")])

    def evaluate(self, items: list[ClassifierItem], batch_size: int) -> dict[str, Any]:
        loss_sum, gold, predicted = 0.0, [], []
        for start in range(0, len(items), batch_size):
            batch = {key: value.to(self.device)
                     for key, value in self.collate(items[start:start + batch_size]).items()}
            targets = batch.pop("targets")
            with autocast(self.device):
                logits = self.model(**batch).float()
            loss_sum += nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            gold += targets.tolist()
            predicted += logits.argmax(-1).tolist()
        correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
        return {"eval_loss": loss_sum / max(len(gold), 1),
                "accuracy": correct / max(len(gold), 1), "macro_f1": macro_f1(gold, predicted)}

    @torch.no_grad()
    def predict(self, texts: list[str], groups: list[list[Group]],
                batch_size: int = 32) -> list[list[dict[str, float]]]:
        """Per text, per group (a list of char spans, possibly empty): label -> log-prob."""
        if len(texts) != len(groups):
            raise MyceliumError(f"predict got {len(texts)} texts but {len(groups)} group lists")
        self.model.eval()
        results: list[list[dict[str, float]]] = []
        for start in range(0, len(texts), batch_size):
            ids, token_groups = [], []
            for text, text_groups in zip(texts[start:start + batch_size],
                                         groups[start:start + batch_size], strict=True):
                input_ids, offsets = encode_text(self.tokenizer, text, self.max_length)
                ids.append(input_ids)
                token_groups.append([span_tokens(offsets, group) for group in text_groups])
            if not any(token_groups):
                results += [[] for _ in token_groups]
                continue
            batch = {key: value.to(self.device)
                     for key, value in self._batch(ids, token_groups).items()}
            with autocast(self.device):
                rows = iter(self.model(**batch).float().log_softmax(-1).cpu().tolist())
            for problem in token_groups:
                results.append([dict(zip(self.labels, next(rows), strict=True))
                                for _ in problem])
        return results

    def checkpoint_info(self) -> CheckpointInfo:
        return CheckpointInfo(specialist=self.name, base_model=self.base, kind=self.kind,
                              labels=self.labels, max_length=self.max_length)

    def save(self, out_dir: Path, info: CheckpointInfo) -> None:
        self.model.encoder.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        save_head(self.model, out_dir)
        write_checkpoint_info(out_dir, info)
