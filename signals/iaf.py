"""Input Attention Fraction: how much a CoT segment reads the problem, and which words it reads.

For one segment (a computation step of the teacher's chain-of-thought) `segment_iaf` takes the
attention rows of the segment's tokens over all earlier positions (already reduced over the layers
and heads the caller chose) and returns
  - `iaf`: the share of the segment's attention that lands on problem tokens (the mean over rows
    of a row's mass on problem keys divided by the row's total);
  - `token_mass`: per problem token, the attention it receives summed over the segment's rows;
  - `spans`: the problem-text char spans that receive most of it (rule below).

Span rule (IAFConfig):
  1. Candidates are problem tokens with a letter or digit. Whitespace and punctuation tokens
     ("\\n\\n", ".") are attention sinks that name no quantity or relation; special tokens have
     empty offsets and no text at all.
  2. Take the `top_k` candidates with the most mass when `top_k` is set; otherwise the smallest
     set of candidates (most mass first) covering `mass` of the candidates' total mass.
  3. Widen each token to the whole words it touches: BPE splits "Natalia" into "Nat" + "alia"
     and many tokenizers split "48" into "4" + "8", and a label must never cut a word.
  4. Merge words separated by at most `merge_gap_words` other words (punctuation does not count)
     into one span: "48 of her friends" is one phrase even when "of" draws little attention.

    result = segment_iaf(rows, problem_keys, problem_spans, problem_text, IAFConfig(mass=0.5))
    result.iaf, result.spans
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from mycelium.data.errors import MyceliumError
from mycelium.signals.clauses import word_spans

Span = tuple[int, int]

# Mass shares are sums of floats: "covers 0.5" must not fail on 0.49999999999999994.
_SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class IAFConfig:
    # When set, the k most-attended tokens, whatever share of the mass they hold.
    top_k: int | None = None
    # Otherwise the fewest tokens holding this share of the segment's problem-attention mass. Half
    # keeps the few words a step reads without sweeping in the diffuse background over the rest.
    mass: float = 0.5
    # Attended words this many words apart (or fewer) form one span: one unattended "of" or "her"
    # inside a phrase should not split it.
    merge_gap_words: int = 1

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise MyceliumError(f"IAFConfig.top_k must be at least 1 (or None), got {self.top_k}")
        if not 0 < self.mass <= 1:
            raise MyceliumError(f"IAFConfig.mass must be in (0, 1], got {self.mass}")
        if self.merge_gap_words < 0:
            raise MyceliumError(
                f"IAFConfig.merge_gap_words must be 0 or more, got {self.merge_gap_words}")


@dataclass(frozen=True)
class IAFResult:
    iaf: float  # share of the segment's attention on problem tokens, in [0, 1]
    spans: list[Span]  # sorted, word-aligned, non-overlapping char spans of the problem text
    token_mass: np.ndarray  # [n_problem_tokens] attention summed over the segment's rows


def segment_iaf(attn_rows: np.ndarray, problem_key_positions: np.ndarray,
                problem_token_spans: list[Span], problem_text: str,
                config: IAFConfig) -> IAFResult:
    """IAF and attended problem spans of one segment (rule in the module doc).

    attn_rows[i, k]: attention of the segment's i-th token on key position k.
    problem_key_positions[j]: the key position of problem token j, whose char span in
    `problem_text` is problem_token_spans[j]. Tokens with empty spans (special tokens) are not
    problem text and count nowhere.
    """
    rows = np.asarray(attn_rows, dtype=np.float64)
    keys = np.asarray(problem_key_positions, dtype=np.int64)
    if rows.ndim != 2:
        raise ValueError(f"attn_rows must be [n_rows, n_keys], got shape {rows.shape}")
    if keys.shape != (len(problem_token_spans),):
        raise ValueError(f"{keys.shape} problem key positions for "
                         f"{len(problem_token_spans)} problem token spans")
    is_text = np.array([start < end for start, end in problem_token_spans], dtype=bool)
    token_mass = rows[:, keys].sum(axis=0) * is_text

    totals = rows.sum(axis=1)
    on_problem = rows[:, keys[is_text]].sum(axis=1)
    live = totals > 0
    iaf = float(np.mean(on_problem[live] / totals[live])) if live.any() else 0.0

    chosen = _chosen_tokens(token_mass, problem_token_spans, problem_text, config)
    spans = _word_spans_of(chosen, problem_token_spans, problem_text, config.merge_gap_words)
    return IAFResult(iaf, spans, token_mass)


def _chosen_tokens(token_mass: np.ndarray, spans: list[Span], text: str,
                   config: IAFConfig) -> list[int]:
    has_word = np.array([any(char.isalnum() for char in text[start:end])
                         for start, end in spans], dtype=bool)
    candidate_mass = np.where(has_word, token_mass, 0.0)
    # Stable sort: among equal masses the earlier token comes first, so results are deterministic.
    order = [int(j) for j in np.argsort(-candidate_mass, kind="stable") if candidate_mass[j] > 0]
    if config.top_k is not None:
        return order[:config.top_k]
    if not order:
        return []
    covered = np.cumsum(candidate_mass[order])
    target = config.mass * covered[-1] * (1 - _SHARE_TOLERANCE)
    return order[:int(np.searchsorted(covered, target)) + 1]


def _word_spans_of(tokens: list[int], spans: list[Span], text: str, gap: int) -> list[Span]:
    """Chosen tokens widened to the words they touch, words `gap` words apart merged."""
    words = [word for word in word_spans(text)
             if any(char.isalnum() for char in text[word[0]:word[1]])]
    starts = [word[0] for word in words]
    chosen: set[int] = set()
    for token in tokens:
        start, end = spans[token]
        index = max(bisect_left(starts, start) - 1, 0)
        while index < len(words) and words[index][0] < end:
            if words[index][1] > start:
                chosen.add(index)
            index += 1
    merged: list[list[int]] = []
    for index in sorted(chosen):
        if merged and index - merged[-1][1] - 1 <= gap:
            merged[-1][1] = index
        else:
            merged.append([index, index])
    return [(words[first][0], words[last][1]) for first, last in merged]
