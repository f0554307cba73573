"""Candidate search: a beam over step structures, operations and arguments, scored by the
specialists' log-probabilities plus execution sanity. Never by a gold answer: nothing here can
receive one.

A program is built one step at a time. Each step picks
  - a group (an id into the problem's candidate groups: a tagged operand span, the empty group of
    a step that only combines earlier results, or, for the final step, a span with the question),
  - an operation (the classifier's log-probs for that group),
  - an ordered argument list (the extractor's log-probs per position over the step's candidates:
    quantities, earlier steps, constants, literals, STOP),
and is executed exactly at once: a step that divides by zero or outgrows the size bound is
dropped there. A program ends with a step on a final group; it is kept only if every earlier step
is used by a later one. Its score is the sum of its log-probs plus soft priors on what a word
problem's answer looks like (whole, non-negative) and a penalty per tagged quantity mention that
no step uses.

The specialists are behind two callables, so the search is pure and testable with hand-made
scores:
    op_log_probs[group] -> {op: log-prob}
    arg_scorer(k, ops, groups, earlier_args, choices) -> (candidates, per (group, op) choice for
        step k its ranked rows: per position the candidate indices best first and their
        log-probs; `rank` makes them from full rows). Steps 0..k-1 are given by their ops,
        groups and arguments; one call scores every choice of a partial program.

    result = search(SearchProblem(...), SearchConfig())
    result.best.answer, result.best.steps, [c.answer for c in result.beam]
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from mycelium.solver.executor import ExecutionError, apply
from mycelium.solver.program import Op

STOP = "stop"


class CandidateLike(Protocol):
    """An argument candidate (specialists.extractor.Candidate): kind is quantity, step,
    constant, literal or stop; `index` into its kind; `value` its exact value as text."""

    kind: str
    index: int
    value: str


# (k, earlier steps' ops, their groups, their arguments, [(group, op) for step k]) ->
# (step k's candidates, ranked rows for each (group, op))
ArgScorer = Callable[[int, list[str], list[int], list[list[CandidateLike]], list[tuple[int, str]]],
                     tuple[list[CandidateLike], list["Ranked"]]]


@dataclass(frozen=True)
class SearchConfig:
    # Widths: on 80 GSM8K train problems, 8/3/4 and 5/2/3 were within a problem of each other
    # in accuracy, and the second is twice as fast.
    beam_width: int = 5  # partial programs kept per step count
    ops_per_group: int = 2  # the classifier's best ops tried for a group
    op_margin: float = 2.3  # ... unless an op is this far (in log-prob) below the group's best
    args_per_step: int = 3  # the best argument lists tried per (group, op)
    max_steps: int = 8  # GSM8K reference programs: 97% have at most 8 steps
    # Finished programs returned (the beam that eval's beam_hit looks at and the verifier
    # ranks). Round 3's reasoner on dev, its verifier refitted each time on the 659 held-out
    # train problems: kept 8 -> 214 right, beam hit 44.4%; 16 -> 216, 51.4%; 24 (beam 12)
    # -> 214, 56.1% at twice the time. Past 16 the verifier cannot use what the beam adds.
    kept: int = 16
    # Every step costs log-probs, so a bare sum favours stopping early: each step earns a bonus
    # back, and each tagged number no step uses costs a penalty. Tuned on 80 train-split problems
    # (never dev), 1-epoch MiniLM specialists: bonus 0.5 and penalty 3 or 5 gave 16.3% right,
    # bonus 0 or 1 12.5%; with tagged runs as groups (before clause groups), bonus 0 ended
    # programs early (1.7 steps, 3.7%) and 3 padded them with steps reusing numbers.
    unused_mention_penalty: float = 3.0
    step_bonus: float = 0.5
    fraction_penalty: float = 2.0  # a non-whole answer (word problems mostly count things)
    negative_penalty: float = 3.0  # a negative answer
    max_args: int = 5  # positions read per step: 99.9% of GSM8K reference steps have at most 5
    vote: bool = True  # the answer whose programs hold the most probability mass wins
    # The reasoner (specialists/models/reasoner.py) reads the same settings; this one is its
    # own: the best (op, left, right) choices expanded per partial program.
    expansions: int = 12


@dataclass(frozen=True)
class SearchProblem:
    """What the search needs of one problem; all of it comes from the text and the models."""

    step_groups: list[int]  # group ids a non-final step may take (the empty group included)
    final_groups: list[int]  # group ids the final step may take (each holds the question)
    op_log_probs: list[dict[str, float]]  # per group id
    arg_scorer: ArgScorer
    arity: Callable[[str], tuple[int, int]]  # op -> (fewest, most) arguments
    mention_of: list[int]  # per quantity candidate: its mention (readings share one)
    tagged_mentions: frozenset[int]  # mentions inside tagged operand spans
    # Per group: the quantity candidates inside it (a step's quantities come from its own
    # clauses: that is how training groups are made), and whether the group has operand words
    # that its step must then use at least one quantity of. None: no such constraint.
    inside: list[frozenset[int]] | None = None
    needs_quantity: list[bool] | None = None
    # A fixed (group, op) per step, the last one final: how evaluation puts the gold step
    # structure in place of the classifier's (an oracle stage); None at inference.
    plan: list[tuple[int, str]] | None = None


@dataclass(frozen=True)
class SearchStep:
    op: str
    group: int
    args: tuple[CandidateLike, ...]
    value: Fraction
    op_log_prob: float
    arg_log_prob: float


@dataclass(frozen=True)
class Hypothesis:
    steps: tuple[SearchStep, ...] = ()
    score: float = 0.0  # log-probs so far (priors are added when a program is finished)
    priors: float = 0.0

    @property
    def answer(self) -> Fraction:
        return self.steps[-1].value

    @property
    def total(self) -> float:
        return self.score + self.priors

    def signature(self) -> tuple:
        return tuple((step.op, tuple((a.kind, a.index, a.value) for a in step.args))
                     for step in self.steps)


@dataclass
class SearchResult:
    beam: list[Hypothesis]  # finished programs, best total score first
    answer: Fraction | None  # the chosen answer (by vote when configured)
    reason: str = ""  # why there is no answer

    @property
    def best(self) -> Hypothesis | None:
        """The best program giving the chosen answer."""
        return next((h for h in self.beam if h.answer == self.answer), None)


Ranked = list[tuple[list[int], list[float]]]  # per position: candidate indices, best first,
# and their log-probs (candidates at -inf may be left out)


def rank(log_probs: Sequence[Sequence[float]]) -> Ranked:
    """Full rows of log-probs as ranked rows (what a scorer without its own sort returns)."""
    ranked = []
    for row in log_probs:
        order = sorted((i for i in range(len(row)) if row[i] > -math.inf),
                       key=row.__getitem__, reverse=True)
        ranked.append((order, [row[i] for i in order]))
    return ranked


def top_argument_lists(ranked: Ranked, candidates: Sequence[CandidateLike], fewest: int,
                       most: int, k: int, banned: frozenset[int] = frozenset()
                       ) -> list[tuple[list[int], float]]:
    """The k most probable argument lists (candidate indices, log-prob): a list ends with STOP,
    or without one once it has `most` arguments; no candidate appears twice in one list, except
    constants and literals (2 * 2); `banned` candidates never appear. A beam of width k over
    positions: exact when k covers every prefix (a test checks against enumeration)."""
    partial: list[tuple[float, list[int]]] = [(0.0, [])]
    done: list[tuple[float, list[int]]] = []
    for position in range(min(most, len(ranked))):
        order, values = ranked[position]
        grown: list[tuple[float, list[int]]] = []
        for score, chosen in partial:
            taken = 0
            for index, value in zip(order, values, strict=True):
                if value == -math.inf:
                    break
                candidate = candidates[index]
                if index in banned or (candidate.kind in ("quantity", "step")
                                       and index in chosen):
                    continue
                if candidate.kind == STOP:
                    if len(chosen) >= fewest:
                        done.append((score + value, chosen))
                    continue
                grown.append((score + value, [*chosen, index]))
                taken += 1
                if taken >= k:
                    break
        partial = heapq.nlargest(k, grown, key=lambda item: item[0])
        if not partial:
            break
    done += [(score, chosen) for score, chosen in partial if len(chosen) == most]
    best = heapq.nlargest(k, done, key=lambda item: item[0])
    return [(chosen, score) for score, chosen in best]


def value_of(candidate: CandidateLike, results: Sequence[Fraction]) -> Fraction:
    if candidate.kind == "step":
        return results[candidate.index]
    return _fraction(candidate.value)


@functools.lru_cache(maxsize=4096)
def _fraction(text: str) -> Fraction:
    return Fraction(text)  # the same few values are read hundreds of times per problem


def search(problem: SearchProblem, config: SearchConfig | None = None) -> SearchResult:
    """Beam search over programs; see the module docstring."""
    config = config or SearchConfig()
    beam = [Hypothesis()]
    finished: list[Hypothesis] = []
    seen_finished: set[tuple] = set()
    failures: dict[str, int] = {}
    banned: dict[int, frozenset[int]] = {}  # per group: candidate positions it rules out
    max_steps = len(problem.plan) if problem.plan is not None else config.max_steps
    for k in range(max_steps):
        grown: dict[tuple, Hypothesis] = {}
        choices = [(final, group, op, op_log_prob)
                   for final, group, ops in _choices(problem, config, k)
                   for op, op_log_prob in ops if op in Op.__members__]
        for state in beam:
            # One scorer call per state scores all of its (group, op) choices.
            candidates, ranked = problem.arg_scorer(
                k, [step.op for step in state.steps], [step.group for step in state.steps],
                [list(step.args) for step in state.steps],
                [(group, op) for _, group, op, _ in choices])
            for (final, group, op, op_log_prob), rows in zip(choices, ranked, strict=True):
                if group not in banned:
                    banned[group] = _banned(problem, group, candidates)
                for child in _children(problem, config, state, group, op, op_log_prob,
                                       candidates, rows, banned[group], failures):
                    if final:
                        _finish(child, problem, config, finished, seen_finished)
                    else:
                        key = child.signature()
                        if key not in grown or grown[key].score < child.score:
                            grown[key] = child
        beam = heapq.nlargest(config.beam_width, grown.values(), key=lambda h: h.score)
        finished = heapq.nlargest(config.kept, finished, key=lambda h: h.total)
        # Stop once no partial program, given one more step's bonus, beats the worst kept one:
        # log-probs only fall as steps are added (a heuristic bound: later bonuses are ignored).
        if len(finished) >= config.kept and all(
                h.score + config.step_bonus * (len(h.steps) + 1) <= finished[-1].total
                for h in beam):
            break
        if not beam:
            break
    finished.sort(key=lambda h: h.total, reverse=True)
    if not finished:
        reason = "no_program_executes" if failures else "no_program"
        return SearchResult([], None, reason)
    votes: dict[Fraction, float] = {}
    for hypothesis in finished:
        votes[hypothesis.answer] = _logaddexp(votes.get(hypothesis.answer, -math.inf),
                                              hypothesis.total)
    answer = max(votes, key=votes.__getitem__) if config.vote else finished[0].answer
    return SearchResult(finished, answer)


def _children(problem: SearchProblem, config: SearchConfig, state: Hypothesis, group: int,
              op: str, op_log_prob: float, candidates: Sequence[CandidateLike], ranked: Ranked,
              banned: frozenset[int], failures: dict[str, int]) -> list[Hypothesis]:
    """`state` plus one step (group, op) for each of the best argument lists that executes."""
    fewest, most = problem.arity(op)
    most = max(fewest, min(most, config.max_args))
    results = [step.value for step in state.steps]
    children = []
    for chosen, arg_log_prob in top_argument_lists(ranked, candidates, fewest, most,
                                                   config.args_per_step, banned):
        args = tuple(candidates[i] for i in chosen)
        if problem.needs_quantity is not None and problem.needs_quantity[group] and \
                not any(arg.kind == "quantity" for arg in args):
            continue
        try:
            value = apply(Op(op), [value_of(arg, results) for arg in args])
        except ExecutionError as error:
            failures[error.reason] = failures.get(error.reason, 0) + 1
            continue
        step = SearchStep(op, group, args, value, op_log_prob, arg_log_prob)
        children.append(Hypothesis((*state.steps, step), state.score + op_log_prob + arg_log_prob))
    return children


def _banned(problem: SearchProblem, group: int, candidates: Sequence[CandidateLike]
            ) -> frozenset[int]:
    """Candidate positions of the quantities outside `group` (quantities come first, at the same
    positions for every step, so the search computes this once per group)."""
    if problem.inside is None:
        return frozenset()
    return frozenset(i for i, c in enumerate(candidates)
                     if c.kind == "quantity" and c.index not in problem.inside[group])


def _choices(problem: SearchProblem, config: SearchConfig, k: int
             ) -> list[tuple[bool, int, list[tuple[str, float]]]]:
    """(final?, group, [(op, log-prob)]) for step k: the classifier's best ops on every
    candidate group, or the plan's one step."""
    if problem.plan is not None:
        group, op = problem.plan[k]
        return [(k == len(problem.plan) - 1, group, [(op, 0.0)])]
    choices = []
    for final, group_ids in ((False, problem.step_groups), (True, problem.final_groups)):
        for group in group_ids:
            ops = sorted(problem.op_log_probs[group].items(), key=lambda item: -item[1])
            ops = [(op, log_prob) for op, log_prob in ops[:config.ops_per_group]
                   if log_prob >= ops[0][1] - config.op_margin]
            choices.append((final, group, ops))
    return choices


def _finish(hypothesis: Hypothesis, problem: SearchProblem, config: SearchConfig,
            finished: list[Hypothesis], seen: set[tuple]) -> None:
    """Keep a program whose every earlier step is used, with its priors added."""
    steps = hypothesis.steps
    used = {a.index for step in steps for a in step.args if a.kind == "step"}
    if any(index not in used for index in range(len(steps) - 1)):
        return
    key = hypothesis.signature()
    if key in seen:
        return
    seen.add(key)
    mentions = {problem.mention_of[a.index] for step in steps for a in step.args
                if a.kind == "quantity"}
    answer = hypothesis.answer
    priors = config.step_bonus * len(steps)
    priors -= config.unused_mention_penalty * len(problem.tagged_mentions - mentions)
    if answer.denominator != 1:
        priors -= config.fraction_penalty
    if answer < 0:
        priors -= config.negative_penalty
    finished.append(Hypothesis(steps, hypothesis.score, priors))


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
