"""The state-aware step model (the deductive reasoner's formulation): one encoder pass over the
problem, then a program built one binary step at a time over a pool of quantities, named
constants, frequent literals and the results of earlier steps.

    reasoner = load_specialist("runs/r1/reasoner")
    found = reasoner.solve([text])[0]        # ReasonerResult: finished programs, best first

The pool. Each quantity candidate (`problem_view.candidate_quantities`: every number written in
the problem, once per value it can stand for) is the mean of its mention's token vectors plus an
embedding of which reading it is; each named constant the words allow is an embedding of its
name; each literal of the training vocabulary (2, 1/100, 4, ... seen at least twice) an
embedding of its value. A step's result joins the pool as a vector composed from its two
arguments and its operation (`compose`): what the step computed, not where its words were.
Entries an earlier step used carry a "used" embedding, and results an embedding of their age.

A step. Every (operation, first argument, second argument) over the pool is scored at once,
`v_op . tanh(W1_op a + W2_op b + W3_op context) + a . diag(u_op) b`, the context being the problem's
pooled vector, its question clause's vector and the step number; one softmax over all of
them. After each step a stop head reads the new result and the context: stop here, or go on.
So the classifier's job (which operation) and the extractor's (which arguments) are one
decision over one state, and the next step is scored knowing what has been computed.

Training labels are the validated programs (labels/), made binary: ADD and MUL of n arguments
become a chain of n-1 steps, PERCENT(x) is MUL(x, 1/100); a program with another operation, or
a literal outside the vocabulary, is dropped and counted. Teacher forcing: the loss at step t is
-log of the probability of the gold choice (both orders for ADD and MUL) given the gold steps
before it, plus the stop head's binary cross-entropy.

Inference (`solve`) is a beam search executed exactly as it goes (Fractions; a division by zero
or an oversized value drops the hypothesis), with the candidate search's settings
(solver/search.py's SearchConfig: beam width, step limit, programs kept, the soft priors on
non-whole and negative answers and unused numbers, the vote); the answer is the one whose
finished programs hold the most probability mass. No gold answer is an input.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mycelium.data.errors import MyceliumError
from mycelium.solver.executor import ExecutionError, apply
from mycelium.solver.program import Op
from mycelium.solver.search import SearchConfig
from mycelium.specialists.labels.schema import LabelConstant, LabelQuantity, ProblemLabels
from mycelium.specialists.models.checkpoint import (
    CheckpointInfo,
    load_head,
    read_checkpoint_info,
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
    move,
    native_cpu_bf16,
    pad,
    pick_device,
    span_tokens,
)
from mycelium.specialists.models.extractor import quantity_readings

OPS = ("ADD", "SUB", "MUL", "DIV")
COMMUTATIVE = frozenset({"ADD", "MUL"})
MAX_STEPS = 12  # binary steps of a training program (97% of GSM8K programs have at most 8)
MAX_AGE = 8
MIN_LITERAL_COUNT = 2  # a literal value joins the vocabulary when this many programs use it
PERCENT_LITERAL = "1/100"

# A pool reference: ("quantity", i) | ("constant", name) | ("literal", value) | ("step", j)
Ref = tuple[str, Any]


@dataclass(frozen=True)
class BinaryStep:
    op: str
    left: Ref
    right: Ref


def binarize(row: ProblemLabels) -> list[BinaryStep] | str:
    """The row's program as binary steps over pool references, or the reason it cannot be."""
    steps: list[BinaryStep] = []
    result_of: list[int] = []  # label step -> binary step holding its result

    def ref(arg: Any) -> Ref:
        if arg.kind == "quantity":
            return ("quantity", arg.index)
        if arg.kind == "constant":
            return ("constant", row.constants[arg.index].name)
        if arg.kind == "literal":
            return ("literal", arg.value)
        return ("step", result_of[arg.index])

    for step in row.steps:
        args = [ref(arg) for arg in step.args]
        if step.label == "PERCENT" and len(args) == 1:
            steps.append(BinaryStep("MUL", args[0], ("literal", PERCENT_LITERAL)))
        elif step.label in COMMUTATIVE and len(args) >= 2:
            steps.append(BinaryStep(step.label, args[0], args[1]))
            for arg in args[2:]:
                steps.append(BinaryStep(step.label, ("step", len(steps) - 1), arg))
        elif step.label in OPS and len(args) == 2:
            steps.append(BinaryStep(step.label, args[0], args[1]))
        else:
            return f"op_{step.label.lower()}"
        result_of.append(len(steps) - 1)
    if not steps:
        return "no_steps"
    if len(steps) > MAX_STEPS:
        return "too_many_steps"
    return steps


@dataclass
class ReasonerVocab:
    """What the pool can hold besides the problem's own quantities."""

    constants: list[str]  # constant names (index 0: any name not seen in training)
    literals: list[str]  # literal values, exact, as text

    @classmethod
    def from_labels(cls, labels: list[ProblemLabels],
                    max_literals: int | None = None) -> ReasonerVocab:
        """Constants seen in the labels; literals seen at least MIN_LITERAL_COUNT times, the
        `max_literals` most frequent of them when given (ties by value), and 1/100 always
        (PERCENT becomes a product with it)."""
        constants = sorted({constant.name for row in labels for constant in row.constants})
        counts = Counter(arg.value for row in labels for step in row.steps for arg in step.args
                         if arg.kind == "literal")
        frequent = sorted((value for value, count in counts.items()
                           if count >= MIN_LITERAL_COUNT),
                          key=lambda value: (-counts[value], Fraction(value)))
        if max_literals is not None:
            frequent = frequent[:max_literals]
        literals = sorted({*frequent, PERCENT_LITERAL}, key=lambda value: Fraction(value))
        return cls(["<unknown>", *constants], literals)


@dataclass
class Pool:
    """One problem's static pool: the quantity, constant and literal entries, in this order."""

    values: list[Fraction]
    refs: list[Ref]
    quantity_tokens: list[list[int]]  # per quantity: its mention's token indices
    readings: torch.Tensor  # per quantity: which reading of its mention
    constant_ids: torch.Tensor  # per constant: its vocabulary index
    mentions: list[int]  # per quantity: its mention number (readings share one)

    @property
    def size(self) -> int:
        return len(self.refs)

    @property
    def literals(self) -> slice:
        """Where the literal entries sit in the pool (after quantities and constants)."""
        return slice(len(self.quantity_tokens) + len(self.constant_ids), self.size)


def build_pool(quantities: list[LabelQuantity], constants: list[LabelConstant],
               offsets: list[tuple], vocab: ReasonerVocab) -> Pool:
    known = {name: index for index, name in enumerate(vocab.constants)}
    mentions: dict[tuple[int, int], int] = {}
    return Pool(
        values=[Fraction(q.value) for q in quantities] + [Fraction(c.value) for c in constants]
        + [Fraction(value) for value in vocab.literals],
        refs=[("quantity", i) for i in range(len(quantities))]
        + [("constant", c.name) for c in constants]
        + [("literal", value) for value in vocab.literals],
        quantity_tokens=[span_tokens(offsets, [(q.start, q.end)]) for q in quantities],
        readings=quantity_readings(quantities),
        constant_ids=torch.tensor([known.get(c.name, 0) for c in constants], dtype=torch.long),
        mentions=[mentions.setdefault((q.start, q.end), len(mentions)) for q in quantities])


class ReasonerModel(nn.Module):
    def __init__(self, encoder: nn.Module, constants: int, literals: int,
                 head_size: int = 96, step_reading: bool = False) -> None:
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.quantity = nn.Linear(hidden, hidden)
        self.reading = nn.Embedding(4, hidden)
        self.constant = nn.Embedding(constants, hidden)
        self.literal = nn.Embedding(max(literals, 1), hidden)
        self.kind = nn.Embedding(4, hidden)  # quantity, constant, literal, step result
        self.used = nn.Parameter(torch.zeros(hidden))
        self.age = nn.Embedding(MAX_AGE, hidden)
        self.no_tokens = nn.Parameter(torch.randn(hidden) * 0.02)
        self.step_number = nn.Embedding(MAX_STEPS + 1, hidden)
        self.context = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(),
                                     nn.LayerNorm(hidden))
        ops = len(OPS)
        self.left = nn.Linear(hidden, ops * head_size)
        self.right = nn.Linear(hidden, ops * head_size, bias=False)
        self.from_context = nn.Linear(hidden, ops * head_size, bias=False)
        self.score = nn.Parameter(torch.randn(ops, head_size) * head_size ** -0.5)
        # a^T diag(u_op) b: how the two arguments' vectors agree, per op, at n^2 cost
        self.agreement = nn.Parameter(torch.zeros(ops, hidden))
        self.compose = nn.ModuleList(nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(),
                                                   nn.LayerNorm(hidden)) for _ in OPS)
        self.stop = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, 1))
        self.head_size = head_size
        # Step reading: the context of step t also holds what was computed last and one
        # attention read over the problem's tokens with that as its query, so the operation
        # and arguments of the next step depend on the state (without it the context is the
        # problem and the step number only; the state reaches the scores through the pool).
        self.step_reading = step_reading
        if step_reading:
            self.read_query = nn.Linear(2 * hidden, hidden)
            self.read_out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(),
                                          nn.LayerNorm(hidden))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def _layers(self) -> Any:
        layers = getattr(getattr(self.encoder, "encoder", None), "layer", None)
        if layers is None or not hasattr(self.encoder, "embeddings"):
            raise MyceliumError(f"frozen layers need a BERT-style encoder (embeddings, then "
                                f"encoder.layer); {type(self.encoder).__name__} is not one: "
                                "train with frozen_layers 0")
        return layers

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden,
                                         attention_mask=attention_mask)

    def encode_lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     layers: int) -> torch.Tensor:
        """The hidden states after the embeddings and the first `layers` encoder layers."""
        blocks = self._layers()
        hidden = self.encoder.embeddings(input_ids=input_ids)
        mask = self._mask(hidden, attention_mask)
        for block in blocks[:layers]:
            hidden = block(hidden, mask)
        return hidden

    def encode_upper(self, lower: torch.Tensor, attention_mask: torch.Tensor,
                     layers: int) -> torch.Tensor:
        """The last hidden state from `encode_lower`'s output: the remaining layers.
        encode_upper(encode_lower(x, k), k) == encode(x)."""
        blocks, hidden = self._layers(), lower
        mask = self._mask(hidden, attention_mask)
        for block in blocks[layers:]:
            hidden = block(hidden, mask)
        return hidden

    def freeze_lower(self, layers: int) -> None:
        """No gradient into the embeddings and the first `layers` layers (their outputs are
        then computed once per problem, not once per step: Reasoner.examples)."""
        blocks = self._layers()
        for module in (self.encoder.embeddings, *blocks[:layers]):
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def span_mean(self, hidden: torch.Tensor, tokens: list[int]) -> torch.Tensor:
        if not tokens:
            return self.no_tokens
        return hidden[tokens].mean(dim=0)

    def static_pool(self, hidden: torch.Tensor, pool: Pool) -> torch.Tensor:
        """(entries, hidden) for one problem's quantities, constants and literals."""
        device = hidden.device
        parts = []
        if pool.quantity_tokens:
            mentions = torch.stack([self.span_mean(hidden, tokens)
                                    for tokens in pool.quantity_tokens])
            parts.append(self.quantity(mentions) + self.reading(pool.readings.to(device))
                         + self.kind.weight[0])
        if len(pool.constant_ids):
            parts.append(self.constant(pool.constant_ids.to(device)) + self.kind.weight[1])
        literals = pool.size - len(pool.quantity_tokens) - len(pool.constant_ids)
        if literals:
            parts.append(self.literal.weight[:literals] + self.kind.weight[2])
        return torch.cat(parts)

    def problem_context(self, hidden: torch.Tensor, mask: torch.Tensor,
                        question: list[int]) -> torch.Tensor:
        """The problem's pooled vector and its question clause's, side by side."""
        pooled = mean_pool(hidden[None], mask[None])[0]
        return torch.cat([pooled, self.span_mean(hidden, question)])

    def read_state(self, context: torch.Tensor, tokens: torch.Tensor,
                   last: torch.Tensor | None) -> torch.Tensor:
        """The step context with the state read in: the last result (zeros before the first
        step) and an attention read over the problem's tokens queried by it."""
        last = context.new_zeros(context.shape) if last is None else last
        query = self.read_query(torch.cat([context, last]))
        weights = ((tokens @ query) / math.sqrt(query.shape[-1])).softmax(-1)
        return context + self.read_out(torch.cat([weights @ tokens, last]))

    def step_context(self, problem: torch.Tensor, step: int, tokens: torch.Tensor | None = None,
                     last: torch.Tensor | None = None) -> torch.Tensor:
        """The context vector of step `step`: the problem's, the step number's and, with step
        reading, the state's."""
        number = self.step_number.weight[min(step, MAX_STEPS)]
        context = self.context(torch.cat([problem, number]))
        if self.step_reading and tokens is not None:
            context = self.read_state(context, tokens, last)
        return context

    def step_scores(self, entries: torch.Tensor, problem: torch.Tensor, step: int,
                    literals: slice | None = None, tokens: torch.Tensor | None = None,
                    last: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(ops, n, n) scores of every (op, left, right) over the current pool, and the
        context vector. `literals`, the pool's literal block: a pair of two literals is never
        a step (0.2% of GSM8K's binary steps; `examples` drops those programs), so those
        scores are -inf and never computed: with ~70 literals in a pool of ~110, that skips
        most of the pairs."""
        ops, size, n = len(OPS), self.head_size, entries.shape[0]
        context = self.step_context(problem, step, tokens, last)
        first = self.left(entries).view(n, ops, size).transpose(0, 1)
        second = self.right(entries).view(n, ops, size).transpose(0, 1)
        agreement = (entries[None] * self.agreement[:, None, :]) @ entries.T  # ops, n, n
        return self.pair_scores(first, second, agreement, self.context_shift(context),
                                literals), context

    def context_shift(self, context: torch.Tensor) -> torch.Tensor:
        """What the context adds to every first argument's projection: (ops, 1, head)."""
        return self.from_context(context).view(len(OPS), 1, self.head_size)

    def pair_scores(self, first: torch.Tensor, second: torch.Tensor, agreement: torch.Tensor,
                    shift: torch.Tensor, literals: slice | None) -> torch.Tensor:
        """`step_scores` from the pool's projections: `first` and `second` (ops, n, head) are
        `left` and `right` of the entries, `agreement` (ops, n, n) the bilinear term, `shift`
        the context's `context_shift`."""
        ops, n = len(OPS), first.shape[1]
        first = first + shift

        def reduce(pair: torch.Tensor, op: int) -> torch.Tensor:
            pair = torch.tanh(pair) if torch.is_grad_enabled() else pair.tanh_()
            return pair @ self.score[op]

        # One operation at a time, the pair vectors reduced by a matmul: the same sums as one
        # (n, n, ops, size) tensor reduced by einsum, at a quarter of the memory traffic (the
        # search spends most of its time here: 3.5x faster at a pool of 110 entries).
        if literals is None or literals.stop <= literals.start:
            scores = torch.stack([reduce(first[op][:, None, :] + second[op][None, :, :], op)
                                  for op in range(ops)])
            return scores + agreement
        low, high = literals.start, literals.stop
        keep = torch.cat([torch.arange(0, low), torch.arange(high, n)]).to(first.device)
        scores = agreement.new_full((ops, n, n), -math.inf)
        for op in range(ops):
            # a left argument that is not a literal, with any right one
            scores[op, keep] = reduce(first[op][keep][:, None, :] + second[op][None, :, :], op)
            # a literal on the left, with a right one that is not
            scores[op, low:high, keep] = reduce(
                first[op][low:high][:, None, :] + second[op][keep][None, :, :], op)
        return scores + agreement

    def result(self, op: int, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """The vector of what `op` computed from two entries (one step, or a batch of them)."""
        return self.compose[op](torch.cat([left, right, left * right], dim=-1)) \
            + self.kind.weight[3]

    def stop_logit(self, result: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Stop after this result? One logit per result (a vector, or a batch of them)."""
        context = context.expand(*result.shape[:-1], -1)
        return self.stop(torch.cat([result, context], dim=-1))[..., 0]

    def results(self, ops: list[int], left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """`result` for k steps at once: (k, hidden), one batch per operation."""
        out = left.new_empty(left.shape)
        for op in sorted(set(ops)):
            rows = [row for row, each in enumerate(ops) if each == op]
            out[rows] = self.result(op, left[rows], right[rows])
        return out


def current_pool(static: torch.Tensor, results: list[torch.Tensor], used: set[int],
                 model: ReasonerModel) -> torch.Tensor:
    """The pool at a step: static entries, then earlier results (with their age), with the
    "used" vector on every entry an earlier step took as an argument."""
    size = static.shape[0]
    entries = mark_used(static, [entry for entry in used if entry < size], model)
    if results:
        entries = torch.cat([entries, result_rows(results, used, size, model)])
    return entries


def repeats_a_step(steps: list[tuple[int, int, int]], op: int, left: int, right: int) -> bool:
    """Whether (op, left, right) computes what an earlier step of `steps` computed from the
    same entries (either order for ADD and MUL). A program never needs one value twice: the
    earlier result is in the pool. Without this rule the search padded programs with a
    repeated step and then combined the copies ("48 + 24" twice, then their sum: dev, round 3)."""
    commutative = OPS[op] in COMMUTATIVE
    return any(earlier_op == op and ((a, b) == (left, right)
                                     or (commutative and (a, b) == (right, left)))
               for earlier_op, a, b in steps)


def mark_used(rows: torch.Tensor, taken: list[int], model: ReasonerModel) -> torch.Tensor:
    """`rows` with the "used" vector added to those at the indices `taken`."""
    if not taken:
        return rows
    flags = rows.new_zeros(rows.shape[0], 1)
    flags[sorted(taken)] = 1.0
    return rows + flags * model.used


def result_rows(results: list[torch.Tensor], used: set[int], offset: int,
                model: ReasonerModel) -> torch.Tensor:
    """The pool rows of earlier results (pool entries `offset`, `offset` + 1, ...): each
    result's vector plus its age, and the "used" vector where a later step took it."""
    ages = torch.arange(len(results) - 1, -1, -1, device=results[0].device) \
        .clamp(max=MAX_AGE - 1)
    return mark_used(torch.stack(results) + model.age(ages),
                     [entry - offset for entry in used if entry >= offset], model)


class CachedStepScores:
    """`step_scores` over `current_pool` for one problem's search, with the static entries'
    share computed once per problem instead of once per hypothesis and step.

    Between the hypotheses and steps of one problem the pool differs only in the results
    appended after the static entries and in the "used" vector added to the entries an earlier
    step took. `left` and `right` are affine and the agreement term is bilinear with a diagonal
    weight, so the static entries' projections and their agreement block are computed here
    once and corrected for "used" by rank-one terms; only the few result rows are projected per
    call. The search spent most of its time re-projecting the same ~110 static entries (a test
    holds the two to float tolerance).
    """

    def __init__(self, model: ReasonerModel, static: torch.Tensor) -> None:
        ops, size, n = len(OPS), model.head_size, static.shape[0]
        self.model, self.static = model, static
        used = model.used
        self.left = model.left(static).view(n, ops, size).transpose(0, 1)  # ops, n, head
        self.right = model.right(static).view(n, ops, size).transpose(0, 1)
        self.left_used = (model.left.weight @ used).view(ops, 1, size)  # the affine part only
        self.right_used = (model.right.weight @ used).view(ops, 1, size)
        weighted = static[None] * model.agreement[:, None, :]  # ops, n, hidden
        self.agreement = weighted @ static.T  # ops, n, n
        self.cross = weighted @ used  # ops, n: entry_i . diag(u_op) used
        self.used_used = (model.agreement * used * used).sum(-1)  # ops
        # without step reading a step's context depends on its number only
        self.contexts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, results: list[torch.Tensor], used: set[int], problem: torch.Tensor,
                 step: int, literals: slice | None, tokens: torch.Tensor | None = None,
                 last: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scores, context, entries): `step_scores(current_pool(...), ...)` and that pool."""
        model, static = self.model, self.static
        ops, size, n = len(OPS), model.head_size, static.shape[0]
        first, second, agreement, entries = self.left, self.right, self.agreement, static
        taken = sorted(entry for entry in used if entry < n)
        if taken:
            flags = static.new_zeros(n)
            flags[taken] = 1.0
            rows, cols = flags.view(1, n, 1), flags.view(1, 1, n)
            first = first + rows * self.left_used
            second = second + rows * self.right_used
            # (e_i + f_i u) diag(a) (e_j + f_j u)
            #   = e_i a e_j + f_j e_i a u + f_i u a e_j + f_i f_j u a u
            agreement = (agreement + self.cross[:, :, None] * cols + rows * self.cross[:, None, :]
                         + self.used_used.view(ops, 1, 1) * rows * cols)
            entries = mark_used(static, taken, model)
        if results:
            count = len(results)
            computed = result_rows(results, used, n, model)
            first = torch.cat([first, model.left(computed).view(count, ops, size)
                               .transpose(0, 1)], dim=1)
            second = torch.cat([second, model.right(computed).view(count, ops, size)
                                .transpose(0, 1)], dim=1)
            upper = (entries[None] * model.agreement[:, None, :]) @ computed.T  # ops, n, count
            entries = torch.cat([entries, computed])
            lower = (computed[None] * model.agreement[:, None, :]) @ entries.T  # ops, count, all
            agreement = torch.cat([torch.cat([agreement, upper], dim=2), lower], dim=1)
        if model.step_reading and tokens is not None:
            context = model.step_context(problem, step, tokens, last)
            shift = model.context_shift(context)
        else:
            if step not in self.contexts:
                context = model.step_context(problem, step)
                self.contexts[step] = (context, model.context_shift(context))
            context, shift = self.contexts[step]
        return model.pair_scores(first, second, agreement, shift, literals), context, entries


def batched_losses(model: ReasonerModel, hidden: torch.Tensor, mask: torch.Tensor,
                   items: list[ReasonerItem]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The teacher-forced losses of `Reasoner._problem_losses`, summed over a batch, with step t
    of every problem scored in one pass instead of one problem at a time (training spends most
    of its time in the step model, and at these sizes most of that in per-call overhead).
    Returns (choice loss sum, stop loss sum, steps); without step reading only."""
    statics = [model.static_pool(hidden[row], item.pool) for row, item in enumerate(items)]
    problems = [model.problem_context(hidden[row], mask[row], item.question)
                for row, item in enumerate(items)]
    results: list[list[torch.Tensor]] = [[] for _ in items]
    used: list[set[int]] = [set() for _ in items]
    choice_loss = stop_loss = hidden.new_zeros(())
    steps = 0
    for number in range(max(len(item.steps) for item in items)):
        active = [row for row, item in enumerate(items) if len(item.steps) > number]
        pools = [current_pool(statics[row], results[row], used[row], model) for row in active]
        context = model.context(torch.cat(
            [torch.stack([problems[row] for row in active]),
             model.step_number.weight[min(number, MAX_STEPS)].expand(len(active), -1)], dim=-1))
        scored = SplitPools(model, pools, [items[row].pool.literals for row in active], context)
        for index, row in enumerate(active):
            op, left, right = items[row].steps[number]
            gold = [scored.log_probs[index, scored.index(index, op, left, right)]]
            if OPS[op] in COMMUTATIVE and left != right:
                gold.append(scored.log_probs[index, scored.index(index, op, right, left)])
            choice_loss = choice_loss - torch.logsumexp(torch.stack(gold), 0)
        chosen = [items[row].steps[number] for row in active]
        produced = model.results([op for op, _, _ in chosen],
                                 torch.stack([pool[left] for pool, (_, left, _)
                                              in zip(pools, chosen, strict=True)]),
                                 torch.stack([pool[right] for pool, (_, _, right)
                                              in zip(pools, chosen, strict=True)]))
        last = hidden.new_tensor([float(number == len(items[row].steps) - 1) for row in active])
        stop_loss = stop_loss + nn.functional.binary_cross_entropy_with_logits(
            model.stop_logit(produced, context).float(), last, reduction="sum")
        for index, (row, (_, left, right)) in enumerate(zip(active, chosen, strict=True)):
            results[row].append(produced[index])
            used[row] |= {left, right}
        steps += len(active)
    return choice_loss, stop_loss, steps


class SplitPools:
    """One step's scores for several problems at once, as log-probabilities over each
    problem's choices. Every pool holds the same literal block (the vocabulary's literals), so
    each splits into its other entries (quantities, constants, results; padded to the longest)
    and its literals. The pairs scored are `step_scores`'s: other x other, other x literal,
    literal x other, per operation; pairs of two literals and padding never enter the softmax,
    so each log-probability equals the one-problem computation's."""

    def __init__(self, model: ReasonerModel, pools: list[torch.Tensor], literal_blocks: list[slice],
                 context: torch.Tensor) -> None:
        ops, size, count = len(OPS), model.head_size, len(pools)
        self.lows = [block.start for block in literal_blocks]
        self.literals = literal_blocks[0].stop - literal_blocks[0].start
        others = [torch.cat([pool[:block.start], pool[block.stop:]])
                  for pool, block in zip(pools, literal_blocks, strict=True)]
        self.width = width = max(len(rows) for rows in others)
        other = pools[0].new_zeros(count, width, pools[0].shape[-1])
        valid = torch.zeros(count, width, dtype=torch.bool, device=other.device)
        for index, rows in enumerate(others):
            other[index, :len(rows)] = rows
            valid[index, :len(rows)] = True
        from_context = model.from_context(context).view(count, 1, ops, size)
        first = model.left(other).view(count, width, ops, size) + from_context
        second = model.right(other).view(count, width, ops, size)
        if self.literals:
            literal = torch.stack([pool[block] for pool, block
                                   in zip(pools, literal_blocks, strict=True)])
            first_literal = (model.left(literal).view(count, self.literals, ops, size)
                             + from_context)
            second_literal = model.right(literal).view(count, self.literals, ops, size)
        blocks = []
        for op in range(ops):
            agree = other * model.agreement[op]
            square = (torch.tanh(first[:, :, None, op] + second[:, None, :, op]) @ model.score[op]
                      + agree @ other.transpose(1, 2))
            parts = [square.masked_fill(~(valid[:, :, None] & valid[:, None, :]), -math.inf)]
            if self.literals:
                right = (torch.tanh(first[:, :, None, op] + second_literal[:, None, :, op])
                         @ model.score[op] + agree @ literal.transpose(1, 2))
                left = (torch.tanh(first_literal[:, :, None, op] + second[:, None, :, op])
                        @ model.score[op]
                        + (literal * model.agreement[op]) @ other.transpose(1, 2))
                parts += [right.masked_fill(~valid[:, :, None], -math.inf),
                          left.masked_fill(~valid[:, None, :], -math.inf)]
            blocks += [part.flatten(1) for part in parts]
        self.log_probs = torch.cat(blocks, dim=1).float().log_softmax(-1)

    def _place(self, problem: int, entry: int) -> tuple[bool, int]:
        """(is a literal, position in its block) of a pool entry."""
        low = self.lows[problem]
        if entry < low:
            return False, entry
        if entry < low + self.literals:
            return True, entry - low
        return False, entry - self.literals

    def index(self, problem: int, op: int, left: int, right: int) -> int:
        """The column of log_probs holding (op, left entry, right entry) of a problem's pool."""
        width, literals = self.width, self.literals
        (left_literal, i), (right_literal, j) = (self._place(problem, left),
                                                 self._place(problem, right))
        column = op * (width * width + 2 * width * literals)
        if not left_literal and not right_literal:
            return column + i * width + j
        if not left_literal:
            return column + width * width + i * literals + j
        return column + width * width + width * literals + i * width + j


def _warm_model(path: Path, vocab: ReasonerVocab,
                step_reading: bool) -> tuple[ReasonerModel, str]:
    """A model for `vocab` that starts from the reasoner checkpoint at `path` (a previous
    round's students) instead of the pretrained base: its encoder and every head weight, and
    the embeddings of the constants and literals both vocabularies hold, matched by name and
    value (a literal's row index moves when the vocabulary gains or loses values). Entries new
    to `vocab` keep their fresh initialisation. Returns the model and the base it started from
    originally, which the new checkpoint records."""
    from transformers import AutoModel

    info = read_checkpoint_info(path)
    if info.specialist != "reasoner":
        raise MyceliumError(f"init_from {path}: a {info.specialist} checkpoint; warm starts "
                            "take a reasoner checkpoint")
    if bool(info.train_config.get("step_reading", False)) != bool(step_reading):
        raise MyceliumError(f"init_from {path}: trained with step_reading="
                            f"{info.train_config.get('step_reading', False)}, asked for "
                            f"{step_reading}; warm starts keep the architecture")
    previous = ReasonerVocab(**info.vocabularies)
    model = ReasonerModel(load_weights(AutoModel, path), len(vocab.constants),
                          len(vocab.literals), step_reading=step_reading)
    old = ReasonerModel(model.encoder, len(previous.constants), len(previous.literals),
                        step_reading=step_reading)
    load_head(old, path)
    carried = {name: tensor for name, tensor in old.state_dict().items()
               if not name.startswith(("encoder.", "constant.", "literal."))}
    model.load_state_dict(carried, strict=False)
    with torch.no_grad():
        for table, new_names, old_names in ((model.constant, vocab.constants, previous.constants),
                                            (model.literal, vocab.literals, previous.literals)):
            source = {name: row for row, name in enumerate(old_names)}
            old_table = (old.constant if table is model.constant else old.literal).weight
            for row, name in enumerate(new_names):
                if name in source:
                    table.weight[row] = old_table[source[name]]
    return model, info.base_model


@dataclass
class ReasonerItem:
    input_ids: list[int]
    pool: Pool
    question: list[int]  # token indices of the question clause
    steps: list[tuple[int, int, int]]  # per binary step: (op, left entry, right entry)
    # with frozen lower layers: their output for this problem, computed once (tokens, hidden)
    lower: torch.Tensor | None = None


@dataclass
class Finished:
    """A finished program: its binary steps as (op, left ref, right ref), values, score."""

    steps: list[tuple[str, Ref, Ref]]
    values: list[Fraction]
    log_prob: float
    priors: float = 0.0
    verifier: float | None = None  # p(right) when a verifier ranked it (models/verifier.py)

    @property
    def answer(self) -> Fraction:
        return self.values[-1]

    @property
    def total(self) -> float:
        return self.log_prob + self.priors


@dataclass
class ReasonerResult:
    finished: list[Finished] = field(default_factory=list)  # best total first
    answer: Fraction | None = None  # the answer holding the most probability mass
    reason: str = ""  # why there is none
    # What a verifier reads besides the programs (all from the text): per quantity candidate,
    # its mention number and value, and the mentions inside the question clause.
    mentions: list[int] = field(default_factory=list)
    quantity_values: list[Fraction] = field(default_factory=list)
    question_mentions: frozenset[int] = frozenset()

    @property
    def best(self) -> Finished | None:
        return next((f for f in self.finished if f.answer == self.answer), None)


class Reasoner:
    name = "reasoner"

    def __init__(self, model: ReasonerModel, tokenizer: Any, vocab: ReasonerVocab, base: str,
                 kind: str, max_length: int, device: torch.device,
                 frozen_layers: int = 0, progress: bool = True,
                 train_bf16: bool = False) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.base, self.kind, self.max_length, self.device = base, kind, max_length, device
        # training only: the encoder's lower layers stay as pretrained (TrainConfig)
        self.frozen_layers = frozen_layers
        # training only: the encoder under bf16 autocast on the CPU (TrainConfig.cpu_bf16);
        # evaluation and inference stay fp32 there
        self.train_bf16 = train_bf16 and device.type == "cpu"
        self.progress = progress  # a bar while the frozen layers' outputs are computed
        if frozen_layers:
            self.model.freeze_lower(frozen_layers)

    @classmethod
    def create(cls, base: str | Path, labels: list[ProblemLabels], config: Any,
               device: torch.device) -> Reasoner:
        from transformers import AutoModel

        vocab = ReasonerVocab.from_labels(labels, getattr(config, "max_literals", None))
        init_from = getattr(config, "init_from", None)
        if init_from:
            model, base = _warm_model(Path(init_from), vocab,
                                      getattr(config, "step_reading", False))
        else:
            encoder = load_weights(AutoModel, base)
            model = ReasonerModel(encoder, len(vocab.constants), len(vocab.literals),
                                  step_reading=getattr(config, "step_reading", False))
        cpu_bf16 = getattr(config, "cpu_bf16", None)
        return cls(model, load_tokenizer(base), vocab, str(base), base_kind(base, config.kind),
                   config.max_length, device, config.frozen_layers, config.progress,
                   train_bf16=native_cpu_bf16() if cpu_bf16 is None else cpu_bf16)

    @classmethod
    def load(cls, path: Path, info: CheckpointInfo, *, use_cpu: bool = False) -> Reasoner:
        from transformers import AutoModel

        vocab = ReasonerVocab(**info.vocabularies)
        model = ReasonerModel(load_weights(AutoModel, path), len(vocab.constants),
                              len(vocab.literals),
                              step_reading=bool(info.train_config.get("step_reading", False)))
        load_head(model, path)
        return cls(model, load_tokenizer(path), vocab, info.base_model, info.kind,
                   info.max_length, pick_device(use_cpu))

    # ------------------------------------------------------------------------------ training

    def _item(self, text: str, quantities: list[LabelQuantity], constants: list[LabelConstant],
              clauses: list[tuple[int, int]]) -> tuple[list[int], Pool, list[int]]:
        from mycelium.specialists.problem_view import question_span

        ids, offsets = encode_text(self.tokenizer, text, self.max_length)
        pool = build_pool(quantities, constants, offsets, self.vocab)
        question = question_span(text, clauses)
        return ids, pool, span_tokens(offsets, [question] if question else [])

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[ReasonerItem], Counter]:
        from mycelium.signals.clauses import clause_spans_many

        items, dropped = [], Counter()
        for row, clauses in zip(labels, clause_spans_many(row.text for row in labels),
                                strict=True):
            steps = binarize(row)
            if isinstance(steps, str):
                dropped[steps] += 1
                continue
            ids, pool, question = self._item(row.text, row.quantities, row.constants, clauses)
            index = {ref: position for position, ref in enumerate(pool.refs)}
            encoded, ok = [], True
            for step in steps:
                sides = []
                for ref in (step.left, step.right):
                    if ref[0] == "step":
                        sides.append(pool.size + ref[1])
                    elif ref in index:
                        sides.append(index[ref])
                    else:
                        ok = False
                        break
                if not ok:
                    break
                encoded.append((OPS.index(step.op), *sides))
            if not ok:
                dropped["literal_outside_vocabulary"] += 1
                continue
            literal_block = range(pool.literals.start, pool.literals.stop)
            if any(left in literal_block and right in literal_block
                   for _, left, right in encoded):
                dropped["literal_pair"] += 1  # two literals: the step model never scores it
                continue
            items.append(ReasonerItem(ids, pool, question, encoded))
        if self.frozen_layers:
            self._cache_lower(items)
        return items, dropped

    @torch.no_grad()
    def _cache_lower(self, items: list[ReasonerItem], batch_size: int = 32) -> None:
        """Each item's output of the frozen lower layers, once: training then runs only the
        layers above them (dropout is off there, as in any frozen module)."""
        from tqdm.auto import tqdm

        self.model.eval()
        order = sorted(range(len(items)), key=lambda index: len(items[index].input_ids))
        for start in tqdm(range(0, len(order), batch_size), desc="frozen layers, once",
                          disable=not self.progress):
            chunk = [items[index] for index in order[start:start + batch_size]]
            batch = move(self.collate(chunk), self.device)
            with autocast(self.device):
                lower = self.model.encode_lower(batch["input_ids"], batch["attention_mask"],
                                                self.frozen_layers)
            for row, item in enumerate(chunk):
                item.lower = lower[row, :len(item.input_ids)].float().cpu()

    def collate(self, items: list[ReasonerItem]) -> dict[str, Any]:
        return {"input_ids": pad([item.input_ids for item in items], self.tokenizer.pad_token_id),
                "attention_mask": pad([[1] * len(item.input_ids) for item in items], 0),
                "items": items}

    def _problem_losses(self, hidden: torch.Tensor, mask: torch.Tensor, item: ReasonerItem,
                        count_right: bool = False
                        ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """(choice loss sum, stop loss sum, steps right under teacher forcing (counted only with
        `count_right`), steps)."""
        model = self.model
        static = model.static_pool(hidden, item.pool)
        problem = model.problem_context(hidden, mask, item.question)
        tokens = hidden[mask.bool()] if model.step_reading else None
        results: list[torch.Tensor] = []
        used: set[int] = set()
        choice_loss = stop_loss = hidden.new_zeros(())
        right = 0
        for number, (op, left, right_arg) in enumerate(item.steps):
            entries = current_pool(static, results, used, model)
            scores, context = model.step_scores(entries, problem, number, item.pool.literals,
                                                tokens, results[-1] if results else None)
            flat = scores.float().reshape(-1).log_softmax(-1).view_as(scores)
            gold = [flat[op, left, right_arg]]
            if OPS[op] in COMMUTATIVE and left != right_arg:
                gold.append(flat[op, right_arg, left])
            choice_loss = choice_loss - torch.logsumexp(torch.stack(gold), 0)
            if count_right:  # evaluation only: the training loss needs no argmax
                best = int(flat.reshape(-1).argmax())
                best_op, rest = divmod(best, entries.shape[0] ** 2)
                best_left, best_right = divmod(rest, entries.shape[0])
                right += best_op == op and ({best_left, best_right} == {left, right_arg}
                                            if OPS[op] in COMMUTATIVE
                                            else (best_left, best_right) == (left, right_arg))
            produced = model.result(op, entries[left], entries[right_arg])
            last = float(number == len(item.steps) - 1)
            stop_loss = stop_loss + nn.functional.binary_cross_entropy_with_logits(
                model.stop_logit(produced, context).float(), hidden.new_tensor(last).float())
            results.append(produced)
            used |= {left, right_arg}
        return choice_loss, stop_loss, right, len(item.steps)

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        items = batch["items"]
        if self.frozen_layers:  # examples() computed each item's frozen-layer output
            width = batch["input_ids"].shape[1]
            lower = torch.stack([nn.functional.pad(item.lower, (0, 0, 0, width - len(item.lower)))
                                 for item in items]).to(self.device)
            hidden = self.model.encode_upper(lower, batch["attention_mask"], self.frozen_layers)
        elif self.train_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                hidden = self.model.encode(batch["input_ids"], batch["attention_mask"])
            hidden = hidden.float()  # the step model computes in fp32
        else:
            hidden = self.model.encode(batch["input_ids"], batch["attention_mask"])
        if not self.model.step_reading:
            choice, stop, steps = batched_losses(self.model, hidden, batch["attention_mask"],
                                                 items)
            return (choice + stop) / max(steps, 1)
        total, steps = hidden.new_zeros(()), 0
        for row, item in enumerate(batch["items"]):
            choice, stop, _, count = self._problem_losses(hidden[row], batch["attention_mask"][row],
                                                          item)
            total = total + choice + stop
            steps += count
        return total / max(steps, 1)

    def parameter_groups(self) -> tuple[list, list]:
        return ([p for p in self.model.encoder.parameters() if p.requires_grad],
                [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")])

    def evaluate(self, items: list[ReasonerItem], batch_size: int) -> dict[str, Any]:
        """Teacher-forced: loss per step, share of steps whose best choice is the gold one, and
        share of problems with every step right."""
        loss_sum = steps = right = problems_right = 0
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            batch = self.collate(chunk)
            ids = batch["input_ids"].to(self.device)
            mask = batch["attention_mask"].to(self.device)
            with autocast(self.device):
                hidden = self.model.encode(ids, mask)
            for row, item in enumerate(chunk):
                choice, stop, good, count = self._problem_losses(hidden[row].float(), mask[row],
                                                                 item, count_right=True)
                loss_sum += float(choice + stop)
                steps += count
                right += good
                problems_right += good == count
        return {"eval_loss": loss_sum / max(steps, 1), "step_exact": right / max(steps, 1),
                "problem_exact": problems_right / max(len(items), 1)}

    # ----------------------------------------------------------------------------- inference

    @torch.no_grad()
    def solve(self, texts: list[str], config: SearchConfig | None = None,
              batch_size: int = 16, plans: list[list[str] | None] | None = None
              ) -> list[ReasonerResult]:
        """Per text, the finished programs of the beam search (no gold answer involved).
        `plans` fix each problem's operations, one per binary step, and its step count:
        evaluation's oracle classifier (the operations right, the arguments the model's)."""
        from mycelium.signals.clauses import clause_spans_many
        from mycelium.specialists.problem_view import candidate_constants, candidate_quantities

        config = config or SearchConfig()
        self.model.eval()
        results = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            prepared = [self._item(text, candidate_quantities(text), candidate_constants(text),
                                   clauses)
                        for text, clauses in zip(chunk, clause_spans_many(chunk), strict=True)]
            ids = pad([item[0] for item in prepared], self.tokenizer.pad_token_id).to(self.device)
            mask = pad([[1] * len(item[0]) for item in prepared], 0).to(self.device)
            with autocast(self.device):
                hidden = self.model.encode(ids, mask).float()
            for row, (_, pool, question) in enumerate(prepared):
                plan = plans[start + row] if plans is not None else None
                results.append(self._search(hidden[row], mask[row], pool, question, config,
                                            plan))
        return results

    def _search(self, hidden: torch.Tensor, mask: torch.Tensor, pool: Pool, question: list[int],
                config: SearchConfig, plan: list[str] | None = None) -> ReasonerResult:
        model = self.model
        if not pool.quantity_tokens:
            return ReasonerResult(reason="no_numbers")
        static = model.static_pool(hidden, pool)
        problem = model.problem_context(hidden, mask, question)
        tokens = hidden[mask.bool()] if model.step_reading else None
        # a partial program: (log-prob, steps as entry triples, values, result vectors, used)
        beam: list[tuple[float, list, list[Fraction], list[torch.Tensor], set[int]]] = [
            (0.0, [], [], [], set())]
        finished: list[Finished] = []
        steps_allowed = len(plan) if plan is not None else config.max_steps
        scorer = CachedStepScores(model, static)
        for number in range(steps_allowed):
            # every hypothesis's best choices that execute: (hypothesis, score, op, left,
            # right, value); their result vectors and stop decisions then in one batch
            chosen: list[tuple[int, float, int, int, int, Fraction]] = []
            contexts, entries_of = [], []
            for hypothesis, (_, _, values, vectors, used) in enumerate(beam):
                scores, context, entries = scorer(vectors, used, problem, number, pool.literals,
                                                  tokens, vectors[-1] if vectors else None)
                contexts.append(context)
                entries_of.append(entries)
                flat = scores.reshape(-1).log_softmax(-1)
                if plan is not None:  # only the planned operation's choices
                    keep = torch.full_like(scores, -math.inf)
                    keep[OPS.index(plan[number])] = 0.0
                    flat = flat + keep.reshape(-1)
                top = flat.topk(min(config.expansions * 2, flat.numel()))
                size = entries.shape[0]
                pool_values = pool.values + values
                taken = 0
                for score, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                    op, rest = divmod(index, size * size)
                    left, right = divmod(rest, size)
                    if score == -math.inf:
                        break
                    if repeats_a_step(beam[hypothesis][1], op, left, right):
                        continue
                    try:
                        value = apply(Op(OPS[op]), [pool_values[left], pool_values[right]])
                    except ExecutionError:
                        continue
                    chosen.append((hypothesis, score, op, left, right, value))
                    taken += 1
                    if taken >= config.expansions:
                        break
            if not chosen:
                break
            produced = model.results([item[2] for item in chosen],
                                     torch.stack([entries_of[item[0]][item[3]] for item in chosen]),
                                     torch.stack([entries_of[item[0]][item[4]] for item in chosen]))
            stops = model.stop_logit(produced, torch.stack([contexts[item[0]] for item in chosen]))
            stop_logs = nn.functional.logsigmoid(stops).tolist()
            go_logs = nn.functional.logsigmoid(-stops).tolist()
            expanded = []
            for (hypothesis, score, op, left, right, value), vector, stop_log, go_log in zip(
                    chosen, produced, stop_logs, go_logs, strict=True):
                log_prob, steps, values, vectors, used = beam[hypothesis]
                new_steps = [*steps, (op, left, right)]
                if plan is None or number == len(plan) - 1:
                    finished.append(self._finish(new_steps, [*values, value],
                                                 log_prob + score + stop_log, pool, config))
                expanded.append((log_prob + score + go_log, new_steps, [*values, value],
                                 [*vectors, vector], used | {left, right}))
            expanded.sort(key=lambda hypothesis: -hypothesis[0])
            beam = expanded[:config.beam_width]
            best_finished = max((f.total for f in finished), default=-math.inf)
            if plan is None and beam[0][0] < best_finished - 12.0:  # nothing can catch up
                break
        ranked = self._rank(finished, config)
        ranked.mentions = list(pool.mentions)
        ranked.quantity_values = pool.values[:len(pool.quantity_tokens)]
        asked = set(question)
        ranked.question_mentions = frozenset(
            mention for mention, tokens in zip(pool.mentions, pool.quantity_tokens, strict=True)
            if asked.intersection(tokens))
        return ranked

    def _finish(self, steps: list[tuple[int, int, int]], values: list[Fraction],
                log_prob: float, pool: Pool, config: SearchConfig) -> Finished:
        static = pool.size

        def ref(entry: int) -> Ref:
            return pool.refs[entry] if entry < static else ("step", entry - static)

        answer = values[-1]
        priors = 0.0
        if answer.denominator != 1:
            priors -= config.fraction_penalty
        if answer < 0:
            priors -= config.negative_penalty
        if config.unused_mention_penalty:
            used = {pool.mentions[entry] for _, left, right in steps for entry in (left, right)
                    if entry < len(pool.mentions)}
            priors -= config.unused_mention_penalty * (len(set(pool.mentions)) - len(used))
        return Finished([(OPS[op], ref(left), ref(right)) for op, left, right in steps],
                        values, log_prob, priors)

    @staticmethod
    def _rank(finished: list[Finished], config: SearchConfig) -> ReasonerResult:
        if not finished:
            return ReasonerResult(reason="no_program_executes")
        unique: dict[tuple, Finished] = {}
        for program in finished:
            key = tuple(program.steps)
            if key not in unique or unique[key].total < program.total:
                unique[key] = program
        ranked = sorted(unique.values(), key=lambda program: -program.total)[:config.kept]
        if config.vote:
            mass: dict[Fraction, float] = {}
            for program in ranked:
                mass[program.answer] = mass.get(program.answer, 0.0) + math.exp(
                    program.total - ranked[0].total)
            answer = max(mass, key=lambda value: (mass[value], value == ranked[0].answer))
        else:
            answer = ranked[0].answer
        return ReasonerResult(ranked, answer)

    # --------------------------------------------------------------------------- checkpoint

    def checkpoint_info(self) -> CheckpointInfo:
        return CheckpointInfo(specialist=self.name, base_model=self.base, kind=self.kind,
                              labels=list(OPS), max_length=self.max_length,
                              vocabularies={"constants": self.vocab.constants,
                                            "literals": self.vocab.literals})

    def save(self, out_dir: Path, info: CheckpointInfo) -> None:
        self.model.encoder.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        save_head(self.model, out_dir)
        write_checkpoint_info(out_dir, info)
