"""The argument extractor on a causal LM base (Qwen2): arguments written in a tiny grammar.

One sequence per problem (one forward covers all its steps in training): a prompt listing the
numbered candidates, then every step as a line whose arguments are the answer:

    Problem: Priya buys 3 notebooks that cost $4 each ...
    Numbers: q0 = 3, q1 = 4, q2 = 27, q3 = 50
    Constants: c0 = 60 (minutes_per_hour)
    Literals: l0 = 2
    Steps:
    s1 "buys 3 notebooks that cost $4 each" = MUL(q0, q1)
    s2 = SUB(q3, s1)

The loss is on the argument tokens and the closing ")" only (labels -100 on the prompt and the
step headers). Decoding is constrained to the grammar, exactly: at each position every allowed
candidate's continuation ("q0" / ", s1", or ")" for STOP) is scored by its summed token
log-probs, and the best is taken; those per-position scores are what the beam search uses.
Each piece is tokenised on its own and the ids concatenated, in training and at inference
alike, so a BPE merge across a piece boundary can never make the two disagree.

    extractor = load_specialist("runs/r1/extractor")    # a GenerativeExtractor
    extractor.score_arguments([query])[0][k].greedy
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mycelium.solver.search import Ranked, rank
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.models.checkpoint import CheckpointInfo, write_checkpoint_info
from mycelium.specialists.models.encoding import (
    CAUSAL,
    IGNORE,
    autocast,
    load_tokenizer,
    load_weights,
    pad,
    pick_device,
)
from mycelium.specialists.models.extractor import (
    STOP,
    ArgumentQuery,
    ArgumentVocab,
    Candidate,
    ExtractorBase,
    ExtractorItem,
    StepArguments,
    step_candidates,
)

END = ")"


class GenerativeExtractor(ExtractorBase):
    kind = CAUSAL

    def __init__(self, model: Any, tokenizer: Any, vocab: ArgumentVocab, base: str,
                 max_length: int, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.tokenizer, self.vocab = tokenizer, vocab
        self.base, self.max_length, self.device = base, max_length, device
        # Pieces, step headers and prompts recur (every candidate at every position): bounded
        # memo of their token ids.
        self._ids = functools.lru_cache(maxsize=8192)(self._tokenize)

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> GenerativeExtractor:
        from transformers import AutoModelForCausalLM

        tokenizer = load_tokenizer(base)
        vocab = ArgumentVocab.build(labels)
        model = load_weights(AutoModelForCausalLM, base)
        return cls(model, tokenizer, vocab, str(base), config.max_length, device)

    @classmethod
    def load(cls, path: Path, info: CheckpointInfo, *,
             use_cpu: bool = False) -> GenerativeExtractor:
        from transformers import AutoModelForCausalLM

        model = load_weights(AutoModelForCausalLM, path)
        return cls(model, load_tokenizer(path), ArgumentVocab(**info.vocabularies),
                   info.base_model, info.max_length, pick_device(use_cpu))

    def _tokenize(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, query: ArgumentQuery) -> str:
        lines = [f"Problem: {query.text}",
                 "Numbers: " + ", ".join(f"q{i} = {q.value}"
                                         for i, q in enumerate(query.quantities))]
        if query.constants:
            lines.append("Constants: " + ", ".join(f"c{i} = {c.value} ({c.name})"
                                                   for i, c in enumerate(query.constants)))
        if self.vocab.literals:
            lines.append("Literals: " + ", ".join(f"l{i} = {value}"
                                                  for i, value in enumerate(self.vocab.literals)))
        return "\n".join(lines) + "\nSteps:"

    @staticmethod
    def step_line(query: ArgumentQuery, k: int) -> str:
        clause = " ... ".join(query.text[start:end] for start, end in query.groups[k])
        quoted = f' "{clause}"' if clause else ""
        return f"\ns{k + 1}{quoted} = {query.ops[k]}("

    @staticmethod
    def piece(argument: Candidate | str, position: int) -> str:
        """The text of one argument at a position; a literal too rare for the vocabulary (only
        ever shown, as an earlier step's argument) is written as its value."""
        if isinstance(argument, Candidate) and argument.kind == STOP:
            return END
        name = argument.name if isinstance(argument, Candidate) else argument
        return f", {name}" if position else name

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[ExtractorItem], Counter]:
        items, dropped = self.base_items(labels)
        for item in items:
            ids = list(self._ids(self.prompt(item.query)))
            targets = [IGNORE] * len(ids)
            for k, (args, target) in enumerate(zip(item.gold, item.targets, strict=True)):
                line = self._ids(self.step_line(item.query, k))
                ids += line
                targets += [IGNORE] * len(line)
                # A skipped step is still written out (later steps refer to it), unlearned.
                for piece in [self.piece(arg, p) for p, arg in enumerate(args)] + [END]:
                    piece_ids = self._ids(piece)
                    ids += piece_ids
                    targets += piece_ids if target is not None else [IGNORE] * len(piece_ids)
            if len(ids) > self.max_length:
                dropped["truncated_problems"] += 1
            item.input_ids, item.labels = ids[:self.max_length], targets[:self.max_length]
        return items, dropped

    def collate(self, items: list[ExtractorItem]) -> dict[str, Any]:
        return {"input_ids": pad([item.input_ids for item in items], self.tokenizer.pad_token_id),
                "attention_mask": pad([[1] * len(item.input_ids) for item in items], 0),
                "labels": pad([item.labels for item in items], IGNORE)}

    def _log_probs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Log-prob of each target token from the hidden state before it; the LM head only
        runs on these positions (a full-vocabulary head on every position is the memory hog)."""
        logits = self.model.get_output_embeddings()(hidden).float()
        return logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def loss_sum(self, batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
        batch = {key: value.to(self.device) for key, value in batch.items()}
        hidden = self.model.base_model(input_ids=batch["input_ids"],
                                       attention_mask=batch["attention_mask"]).last_hidden_state
        labels = batch["labels"][:, 1:]
        mask = labels != IGNORE
        log_probs = self._log_probs(hidden[:, :-1][mask], labels[mask])
        return -log_probs.sum(), int(mask.sum().item())

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        total, count = self.loss_sum(batch)
        return total / max(count, 1)

    def parameter_groups(self) -> tuple[list, list]:
        return list(self.model.parameters()), []  # no new head: the LM head is pretrained

    def evaluate_batch(self, items: list[ExtractorItem]) -> tuple[float, int, list]:
        """The loss, then a constrained greedy decode of every step with the earlier steps
        written with their gold arguments (teacher forcing), so each step is judged on its
        own."""
        with autocast(self.device):
            total, count = self.loss_sum(self.collate(items))
        decoded = self.score_arguments([item.query for item in items],
                                       given=[item.gold for item in items])
        return total.item(), count, decoded

    def _continuations(self, prefix: list[int], pieces: list[tuple[int, ...]],
                       batch_size: int) -> list[float]:
        """Summed log-prob of each piece following `prefix`, `batch_size` rows a forward."""
        scores: list[float] = []
        for start in range(0, len(pieces), batch_size):
            chunk = pieces[start:start + batch_size]
            rows = [[*prefix, *piece] for piece in chunk]
            ids = pad(rows, self.tokenizer.pad_token_id).to(self.device)
            mask = pad([[1] * len(row) for row in rows], 0).to(self.device)
            with autocast(self.device):
                hidden = self.model.base_model(input_ids=ids,
                                               attention_mask=mask).last_hidden_state
            row_index = torch.tensor([row for row, piece in enumerate(chunk) for _ in piece],
                                     device=self.device)
            positions = torch.tensor([len(prefix) - 1 + offset for piece in chunk
                                      for offset in range(len(piece))], device=self.device)
            targets = torch.tensor([token for piece in chunk for token in piece],
                                   device=self.device)
            with autocast(self.device):
                token_scores = self._log_probs(hidden[row_index, positions], targets)
            sums = torch.zeros(len(chunk), device=self.device).index_add_(
                0, row_index, token_scores.float())
            scores += sums.tolist()
        return scores

    @torch.no_grad()
    def score_arguments(self, queries: list[ArgumentQuery],
                        given: list[list[list[Candidate | str]]] | None = None,
                        batch_size: int = 32) -> list[list[StepArguments]]:
        """Per problem, per step: for each position up to the greedy STOP, the log-prob of every
        candidate given the arguments chosen before it, and the greedy decode. Earlier steps are
        written with `given[problem][step]` arguments when given (a search hypothesis, or gold
        when evaluating), else with this decode's own choices. `batch_size`: candidate
        continuations scored per forward."""
        self.model.eval()
        results = []
        for number, query in enumerate(queries):
            prefix = list(self._ids(self.prompt(query)))
            steps = []
            for k, op in enumerate(query.ops):
                prefix += self._ids(self.step_line(query, k))
                candidates = step_candidates(query, k, self.vocab)
                fewest, most = self.vocab.bounds(op)
                rows, chosen, position_prefix = [], [], list(prefix)
                for position in range(most):
                    allowed = [c.kind != STOP or position >= fewest for c in candidates]
                    pieces = [self._ids(self.piece(c, position))
                              for c, ok in zip(candidates, allowed, strict=True) if ok]
                    scored = iter(self._continuations(position_prefix, pieces, batch_size))
                    row = [next(scored) if ok else -math.inf for ok in allowed]
                    rows.append(row)
                    best = max(range(len(row)), key=row.__getitem__)
                    if candidates[best].kind == STOP:
                        break
                    chosen.append(candidates[best])
                    position_prefix += self._ids(self.piece(candidates[best], position))
                written = given[number][k] if given is not None else chosen
                for piece in [self.piece(arg, p) for p, arg in enumerate(written)] + [END]:
                    prefix += self._ids(piece)
                steps.append(StepArguments(candidates, rows, chosen))
            results.append(steps)
        return results

    def step_scorers(self, queries: list[ArgumentQuery], batch_size: int = 32,
                     max_positions: int | None = None) -> list[CausalStepScorer]:
        """Per query, a scorer that re-reads each hypothesis (the generative extractor's scores
        depend on the arguments written before)."""
        return [CausalStepScorer(self, query) for query in queries]

    def save(self, out_dir: Path, info: CheckpointInfo) -> None:
        self.model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        write_checkpoint_info(out_dir, info)


@dataclass
class CausalStepScorer:
    """The candidate search's arg_scorer over a GenerativeExtractor: each call re-reads the
    hypothesis (slow, one LM pass per call; a GPU path)."""

    extractor: GenerativeExtractor
    query: ArgumentQuery

    def __call__(self, k: int, ops: list[str], groups: list[int],
                 earlier_args: list[list[Candidate]], choices: list[tuple[int, str]]
                 ) -> tuple[list[Candidate], list[Ranked]]:
        candidates, ranked = [], []
        for group, op in choices:
            query = replace(self.query, ops=[*ops, op],
                            groups=[self.query.groups[g] for g in [*groups, group]])
            scored = self.extractor.score_arguments([query], given=[[*earlier_args, []]])[0][k]
            candidates = scored.candidates
            ranked.append(rank(scored.log_probs))
        return candidates, ranked
