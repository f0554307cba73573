"""Computation-step boundaries of a chain-of-thought: peaks of the smoothed JSD series, snapped
to word boundaries and turned into segments.

    jsd = jsd_series(cot_attention)                      # mycelium.signals.jsd
    result = find_boundaries(jsd, BoundaryConfig())
    segments = segments_from_boundaries(boundary_rows(result), trace.cot_spans, trace.cot_text)

The rule, in one sentence: a boundary is a local maximum of the Savitzky-Golay-smoothed JSD
curve that reaches at least mean + height_std·std of that curve (population std), is at least
min_distance rows from a higher such maximum, and, when `prominence` is set, stands that far
above its surroundings (`scipy.signal.find_peaks` semantics throughout). A flat or empty curve
has no boundaries.

Index convention: `jsd[r]` compares query rows r and r+1, so a peak at r means the new step
starts at row r+1; `boundary_rows` returns those first rows. Rows are CoT tokens, in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.signal import find_peaks, savgol_filter

# A curve whose range is below this many bits is flat: JSD differences that small are float
# rounding (savgol_filter leaves ~1e-16 wiggles on a constant), not a change of focus.
_FLAT_RANGE_BITS = 1e-12

# Characters that belong to a word when they sit between two letters or digits: "Let's", "3.5",
# "1,000", "twenty-five" are one word each, so a segment never ends at "3." or starts at "'s".
_JOINERS = frozenset("'’.,-")


@dataclass(frozen=True)
class BoundaryConfig:
    """How the JSD curve is smoothed and which of its peaks count as step boundaries."""

    # Five tokens absorb single-token jitter (a digit, an operator, a comma) yet are shorter than
    # the shortest arithmetic step ("48 / 2 = 24." is 6+ tokens), so two steps never blur.
    window: int = 5
    # A quadratic follows a peak's top where a moving average (order 0-1) flattens it.
    polyorder: int = 2
    # Boundaries are rare events on the curve: one std above its mean keeps the clear jumps
    # (about the top sixth of a bell-shaped curve) and drops the within-step drift.
    height_std: float = 1.0
    # Two boundaries closer than 3 tokens would leave a step of one or two tokens, which carries
    # no computation; the higher peak wins.
    min_distance: int = 3
    # Off by default: a prominence is in bits and depends on how sharp the teacher's attention
    # is, while the height rule above adapts to each curve's own spread.
    prominence: float | None = None

    def __post_init__(self) -> None:
        if self.polyorder < 0:
            raise ValueError(f"polyorder must be >= 0, got {self.polyorder}")
        if self.window % 2 == 0 or self.window < self.polyorder + 2:
            raise ValueError(f"window must be odd and >= polyorder + 2 = {self.polyorder + 2} "
                             f"(a shorter one fits the points exactly and smooths nothing), "
                             f"got {self.window}")
        if not math.isfinite(self.height_std):
            raise ValueError(f"height_std must be finite, got {self.height_std}")
        if self.min_distance < 1:
            raise ValueError(f"min_distance must be >= 1 token, got {self.min_distance}")
        if self.prominence is not None and not (math.isfinite(self.prominence)
                                                and self.prominence >= 0):
            raise ValueError(f"prominence must be None or a finite value >= 0, "
                             f"got {self.prominence}")


@dataclass(frozen=True, eq=False)  # array fields: compare them with numpy, not ==
class BoundaryResult:
    """The curve, its smoothed form, the peak indices into it, and the height threshold used
    (inf when the curve is empty or flat: no position can be a peak)."""

    raw: np.ndarray
    smoothed: np.ndarray
    peaks: np.ndarray  # int indices r into `raw`: a new step starts at query row r + 1
    threshold: float


@dataclass(frozen=True)
class Segment:
    """One computation step: CoT tokens [token_start, token_end) and their text
    [char_start, char_end), trimmed of surrounding whitespace; both char ends are word
    boundaries."""

    token_start: int
    token_end: int  # exclusive
    char_start: int
    char_end: int  # exclusive


def smooth(jsd: np.ndarray, config: BoundaryConfig | None = None) -> np.ndarray:
    """Savitzky-Golay smoothing (`savgol_filter`, mode "interp") of the JSD series.

    A series shorter than the window is smoothed with the largest odd window that fits it; one
    shorter than polyorder + 2 (where any window would fit its points exactly) comes back
    unchanged, as a copy.
    """
    config = config or BoundaryConfig()
    series = np.asarray(jsd, dtype=np.float64)
    largest_odd = len(series) if len(series) % 2 else len(series) - 1
    window = min(config.window, largest_odd)
    if window < config.polyorder + 2:
        return series.copy()
    return savgol_filter(series, window, config.polyorder)


def find_boundaries(jsd: np.ndarray, config: BoundaryConfig | None = None) -> BoundaryResult:
    """Peaks of the smoothed JSD curve under the module's one rule; never raises on a flat,
    short or peakless series (peaks is then empty)."""
    config = config or BoundaryConfig()
    raw = np.asarray(jsd, dtype=np.float64)
    if raw.ndim != 1 or not np.all(np.isfinite(raw)):
        raise ValueError(f"jsd must be a finite 1-D series, got shape {raw.shape}")
    smoothed = smooth(raw, config)
    if len(smoothed) == 0 or np.ptp(smoothed) < _FLAT_RANGE_BITS:
        return BoundaryResult(raw, smoothed, np.zeros(0, dtype=np.intp), math.inf)
    threshold = float(smoothed.mean() + config.height_std * smoothed.std())
    peaks, _ = find_peaks(smoothed, height=threshold, distance=config.min_distance,
                          prominence=config.prominence)
    return BoundaryResult(raw, smoothed, peaks, threshold)


def boundary_rows(result: BoundaryResult) -> list[int]:
    """The first query row of each new step: peak r in the JSD series → row r + 1."""
    return [int(peak) + 1 for peak in result.peaks]


def is_word_boundary(text: str, index: int) -> bool:
    """True unless `index` splits a word, i.e. has a word character on both sides.

    Word characters are letters, digits, "_", and a joiner (' ’ . , -) between two letters or
    digits. 0 and len(text) are boundaries.
    """
    if index <= 0 or index >= len(text):
        return True
    return not (_in_word(text, index - 1) and _in_word(text, index))


def _in_word(text: str, index: int) -> bool:
    char = text[index]
    if char.isalnum() or char == "_":
        return True
    return (char in _JOINERS and 0 < index < len(text) - 1
            and text[index - 1].isalnum() and text[index + 1].isalnum())


def segments_from_boundaries(boundary_rows: Sequence[int],
                             token_char_spans: Sequence[tuple[int, int]],
                             text: str) -> list[Segment]:
    """Cut the CoT's tokens before each boundary row, snapped to word boundaries.

    `token_char_spans[r]` is the (start, end) of CoT token r in `text`; empty spans (special
    tokens) are allowed. A boundary inside a word moves back to the token where the word
    begins ("deter|mine" → "|determine"); precisely, back to the nearest token before which the
    text can be cut cleanly: no earlier token's text reaches past where the later tokens' text
    begins, and both of those positions are word boundaries. Boundaries outside 1..n-1 are
    ignored. Segments tile the tokens
    0..n-1; a segment with no visible text joins the next one (the last joins the previous), so
    a CoT with no visible text gives no segments. The covered text must start and end at word
    boundaries of `text`, as the text a tokenizer produced does.
    """
    starts, ends = _validated_spans(token_char_spans, text)
    n_tokens = len(starts)
    if n_tokens == 0:
        return []
    # cut_start[b]: where the text after a cut before token b starts; cut_end[b]: where the text
    # before it ends. Empty-span tokens carry no text and constrain neither.
    has_text = ends > starts
    cut_start = np.minimum.accumulate(np.where(has_text, starts, len(text))[::-1])[::-1]
    cut_start = np.append(cut_start, len(text))
    cut_end = np.concatenate([[0], np.maximum.accumulate(np.where(has_text, ends, 0))])
    if not (is_word_boundary(text, int(cut_start[0])) and is_word_boundary(text, int(cut_end[-1]))):
        raise ValueError("token spans must cover whole words of text: the first token starts, "
                         "or the last ends, inside a word")
    clean = [cut_end[b] <= cut_start[b] and is_word_boundary(text, int(cut_start[b]))
             and is_word_boundary(text, int(cut_end[b])) for b in range(n_tokens + 1)]
    last_clean = np.maximum.accumulate(np.where(clean, np.arange(n_tokens + 1), 0))
    snapped = sorted({int(last_clean[row]) for row in boundary_rows if 0 < row < n_tokens} - {0})

    def visible(first: int, stop: int) -> tuple[int, int] | None:
        char_start, char_end = int(cut_start[first]), int(cut_end[stop])
        piece = text[char_start:max(char_start, char_end)]
        if not piece.strip():
            return None
        # Trimming keeps both ends word boundaries: each new end is next to a space.
        return (char_start + len(piece) - len(piece.lstrip()),
                char_end - (len(piece) - len(piece.rstrip())))

    cuts = [0]
    for stop in [*snapped, n_tokens]:
        if visible(cuts[-1], stop) is not None:
            cuts.append(stop)
    if len(cuts) == 1:
        return []
    cuts[-1] = n_tokens  # blank trailing tokens join the last segment
    return [Segment(first, stop, *visible(first, stop)) for first, stop in pairwise(cuts)]


def _validated_spans(token_char_spans: Sequence[tuple[int, int]],
                     text: str) -> tuple[np.ndarray, np.ndarray]:
    spans = np.asarray(token_char_spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = spans[:, 0], spans[:, 1]
    if np.any(starts < 0) or np.any(ends < starts) or np.any(ends > len(text)):
        raise ValueError(f"token char spans must satisfy 0 <= start <= end <= len(text) = "
                         f"{len(text)}")
    return starts, ends
