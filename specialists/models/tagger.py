"""The IO tagger: which words of a problem belong to clauses the solution uses, and which ask.

A token classifier on any base (`AutoModelForTokenClassification`: BERT-like MiniLM, or Qwen2
through `Qwen2ForTokenClassification`), over the tags seen in training. Labels are per word
(`labels.problem_words`); a word's label sits on its FIRST sub-token and its other sub-tokens get
-100, so each word counts once in the loss and the metrics.

    tagger = load_specialist("runs/r1/tagger")
    tagger.predict(["Natalia sold 48 clips in April."])
    # [[TaggedWord(start=0, end=7, tag='O', prob=0.97), ...]]

Metrics: span F1 over maximal runs of one non-O tag (exact match of word span and tag) and the
accuracy over labelled tokens (one per word).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from mycelium.data.errors import MyceliumError
from mycelium.specialists.labels.schema import OUTSIDE, ProblemLabels
from mycelium.specialists.models.checkpoint import CheckpointInfo, write_checkpoint_info
from mycelium.specialists.models.encoding import (
    IGNORE,
    align_labels,
    autocast,
    base_kind,
    encode_text,
    load_tokenizer,
    load_weights,
    pad,
    pick_device,
    word_tokens,
)
from mycelium.specialists.problem_view import problem_words


class TaggedWord(NamedTuple):
    start: int
    end: int
    tag: str
    prob: float


@dataclass
class TaggerItem:
    input_ids: list[int]
    labels: list[int]  # per token: a tag id on each word's first sub-token, else IGNORE
    word_tokens: list[int | None]  # per word: its first sub-token (None: truncated away)
    tags: list[int]  # per word: the gold tag id


def tag_spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """Maximal runs of one non-O tag as (first word, last word + 1, tag)."""
    spans, start = set(), 0
    for index in range(1, len(tags) + 1):
        if index == len(tags) or tags[index] != tags[start]:
            if tags[start] != OUTSIDE:
                spans.add((start, index, tags[start]))
            start = index
    return spans


def span_f1(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Micro precision/recall/F1 of exact span matches, summed over problems."""
    hits = gold_count = predicted_count = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        gold_spans, predicted_spans = tag_spans(gold_tags), tag_spans(predicted_tags)
        hits += len(gold_spans & predicted_spans)
        gold_count += len(gold_spans)
        predicted_count += len(predicted_spans)
    precision = hits / predicted_count if predicted_count else 0.0
    recall = hits / gold_count if gold_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"span_precision": precision, "span_recall": recall, "span_f1": f1}


class Tagger:
    name = "tagger"

    def __init__(self, model: Any, tokenizer: Any, tags: list[str], base: str, kind: str,
                 max_length: int, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.tags = tags
        self.tag_ids = {tag: index for index, tag in enumerate(tags)}
        self.base, self.kind, self.max_length, self.device = base, kind, max_length, device

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> Tagger:
        """A fresh token-classification head on `base`, over the tags seen in `labels`."""
        from transformers import AutoModelForTokenClassification

        tokenizer = load_tokenizer(base)
        seen = {tag for row in labels for tag in row.tags}
        if not seen - {OUTSIDE}:
            raise MyceliumError(f"the tagger needs tagged words, but all {len(labels)} problems "
                                "have only 'O' tags (or no words)")
        tags = sorted(seen | {OUTSIDE})
        model = load_weights(AutoModelForTokenClassification, base, num_labels=len(tags),
                             id2label=dict(enumerate(tags)),
                             label2id={tag: index for index, tag in enumerate(tags)})
        model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model, tokenizer, tags, str(base), base_kind(base, config.kind),
                   config.max_length, device)

    @classmethod
    def load(cls, path: Path, info: CheckpointInfo, *, use_cpu: bool = False) -> Tagger:
        from transformers import AutoModelForTokenClassification

        model = load_weights(AutoModelForTokenClassification, path)
        return cls(model, load_tokenizer(path), info.labels, info.base_model, info.kind,
                   info.max_length, pick_device(use_cpu))

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[TaggerItem], Counter]:
        items, dropped = [], Counter()
        for row in labels:
            unknown = [tag for tag in row.tags if tag not in self.tag_ids]
            if unknown or not row.words:
                dropped["unknown_tag" if unknown else "no_words"] += 1
                continue
            ids, offsets = encode_text(self.tokenizer, row.text, self.max_length)
            tags = [self.tag_ids[tag] for tag in row.tags]
            items.append(TaggerItem(ids, align_labels(offsets, row.words, tags),
                                    word_tokens(offsets, row.words), tags))
        return items, dropped

    def collate(self, items: list[TaggerItem]) -> dict[str, Any]:
        ids = pad([item.input_ids for item in items], self.tokenizer.pad_token_id)
        return {"input_ids": ids,
                "attention_mask": pad([[1] * len(item.input_ids) for item in items], 0),
                "labels": pad([item.labels for item in items], IGNORE)}

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model(**batch).loss

    def parameter_groups(self) -> tuple[list, list]:
        body = getattr(self.model, self.model.base_model_prefix)
        body_ids = {id(parameter) for parameter in body.parameters()}
        head = [p for p in self.model.parameters() if id(p) not in body_ids]
        return list(body.parameters()), head

    def evaluate(self, items: list[TaggerItem], batch_size: int) -> dict[str, Any]:
        loss_sum = correct = counted = 0.0
        gold, predicted = [], []
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            batch = {key: value.to(self.device) for key, value in self.collate(chunk).items()}
            with autocast(self.device):
                logits = self.model(input_ids=batch["input_ids"],
                                    attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"]
            mask = labels != IGNORE
            loss_sum += torch.nn.functional.cross_entropy(
                logits[mask], labels[mask], reduction="sum").item()
            correct += (logits.argmax(-1)[mask] == labels[mask]).sum().item()
            counted += mask.sum().item()
            best = logits.argmax(-1).tolist()
            for row, item in enumerate(chunk):
                gold.append([self.tags[tag] for tag in item.tags])
                predicted.append([OUTSIDE if token is None else self.tags[best[row][token]]
                                  for token in item.word_tokens])
        return {"eval_loss": loss_sum / max(counted, 1),
                "token_accuracy": correct / max(counted, 1), **span_f1(gold, predicted)}

    @torch.no_grad()
    def word_log_probs(self, texts: list[str], batch_size: int = 32
                       ) -> list[list[torch.Tensor | None]]:
        """Per text, per word (labels.problem_words): the log-probs of every tag (in `tags`'
        order) at the word's first token, or None for a word past `max_length` tokens, which
        the model never saw."""
        self.model.eval()
        results = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            encoded = [encode_text(self.tokenizer, text, self.max_length) for text in chunk]
            ids = pad([item[0] for item in encoded], self.tokenizer.pad_token_id)
            mask = pad([[1] * len(item[0]) for item in encoded], 0)
            with autocast(self.device):
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device)).logits.float()
            scores = logits.log_softmax(-1).cpu()
            for row, text in enumerate(chunk):
                results.append([None if token is None else scores[row, token]
                                for token in word_tokens(encoded[row][1], problem_words(text))])
        return results

    def predict(self, texts: list[str], batch_size: int = 32) -> list[list[TaggedWord]]:
        """Per text, per word (labels.problem_words): its tag and that tag's probability.
        Words past `max_length` tokens were never seen: they get ("O", 0.0)."""
        results = []
        for text, scores in zip(texts, self.word_log_probs(texts, batch_size), strict=True):
            tagged = []
            for (word_start, word_end), word in zip(problem_words(text), scores, strict=True):
                if word is None:
                    tagged.append(TaggedWord(word_start, word_end, OUTSIDE, 0.0))
                    continue
                log_prob, tag = word.max(-1)
                tagged.append(TaggedWord(word_start, word_end, self.tags[tag.item()],
                                         math.exp(log_prob.item())))
            results.append(tagged)
        return results

    def checkpoint_info(self) -> CheckpointInfo:
        return CheckpointInfo(specialist=self.name, base_model=self.base, kind=self.kind,
                              labels=self.tags, max_length=self.max_length)

    def save(self, out_dir: Path, info: CheckpointInfo) -> None:
        self.model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        write_checkpoint_info(out_dir, info)
