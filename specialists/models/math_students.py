"""The MATH students: the pipeline's tagger and classifier, trained on MATH reference labels,
and an expression extractor that says which of a problem's math spans each program computes
and which it reads. Inference (inference/math_choice.py) compares their predictions with the
roles each of the structure parser's candidate programs gives the problem
(specialists/math_roles.py) and tries the candidates in the order of that agreement.

    math_tagger      word roles: I-EQUATION, I-CONSTRAINT, I-EXPRESSION, I-OBJECTIVE or O
                     (models/tagger.py's token classifier, read as log-probabilities per word)
    math_classifier  clause roles: each clause's EQUATION / CONSTRAINT / EXPRESSION /
                     OBJECTIVE (models/classifier.py's group classifier, one group per clause)
    math_extractor   span roles: each math span's TARGET / GIVEN / UNUSED, the expression each
                     clause contributes to the program (the group classifier over one group per
                     math span, trained from the label row's program)

    extractor = load_specialist("runs/math-cpu/round-1/checkpoints/math_extractor")
    extractor.predict_spans(["If $2x+3=7$, what is $x^2$?"])
    # [[{"GIVEN": -0.1, "TARGET": -3.2, "UNUSED": -4.0}, {"GIVEN": -2.9, "TARGET": -0.1, ...}]]

Separate rows of the registry (specialists/registry.py, family "math") from the GSM8K
pipeline's, so one checkpoint folder can hold both and each dataset finds its own.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from mycelium.data.errors import MyceliumError
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_structure import math_spans
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.math_roles import SPAN_ROLES, program_span_roles
from mycelium.specialists.models.classifier import Classifier, ClassifierItem
from mycelium.specialists.models.encoding import (
    encode_text,
    span_tokens,
)
from mycelium.specialists.models.tagger import Tagger


def _math_only(labels: list[ProblemLabels], name: str) -> list[ProblemLabels]:
    rows = [row for row in labels if row.dataset == "math"]
    if not rows:
        raise MyceliumError(f"the {name} trains on MATH labels (`mycelium label --dataset "
                            f"math`), but none of the {len(labels)} rows is a MATH row")
    return rows


class _TrainsOnMathRows:
    """A pipeline student made by its own `create` from the MATH rows of the labels only (a
    store may hold GSM8K rows too); it refuses labels with none."""

    name: str

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> Any:
        return super().create(base, _math_only(labels, cls.name), config, device)


class MathTagger(_TrainsOnMathRows, Tagger):
    """The IO tagger over MATH clause roles; `predict_logprobs` gives every tag's log-prob."""

    name = "math_tagger"

    def predict_logprobs(self, texts: list[str], batch_size: int = 32
                         ) -> list[list[dict[str, float]]]:
        """Per text, per word (problem_words): tag -> log-prob; {} for a word past
        `max_length` tokens, which the model never saw."""
        return [[{} if word is None else dict(zip(self.tags, word.tolist(), strict=True))
                 for word in words] for words in self.word_log_probs(texts, batch_size)]


class MathClassifier(_TrainsOnMathRows, Classifier):
    """The role classifier over MATH clauses (the label rows' steps: one clause each)."""

    name = "math_classifier"


class MathExtractor(Classifier):
    """Each math span's role in the program (TARGET / GIVEN / UNUSED), read in the context of
    the whole problem: the group classifier with one group per math span."""

    name = "math_extractor"

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> MathExtractor:
        from transformers import AutoModel

        from mycelium.specialists.models.classifier import GroupClassifierModel
        from mycelium.specialists.models.encoding import base_kind, load_tokenizer, load_weights

        _math_only(labels, cls.name)
        encoder = load_weights(AutoModel, base)
        return cls(GroupClassifierModel(encoder, len(SPAN_ROLES)), load_tokenizer(base),
                   list(SPAN_ROLES), str(base), base_kind(base, config.kind), config.max_length,
                   device)

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[ClassifierItem], Counter]:
        items, dropped = [], Counter()
        for row in labels:
            if row.dataset != "math":
                dropped["not_math"] += 1
                continue
            spans = math_spans(row.text)
            try:
                roles = program_span_roles(row.program, len(spans))
            except ExecutionError:
                dropped["bad_program"] += 1
                continue
            if not spans:  # a word problem the number rules read: no span to label
                dropped["no_math_span"] += 1
                continue
            ids, offsets = encode_text(self.tokenizer, row.text, self.max_length)
            items.append(ClassifierItem(
                ids, [span_tokens(offsets, [(span.start, span.end)]) for span in spans],
                [self.label_ids[role] for role in roles]))
        return items, dropped

    def predict_spans(self, texts: list[str], batch_size: int = 32
                      ) -> list[list[dict[str, float]]]:
        """Per text, per math span (math_spans): role -> log-prob."""
        groups = [[[(span.start, span.end)] for span in math_spans(text)] for text in texts]
        return self.predict(texts, groups, batch_size)
