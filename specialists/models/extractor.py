"""The argument extractor: which candidates each step computes with, in order.

Candidates for step k: the problem's quantities (q0, q1...), the earlier steps (s1..sk), the
constants its words allow (c0...), the literals training saw at least MIN_LITERAL_COUNT times
(l0...; rarer ones are skipped as targets, and counted), and STOP. Per step and argument position
the extractor gives a log-prob for every candidate; STOP ends the list of a variadic op (ADD,
MUL: STOP is the target at position len(args)), a fixed-arity op's length comes from the op.

Two kinds, chosen by the base (or TrainConfig.kind):
  - encoder base (MiniLM): `ScoringExtractor` here, a learned scorer. One encoder forward per
    problem; a candidate is a vector (a quantity: mean of its tokens, plus which reading
    of its mention it is and whether it lies in the step's group; an earlier step: its group
    vector + op embedding + how-many-steps-back embedding; a constant or literal: an embedding
    from the checkpoint's vocabulary); the query for (step k, position p) is an MLP of
    [group vector of k ; op embedding ; position embedding]; cross-entropy over candidates.
    Scores do not depend on the arguments chosen at other positions.
  - causal LM base (Qwen2): `GenerativeExtractor` in extractor_causal.py.

    extractor = load_specialist("runs/r1/extractor")
    scores = extractor.score_arguments([ArgumentQuery(text, quantities, constants, ops, groups)])
    scores[0][k].log_probs[p][c]; scores[0][k].greedy    # [Candidate(kind="quantity", ...), ...]

Metrics: step_exact (share of steps whose whole ordered argument list is right, greedy) and
problem_exact (share of problems with every step right).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mycelium.data.errors import MyceliumError
from mycelium.solver.program import ARITY, Op
from mycelium.solver.search import ArgScorer
from mycelium.specialists.labels.schema import LabelArg, LabelConstant, LabelQuantity, ProblemLabels
from mycelium.specialists.models.checkpoint import (
    CheckpointInfo,
    load_head,
    save_head,
    write_checkpoint_info,
)
from mycelium.specialists.models.encoding import (
    CAUSAL,
    ENCODER,
    autocast,
    base_kind,
    encode_text,
    load_tokenizer,
    load_weights,
    move,
    pad,
    pick_device,
    span_masks,
    span_tokens,
    span_vectors,
)

MIN_LITERAL_COUNT = 2  # a literal seen once is noise to the model: skipped as a target
UNKNOWN = "<unk>"  # vocabulary slot 0: an op or constant name training never saw
RECENCY = 8  # "this many steps back" embeddings; farther steps share the last one
STOP = "stop"
MAX_READINGS = 4  # a mention's written value and up to three other readings get their own vector
KIND_INDEX = {"quantity": 0, "step": 1, "constant": 2, "literal": 3, STOP: 4}

Group = list[tuple[int, int]]


@dataclass(frozen=True)
class Candidate:
    """One possible argument: `index` into the query's quantities, steps or constants, or into
    the literal vocabulary; `value` the exact value where there is one."""

    kind: str  # "quantity" | "step" | "constant" | "literal" | "stop"
    index: int
    value: str = ""

    @property
    def name(self) -> str:
        """How the causal extractor's prompt names it: q0, s1 (step 0), c0, l0, STOP."""
        if self.kind == "step":
            return f"s{self.index + 1}"
        return {"quantity": "q", "constant": "c", "literal": "l"}.get(
            self.kind, STOP.upper()) + (str(self.index) if self.kind != STOP else "")

    def matches(self, arg: LabelArg) -> bool:
        if self.kind != arg.kind:
            return False
        return self.value == arg.value if self.kind == "literal" else self.index == arg.index

    def to_arg(self) -> LabelArg:
        return LabelArg(self.kind, -1 if self.kind == "literal" else self.index, self.value)


@dataclass(frozen=True)
class ArgumentQuery:
    """One problem as the extractor sees it at inference: the text, its candidates, and the
    steps' ops and groups (from the classifier and the search; gold only when evaluating)."""

    text: str
    quantities: list[LabelQuantity]
    constants: list[LabelConstant]
    ops: list[str]
    groups: list[Group]

    @classmethod
    def from_labels(cls, row: ProblemLabels) -> ArgumentQuery:
        return cls(row.text, row.quantities, row.constants, [step.label for step in row.steps],
                   [step.group for step in row.steps])


@dataclass
class StepArguments:
    candidates: list[Candidate]
    log_probs: list[list[float]]  # [position][candidate]; -inf where a candidate is not allowed
    greedy: list[Candidate]  # the decoded argument list (STOP not included)


@dataclass
class ArgumentVocab:
    """What the extractor learned outside the base model's vocabulary; saved in mycelium.json."""

    ops: list[str]
    constants: list[str]
    literals: list[str]
    arity: dict[str, list[int]]  # op -> [fewest, most] arguments
    max_args: int  # positions scored for an op training never saw
    skipped_literals: int = 0  # literal arguments too rare to be learned

    @classmethod
    def build(cls, labels: list[ProblemLabels]) -> ArgumentVocab:
        steps = [step for row in labels for step in row.steps if step.args]
        if not steps:
            raise MyceliumError(f"the extractor needs steps with arguments, but none of the "
                                f"{len(labels)} problems has any")
        lengths: dict[str, list[int]] = {}
        for step in steps:
            lengths.setdefault(step.label, []).append(len(step.args))
        max_args = max(len(step.args) for step in steps)
        arity = {}
        for op, seen in sorted(lengths.items()):
            if op in Op.__members__:
                fewest, most = ARITY[Op(op)]
                arity[op] = [fewest, most or max(max_args, fewest)]
            else:  # a MATH role or a new op: the lengths training saw
                arity[op] = [min(seen), max(seen)]
        counts = Counter(arg.value for step in steps for arg in step.args
                         if arg.kind == "literal")
        literals = sorted(value for value, count in counts.items() if count >= MIN_LITERAL_COUNT)
        names = sorted({constant.name for row in labels for constant in row.constants})
        return cls(ops=[UNKNOWN, *sorted(lengths)], constants=[UNKNOWN, *names],
                   literals=literals, arity=arity,
                   max_args=max([max_args, *(most for _, most in arity.values())]),
                   skipped_literals=sum(count for value, count in counts.items()
                                        if count < MIN_LITERAL_COUNT))

    def bounds(self, op: str) -> tuple[int, int]:
        fewest, most = self.arity.get(op, (1, self.max_args))
        return fewest, most


def step_candidates(query: ArgumentQuery, k: int, vocab: ArgumentVocab) -> list[Candidate]:
    """Quantities, steps before k, constants, literals, STOP: the order scores come in."""
    return ([Candidate("quantity", i, q.value) for i, q in enumerate(query.quantities)]
            + [Candidate("step", j) for j in range(k)]
            + [Candidate("constant", i, c.value) for i, c in enumerate(query.constants)]
            + [Candidate("literal", i, value) for i, value in enumerate(vocab.literals)]
            + [Candidate(STOP, -1)])


def step_target(args: list[LabelArg], op: str, candidates: list[Candidate],
                vocab: ArgumentVocab) -> tuple[list[int] | None, str]:
    """Candidate index per position (STOP closing a list shorter than the most the op takes),
    or None and the reason the step cannot be a target."""
    fewest, most = vocab.bounds(op)
    if not fewest <= len(args) <= most:
        return None, "arity_mismatch"
    target = []
    for arg in args:
        index = next((i for i, c in enumerate(candidates) if c.matches(arg)), None)
        if index is None:
            return None, "rare_literal" if arg.kind == "literal" else "unlinked_argument"
        target.append(index)
    return target + ([len(candidates) - 1] if len(args) < most else []), ""


def decode_greedy(log_probs: list[list[float]], candidates: list[Candidate]) -> list[int]:
    chosen = []
    for row in log_probs:
        best = max(range(len(row)), key=row.__getitem__)
        if candidates[best].kind == STOP:
            break
        chosen.append(best)
    return chosen


def quantity_readings(quantities: list[LabelQuantity]) -> torch.Tensor:
    """Per quantity candidate: 0 for a mention's written value, 1, 2... for its other readings
    (candidates of one mention are adjacent, the written value first), capped."""
    readings, previous = [], None
    for quantity in quantities:
        span = (quantity.start, quantity.end)
        readings.append(readings[-1] + 1 if span == previous else 0)
        previous = span
    return torch.tensor([min(r, MAX_READINGS - 1) for r in readings], dtype=torch.long)


def inside_groups(query: ArgumentQuery) -> torch.Tensor:
    """[steps, quantities]: 1 where the quantity overlaps the step's group."""
    return torch.tensor([[int(any(a < q.end and q.start < b for a, b in group))
                          for q in query.quantities] for group in query.groups],
                        dtype=torch.long).reshape(len(query.groups), len(query.quantities))


@dataclass
class ExtractorItem:
    query: ArgumentQuery
    candidates: list[list[Candidate]]  # per step
    targets: list[list[int] | None]  # per step: candidate index per position, None if skipped
    gold: list[list[Candidate | str]]  # per step: its arguments (a rare literal as its value)
    input_ids: list[int] = field(default_factory=list)
    # ScoringExtractor: token lists of quantities then groups; GenerativeExtractor: LM labels
    spans: list[list[int]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


class ExtractorBase(ABC):
    """Targets, evaluation and greedy prediction, shared by both kinds of extractor; each kind
    adds examples, collate, loss, evaluate_batch, score_arguments and save."""

    name = "extractor"
    kind: str
    base: str
    max_length: int
    vocab: ArgumentVocab
    device: torch.device

    def base_items(self, labels: list[ProblemLabels]) -> tuple[list[ExtractorItem], Counter]:
        items, dropped = [], Counter()
        for row in labels:
            query = ArgumentQuery.from_labels(row)
            candidates, targets, gold = [], [], []
            for k, step in enumerate(row.steps):
                candidates.append(step_candidates(query, k, self.vocab))
                target, reason = step_target(step.args, step.label, candidates[-1], self.vocab)
                if target is None:
                    dropped[reason] += 1
                targets.append(target)
                gold.append([next((c for c in candidates[-1] if c.matches(arg)),
                                  arg.value or "?") for arg in step.args])
            if any(target is not None for target in targets):
                items.append(ExtractorItem(query, candidates, targets, gold))
            else:
                dropped["no_step_targets"] += 1
        return items, dropped

    def evaluate(self, items: list[ExtractorItem], batch_size: int) -> dict[str, Any]:
        loss_sum = positions = steps_right = steps_total = problems_right = problems_total = 0
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            loss, count, decoded = self.evaluate_batch(chunk)
            loss_sum += loss
            positions += count
            for item, steps in zip(chunk, decoded, strict=True):
                rights = []
                for target, scored, candidates in zip(item.targets, steps, item.candidates,
                                                      strict=True):
                    if target is None:
                        continue
                    expected = [candidates[i] for i in target if candidates[i].kind != STOP]
                    rights.append(scored.greedy == expected)
                steps_right += sum(rights)
                steps_total += len(rights)
                if len(rights) == len(item.targets):
                    problems_total += 1
                    problems_right += all(rights)
        return {"eval_loss": loss_sum / max(positions, 1),
                "step_exact": steps_right / max(steps_total, 1),
                "problem_exact": problems_right / max(problems_total, 1)}

    @abstractmethod
    def step_scorers(self, queries: list[ArgumentQuery], batch_size: int = 32,
                     max_positions: int | None = None) -> list[ArgScorer]:
        """Per query, the candidate search's `arg_scorer` (solver/search.py's ArgScorer):
        (k, earlier ops, earlier groups, earlier arguments, [(group, op)]) -> (step k's
        candidates, ranked rows per choice). Every extractor kind gives one; inference asks
        for nothing else."""

    def predict(self, queries: list[ArgumentQuery]) -> list[list[list[Candidate]]]:
        """Per problem, per step: the greedy argument list."""
        return [[step.greedy for step in steps] for steps in self.score_arguments(queries)]

    def checkpoint_info(self) -> CheckpointInfo:
        return CheckpointInfo(specialist=self.name, base_model=self.base, kind=self.kind,
                              labels=self.vocab.ops, vocabularies=asdict(self.vocab),
                              max_length=self.max_length)


class ArgumentScorerModel(nn.Module):
    def __init__(self, encoder: nn.Module, vocab: ArgumentVocab) -> None:
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.op = nn.Embedding(len(vocab.ops), hidden)
        self.position = nn.Embedding(vocab.max_args, hidden)
        self.recency = nn.Embedding(RECENCY, hidden)
        self.constant = nn.Embedding(len(vocab.constants), hidden)
        self.literals = len(vocab.literals)
        self.literal = nn.Embedding(max(self.literals, 1), hidden)
        self.kind = nn.Embedding(len(KIND_INDEX), hidden)
        # Two facts a mean of tokens cannot tell: which reading of a mention a candidate is
        # ("half" is 1/2 and 2: same tokens, so the same vector), and whether the quantity lies
        # in the step's own group (the clauses that feed it).
        self.reading = nn.Embedding(MAX_READINGS, hidden)
        self.inside = nn.Embedding(2, hidden)
        self.no_span = nn.Parameter(torch.randn(hidden) * 0.02)
        self.query = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(),
                                   nn.Linear(hidden, hidden))
        self.key = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        for embedding in (self.op, self.position, self.recency, self.constant, self.literal,
                          self.kind, self.reading, self.inside):
            nn.init.normal_(embedding.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                span_batch: torch.Tensor, span_masks: torch.Tensor,
                layouts: list[dict[str, Any]]) -> list[list[torch.Tensor]]:
        """Per problem, per step: log-probs (positions x candidates), candidates in
        `step_candidates` order."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        spans = span_vectors(hidden, span_batch, span_masks, self.no_span).float()
        kind = self.kind.weight
        literals = self.literal.weight[:self.literals] + kind[KIND_INDEX["literal"]]
        stop = kind[KIND_INDEX[STOP]].unsqueeze(0)
        results, offset = [], 0
        for layout in layouts:
            count, steps = layout["quantities"], len(layout["bounds"])
            quantities = (spans[offset:offset + count] + kind[KIND_INDEX["quantity"]]
                          + self.reading(layout["readings"]))
            groups = spans[offset + count:offset + count + steps]
            offset += count + steps
            ops = self.op(layout["ops"])
            constants = self.constant(layout["constants"]) + kind[KIND_INDEX["constant"]]
            per_step = []
            for k, (fewest, most) in enumerate(layout["bounds"]):
                back = (k - 1 - torch.arange(k, device=ops.device)).clamp(max=RECENCY - 1)
                earlier = groups[:k] + ops[:k] + self.recency(back) + kind[KIND_INDEX["step"]]
                inside = quantities + self.inside(layout["inside"][k])
                keys = self.key(torch.cat([inside, earlier, constants, literals, stop]))
                positions = torch.arange(most, device=ops.device)
                queries = self.query(torch.cat([groups[k].expand(most, -1),
                                                ops[k].expand(most, -1),
                                                self.position(positions)], dim=-1))
                scores = queries @ keys.T / math.sqrt(keys.shape[-1])
                # STOP only once the op has its fewest arguments
                no_stop = torch.zeros_like(scores, dtype=torch.bool)
                no_stop[:, -1] = positions < fewest
                per_step.append(scores.masked_fill(no_stop, -math.inf).log_softmax(-1))
            results.append(per_step)
        return results


class CachedStepScorer:
    """Argument log-probs of one encoded problem for any hypothesis (steps' ops and groups), the
    numbers `ArgumentScorerModel.forward` gives, from cached parts instead of a forward per
    hypothesis: a quantity's key depends only on the step's group, an earlier step's key on its
    group, op and distance, a query on (group, op, position). The candidate search asks for
    thousands of hypotheses per problem; this makes each a small matrix product.

    `groups` are the problem's candidate groups; hypotheses name them by index."""

    def __init__(self, model: ArgumentScorerModel, vocab: ArgumentVocab, query: ArgumentQuery,
                 quantity_vectors: torch.Tensor, group_vectors: torch.Tensor,
                 op_ids: dict[str, int], constant_ids: dict[str, int],
                 max_positions: int | None = None) -> None:
        self.model, self.vocab, self.query = model, vocab, query
        self.max_positions = max_positions  # positions scored per step (a search reads no more)
        self.op_ids = op_ids
        kind = model.kind.weight
        readings = quantity_readings(query.quantities).to(kind.device)
        self.quantities = quantity_vectors + kind[KIND_INDEX["quantity"]] + model.reading(readings)
        self.groups = group_vectors
        self.inside = inside_groups(query).to(kind.device)  # [groups, quantities]
        constants = model.constant(torch.tensor(
            [constant_ids.get(c.name, 0) for c in query.constants], dtype=torch.long,
            device=kind.device)) + kind[KIND_INDEX["constant"]]
        literals = model.literal.weight[:model.literals] + kind[KIND_INDEX["literal"]]
        stop = kind[KIND_INDEX[STOP]].unsqueeze(0)
        self.tail_keys = model.key(torch.cat([constants, literals, stop]))
        self.scale = math.sqrt(self.tail_keys.shape[-1])
        self._quantity_keys: dict[int, torch.Tensor] = {}
        self._step_keys: dict[tuple[int, str, int], torch.Tensor] = {}
        self._queries: dict[tuple[int, str, int], torch.Tensor] = {}
        self._candidates: dict[int, list[Candidate]] = {}

    def _op(self, op: str) -> torch.Tensor:
        return self.model.op.weight[self.op_ids.get(op, 0)]

    def quantity_keys(self, group: int) -> torch.Tensor:
        if group not in self._quantity_keys:
            self._quantity_keys[group] = self.model.key(
                self.quantities + self.model.inside(self.inside[group]))
        return self._quantity_keys[group]

    def step_key(self, group: int, op: str, back: int) -> torch.Tensor:
        key = (group, op, min(back, RECENCY - 1))
        if key not in self._step_keys:
            model = self.model
            vector = (self.groups[group] + self._op(op) + model.recency.weight[key[2]]
                      + model.kind.weight[KIND_INDEX["step"]])
            self._step_keys[key] = model.key(vector.unsqueeze(0))
        return self._step_keys[key]

    def queries(self, group: int, op: str, most: int) -> torch.Tensor:
        key = (group, op, most)
        if key not in self._queries:
            positions = self.model.position.weight[:most]
            self._queries[key] = self.model.query(torch.cat([
                self.groups[group].expand(most, -1), self._op(op).expand(most, -1), positions],
                dim=-1))
        return self._queries[key]

    def candidates(self, k: int) -> list[Candidate]:
        if k not in self._candidates:
            self._candidates[k] = step_candidates(self.query, k, self.vocab)
        return self._candidates[k]

    @torch.no_grad()
    def __call__(self, k: int, ops: list[str], groups: list[int], earlier_args: Any,
                 choices: list[tuple[int, str]]
                 ) -> tuple[list[Candidate], list[list[tuple[list[int], list[float]]]]]:
        """Step k's candidates and, for each (group, op) choice of step k, its ranked rows:
        per position the candidate indices best first with their log-probs (solver.search).
        `ops` and `groups` are steps 0..k-1; scores do not depend on earlier arguments. All
        choices are scored in one batched product."""
        bounds = []
        for _, op in choices:
            fewest, most = self.vocab.bounds(op)
            if self.max_positions is not None:
                most = max(fewest, min(most, self.max_positions))
            bounds.append((fewest, most))
        width = max(most for _, most in bounds)
        shared = torch.cat([*(self.step_key(groups[j], ops[j], k - 1 - j) for j in range(k)),
                            self.tail_keys])
        queries = torch.stack([self.queries(group, op, width) for group, op in choices])
        quantity_keys = torch.stack([self.quantity_keys(group) for group, _ in choices])
        scores = torch.cat([torch.einsum("cpd,cqd->cpq", queries, quantity_keys),
                            queries @ shared.T], dim=-1) / self.scale
        positions = torch.arange(width, device=scores.device)
        fewest = torch.tensor([low for low, _ in bounds], device=scores.device)
        # STOP only once the op has its fewest arguments
        scores[:, :, -1] = scores[:, :, -1].masked_fill(positions < fewest[:, None], -math.inf)
        values, order = scores.log_softmax(-1).float().sort(dim=-1, descending=True)
        values, order = values.tolist(), order.tolist()
        ranked = [list(zip(order[c][:most], values[c][:most], strict=True))
                  for c, (_, most) in enumerate(bounds)]
        return self.candidates(k), ranked


class ScoringExtractor(ExtractorBase):
    kind = ENCODER

    def __init__(self, model: ArgumentScorerModel, tokenizer: Any, vocab: ArgumentVocab,
                 base: str, max_length: int, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.tokenizer, self.vocab = tokenizer, vocab
        self.op_ids = {op: index for index, op in enumerate(vocab.ops)}
        self.constant_ids = {name: index for index, name in enumerate(vocab.constants)}
        self.base, self.max_length, self.device = base, max_length, device

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> ScoringExtractor:
        from transformers import AutoModel

        tokenizer = load_tokenizer(base)
        vocab = ArgumentVocab.build(labels)
        encoder = load_weights(AutoModel, base)
        return cls(ArgumentScorerModel(encoder, vocab), tokenizer, vocab, str(base),
                   config.max_length, device)

    @classmethod
    def load(cls, path: Path, info: CheckpointInfo, *, use_cpu: bool = False) -> ScoringExtractor:
        from transformers import AutoModel

        vocab = ArgumentVocab(**info.vocabularies)
        encoder = load_weights(AutoModel, path)
        model = ArgumentScorerModel(encoder, vocab)
        load_head(model, path)
        return cls(model, load_tokenizer(path), vocab, info.base_model, info.max_length,
                   pick_device(use_cpu))

    def _encode(self, query: ArgumentQuery) -> tuple[list[int], list[list[int]]]:
        ids, offsets = encode_text(self.tokenizer, query.text, self.max_length)
        spans = [span_tokens(offsets, [(q.start, q.end)]) for q in query.quantities]
        return ids, spans + [span_tokens(offsets, group) for group in query.groups]

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[ExtractorItem], Counter]:
        items, dropped = self.base_items(labels)
        for item in items:
            item.input_ids, item.spans = self._encode(item.query)
        return items, dropped

    def _batch(self, queries: list[ArgumentQuery], ids: list[list[int]],
               spans: list[list[list[int]]]) -> dict[str, Any]:
        input_ids = pad(ids, self.tokenizer.pad_token_id)
        layouts = [{"quantities": len(query.quantities),
                    "readings": quantity_readings(query.quantities),
                    "inside": inside_groups(query),
                    "bounds": [self.vocab.bounds(op) for op in query.ops],
                    "ops": torch.tensor([self.op_ids.get(op, 0) for op in query.ops],
                                        dtype=torch.long),
                    "constants": torch.tensor([self.constant_ids.get(c.name, 0)
                                               for c in query.constants], dtype=torch.long)}
                   for query in queries]
        return {"input_ids": input_ids,
                "attention_mask": pad([[1] * len(row) for row in ids], 0),
                "span_batch": torch.tensor([index for index, problem in enumerate(spans)
                                            for _ in problem], dtype=torch.long),
                "span_masks": span_masks([tokens for problem in spans for tokens in problem],
                                         input_ids.shape[1]),
                "layouts": layouts}

    def collate(self, items: list[ExtractorItem]) -> dict[str, Any]:
        batch = self._batch([item.query for item in items], [item.input_ids for item in items],
                            [item.spans for item in items])
        batch["targets"] = [item.targets for item in items]
        return batch

    def _scores(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        return self.model(**move({key: value for key, value in batch.items()
                                  if key != "targets"}, self.device))

    def _nll(self, scores: list[list[torch.Tensor]],
             targets: list[list[list[int] | None]]) -> tuple[torch.Tensor, int]:
        """Summed negative log-likelihood over every (step, position) target, and how many."""
        total, count = torch.zeros((), device=self.device), 0
        for problem_scores, problem_targets in zip(scores, targets, strict=True):
            for log_probs, target in zip(problem_scores, problem_targets, strict=True):
                if target is None:
                    continue
                rows = log_probs[torch.arange(len(target), device=self.device),
                                 torch.tensor(target, device=self.device)]
                total = total - rows.sum()
                count += len(target)
        return total, count

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        total, count = self._nll(self._scores(batch), batch["targets"])
        return total / max(count, 1)

    def parameter_groups(self) -> tuple[list, list]:
        return (list(self.model.encoder.parameters()),
                [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")])

    def _step_arguments(self, queries: list[ArgumentQuery],
                        scores: list[list[torch.Tensor]]) -> list[list[StepArguments]]:
        results = []
        for query, problem_scores in zip(queries, scores, strict=True):
            steps = []
            for k, log_probs in enumerate(problem_scores):
                candidates = step_candidates(query, k, self.vocab)
                rows = log_probs.float().cpu().tolist()
                steps.append(StepArguments(candidates, rows, [
                    candidates[i] for i in decode_greedy(rows, candidates)]))
            results.append(steps)
        return results

    def evaluate_batch(self, items: list[ExtractorItem]) -> tuple[float, int, list]:
        """Loss and greedy decodes from one forward (scores need no earlier arguments)."""
        batch = self.collate(items)
        with autocast(self.device):
            scores = self._scores(batch)
        total, count = self._nll(scores, batch["targets"])
        return total.item(), count, self._step_arguments([item.query for item in items], scores)

    @torch.no_grad()
    def score_arguments(self, queries: list[ArgumentQuery], given: Any = None,
                        batch_size: int = 32) -> list[list[StepArguments]]:
        """Per problem, per step: log-probs of every candidate at every position, and the
        greedy decode. Scores do not depend on other steps' arguments, so `given` (the causal
        extractor's earlier-step arguments) is accepted and not needed."""
        self.model.eval()
        results = []
        for start in range(0, len(queries), batch_size):
            chunk = queries[start:start + batch_size]
            encoded = [self._encode(query) for query in chunk]
            batch = self._batch(chunk, [ids for ids, _ in encoded],
                                [spans for _, spans in encoded])
            with autocast(self.device):
                scores = self._scores(batch)
            results += self._step_arguments(chunk, scores)
        return results

    @torch.no_grad()
    def step_scorers(self, queries: list[ArgumentQuery], batch_size: int = 32,
                     max_positions: int | None = None) -> list[CachedStepScorer]:
        """One encoder forward per problem; then a CachedStepScorer over each query's groups
        (its `ops` are ignored: hypotheses bring their own)."""
        self.model.eval()
        scorers = []
        for start in range(0, len(queries), batch_size):
            chunk = queries[start:start + batch_size]
            encoded = [self._encode(query) for query in chunk]
            ids = pad([item[0] for item in encoded], self.tokenizer.pad_token_id)
            mask = pad([[1] * len(item[0]) for item in encoded], 0)
            token_lists = [tokens for _, spans in encoded for tokens in spans]
            rows = torch.tensor([index for index, (_, spans) in enumerate(encoded)
                                 for _ in spans], dtype=torch.long)
            with autocast(self.device):
                hidden = self.model.encoder(input_ids=ids.to(self.device),
                                            attention_mask=mask.to(self.device)).last_hidden_state
                vectors = span_vectors(hidden, rows.to(self.device),
                                       span_masks(token_lists, ids.shape[1]).to(self.device),
                                       self.model.no_span).float()
            offset = 0
            for query in chunk:
                count, groups = len(query.quantities), len(query.groups)
                scorers.append(CachedStepScorer(
                    self.model, self.vocab, query, vectors[offset:offset + count],
                    vectors[offset + count:offset + count + groups], self.op_ids,
                    self.constant_ids, max_positions))
                offset += count + groups
        return scorers

    def save(self, out_dir: Path, info: CheckpointInfo) -> None:
        self.model.encoder.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        save_head(self.model, out_dir)
        write_checkpoint_info(out_dir, info)


def create_extractor(base: str | Path, labels: list[ProblemLabels], config: Any,
                     device: torch.device) -> ExtractorBase:
    if base_kind(base, config.kind) == CAUSAL:
        from mycelium.specialists.models.extractor_causal import GenerativeExtractor

        return GenerativeExtractor.create(base, labels, config, device)
    return ScoringExtractor.create(base, labels, config, device)


def load_extractor(path: Path, info: CheckpointInfo, *, use_cpu: bool = False) -> ExtractorBase:
    if info.kind == CAUSAL:
        from mycelium.specialists.models.extractor_causal import GenerativeExtractor

        return GenerativeExtractor.load(path, info, use_cpu=use_cpu)
    return ScoringExtractor.load(path, info, use_cpu=use_cpu)
