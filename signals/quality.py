"""How well the attention signals find what the data says is there: the measurements behind
`benchmarks/signal_quality.py` and the layer calibration.

Ground truth comes from a GSM8K problem's reference trace (the worked solution teacher-forced
after the problem, `teacher/reference.py`) and its gold program (`build_gold_program`):
  - step boundaries: the CoT rows where a solution line begins (a line per computation);
  - each line's operands: the problem quantities the gold-program steps read from that line use.

Measurements, all from head-averaged attention rows of one or more layers:
  - boundaries (`boundary_counts`): a boundary row predicted from the JSD peaks (the production
    rule, `signals.boundaries.find_boundaries`) is correct when it lies within ±`tolerance` rows
    of a line start; recall is the share of line starts with a prediction that close. The
    baseline places the same number of boundaries uniformly at random (`random_counts`).
    With min_distance ≥ 3 and tolerance 1 no two predictions can claim one line start, so
    precision and recall count the same matches.
  - reading vs generation phase (`phase_counts`): mean JSD between consecutive rows over the
    problem tokens (reading) and over the CoT tokens (generation); the share of each phase's
    peaks that start a sentence (reading) or a line (generation) and that start on a number.
  - IAF (`iaf_hits`): per line whose gold step reads problem quantities, the problem's number
    mentions ranked by the attention the line's rows give them; hit@k when one of the first k
    is a quantity the step uses. Baselines: `nearest` ranks mentions by position alone, the
    latest first (the nearest preceding mentions of a number, for any CoT line), and
    `reading_order` takes the mentions in reading order from the first one that no earlier line
    used (earlier lines' gold links: a generous baseline).
  - IAF vs operand matching: per line, the Jaccard overlap of the problem tokens IAF picks
    (`segment_iaf`, mass 0.5) and the problem tokens operand matching links by value.

Calibration (`calibrate`): every single layer is scored by micro-F1 over the calibration
problems, then layers are added greedily (their attention averaged before the JSD) while F1
rises, up to `max_layers`; last, the peak height threshold (`height_std`) is picked from a
small grid for the chosen set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mycelium.data.gold import GoldProblem
from mycelium.data.records import TeacherTrace
from mycelium.signals.boundaries import BoundaryConfig, boundary_rows, find_boundaries
from mycelium.signals.iaf import IAFConfig, segment_iaf
from mycelium.signals.jsd import jsd_series
from mycelium.signals.operands import match_operands
from mycelium.solver.program import Quantity
from mycelium.solver.quantities import Linker, find_mentions
from mycelium.solver.reference.gsm8k_gold import build_gold_program

Span = tuple[int, int]
HEIGHT_STD_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
_ANNOTATION = re.compile(r"<<[^<>]*>>")


@dataclass
class GroundTruth:
    """What the data says about one reference trace (module doc)."""

    line_starts: list[int]  # CoT rows where lines 2.. begin (the first line starts at row 0)
    line_rows: list[tuple[int, int]]  # each line's CoT rows [start, end)
    line_quantities: list[set[Span]]  # per line, problem char spans its gold steps use
    sentence_starts: list[int]  # reading-phase rows (from the first problem token) that begin
    number_cot_rows: set[int]  # CoT rows whose token is part of a number
    number_problem_rows: set[int]  # reading-phase rows whose token is part of a number


@dataclass
class ProblemAttention:
    """One problem's measured attention: per selected layer, rows from the first problem token
    through the last CoT token (`teacher.forced.capture_problem_layers`)."""

    item: GoldProblem
    trace: TeacherTrace
    truth: GroundTruth
    layers: list[int]
    rows: np.ndarray  # [n_layers, n_rows, n_keys]
    first: int  # key position of the first problem token (row 0)

    @property
    def n_cot(self) -> int:
        return len(self.trace.cot_ids)

    def cot_rows(self, layers: Sequence[int]) -> np.ndarray:
        """Attention rows of the CoT tokens averaged over `layers`: [n_cot, n_keys]."""
        slots = [self.layers.index(layer) for layer in layers]
        return self.rows[slots, -self.n_cot:].mean(axis=0)

    def cot_jsd(self, layers: Sequence[int]) -> np.ndarray:
        prompt = len(self.trace.prompt_ids)
        return jsd_series(self.cot_rows(layers), prompt + np.arange(self.n_cot))

    def reading_jsd(self, layers: Sequence[int]) -> np.ndarray:
        """JSD between consecutive rows over the problem text (template tokens excluded)."""
        spans = self.trace.prompt_problem_spans
        last = max(index for index, span in enumerate(spans) if span is not None)
        slots = [self.layers.index(layer) for layer in layers]
        rows = self.rows[slots, :last + 1 - self.first].mean(axis=0)
        return jsd_series(rows, self.first + np.arange(last + 1 - self.first))


def ground_truth(item: GoldProblem, trace: TeacherTrace) -> GroundTruth | None:
    """Line starts and operands of a reference trace; None when the gold program is not
    reproduced (then the lines' operands are unknown)."""
    built = build_gold_program(item)
    if built.program is None or not trace.cot_ids:
        return None
    text, spans = trace.cot_text, trace.cot_spans
    starts = np.array([start for start, _ in spans])
    line_chars = [match.start() + 1 for match in re.finditer("\n", text)
                  if match.start() + 1 < len(text)]
    line_starts = sorted({int(np.searchsorted(starts, char)) for char in line_chars}
                         - {0, len(spans)})
    bounds = [0, *line_starts, len(spans)]
    line_rows = list(zip(bounds[:-1], bounds[1:], strict=True))
    annotations_per_line = [len(_ANNOTATION.findall(line))
                            for line in item.gold.solution.split("\n")]
    quantities: list[set[Span]] = [set() for _ in line_rows]
    for step in built.program.steps:
        line = _origin_line(step.origin, annotations_per_line)
        if line is None or line >= len(quantities):
            continue
        quantities[line] |= {(arg.start, arg.end) for arg in step.args
                             if isinstance(arg, Quantity)}
    number_chars = _number_chars(text)
    number_cot = {row for row, (start, end) in enumerate(spans)
                  if any(char in number_chars for char in range(start, end))}
    problem = item.problem.text
    problem_numbers = _number_chars(problem)
    sentence_chars = {0} | {match.end() for match in re.finditer(r"[.?!]\s+", problem)}
    first = next(index for index, span in enumerate(trace.prompt_problem_spans)
                 if span is not None)
    sentence_rows, number_rows = [], set()
    for index, span in enumerate(trace.prompt_problem_spans[first:]):
        if span is None:
            continue
        token_start = span[0] + len(problem[span[0]:span[1]]) - len(
            problem[span[0]:span[1]].lstrip())
        if token_start in sentence_chars and index > 0:
            sentence_rows.append(index)
        if any(char in problem_numbers for char in range(*span)):
            number_rows.add(index)
    return GroundTruth(line_starts, line_rows, quantities, sentence_rows, number_cot,
                       number_rows)


def _origin_line(origin: str, annotations_per_line: list[int]) -> int | None:
    """The 0-based solution line a gold step was read from ("annotation 3", "text line 2")."""
    match = re.fullmatch(r"(?:text|algebra) line (\d+)", origin)
    if match:
        return int(match.group(1)) - 1
    match = re.fullmatch(r"annotation (\d+)", origin)
    if match is None:
        return None
    remaining = int(match.group(1))
    for line, count in enumerate(annotations_per_line):
        if remaining <= count:
            return line
        remaining -= count
    return None


def _number_chars(text: str) -> set[int]:
    return {char for match in re.finditer(r"\d+(?:[.,]\d+)*", text)
            for char in range(match.start(), match.end())}


# ---- boundaries ---------------------------------------------------------------------------

@dataclass
class Counts:
    """Micro-averaged match counts over problems."""

    predicted: int = 0
    correct: int = 0  # predictions within tolerance of a line start
    true: int = 0
    found: int = 0  # line starts with a prediction within tolerance

    def add(self, other: Counts) -> None:
        self.predicted += other.predicted
        self.correct += other.correct
        self.true += other.true
        self.found += other.found

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.true if self.true else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "predicted": self.predicted, "true": self.true}


def match_counts(predicted: Sequence[int], true: Sequence[int], tolerance: int = 1) -> Counts:
    predicted_rows, true_rows = np.asarray(predicted), np.asarray(true)
    if len(predicted_rows) == 0 or len(true_rows) == 0:
        return Counts(len(predicted_rows), 0, len(true_rows), 0)
    distance = np.abs(predicted_rows[:, None] - true_rows[None, :])
    return Counts(len(predicted_rows), int((distance.min(axis=1) <= tolerance).sum()),
                  len(true_rows), int((distance.min(axis=0) <= tolerance).sum()))


def predicted_boundaries(jsd: np.ndarray, config: BoundaryConfig) -> list[int]:
    """Boundary rows by the production rule (a peak at r starts a step at row r + 1)."""
    return boundary_rows(find_boundaries(jsd, config))


def boundary_counts(problems: Sequence[ProblemAttention], layers: Sequence[int],
                    config: BoundaryConfig, tolerance: int = 1) -> Counts:
    total = Counts()
    for problem in problems:
        total.add(match_counts(predicted_boundaries(problem.cot_jsd(layers), config),
                               problem.truth.line_starts, tolerance))
    return total


def random_counts(problems: Sequence[ProblemAttention], layers: Sequence[int],
                  config: BoundaryConfig, tolerance: int = 1, draws: int = 20,
                  seed: int = 0) -> Counts:
    """The same number of boundaries per problem as the rule predicts, placed uniformly at
    random over rows 1..n-1; counts summed over `draws` draws (ratios are the mean)."""
    rng = np.random.default_rng(seed)
    total = Counts()
    for problem in problems:
        count = len(predicted_boundaries(problem.cot_jsd(layers), config))
        candidates = np.arange(1, problem.n_cot)
        for _ in range(draws):
            chosen = rng.choice(candidates, size=min(count, len(candidates)), replace=False)
            total.add(match_counts(chosen, problem.truth.line_starts, tolerance))
    return total


@dataclass
class Calibration:
    layers: list[int]  # boundary layers
    height_std: float
    f1: float
    iaf_layers: list[int]
    iaf_hit1: float
    per_layer_f1: dict[int, float] = field(default_factory=dict)
    per_layer_iaf_hit1: dict[int, float] = field(default_factory=dict)
    problems: int = 0

    def to_dict(self) -> dict:
        return {"layers": self.layers, "height_std": self.height_std, "f1": round(self.f1, 4),
                "iaf_layers": self.iaf_layers, "iaf_hit1": round(self.iaf_hit1, 4),
                "problems": self.problems,
                "per_layer_f1": {str(layer): round(value, 4)
                                 for layer, value in self.per_layer_f1.items()},
                "per_layer_iaf_hit1": {str(layer): round(value, 4)
                                       for layer, value in self.per_layer_iaf_hit1.items()}}


def _greedy(layers: Sequence[int], score, max_layers: int) -> tuple[list[int], float,
                                                                    dict[int, float]]:
    """The best single layer, then layers added one at a time while the score rises (their
    attention averaged); ties go to the earlier layer (a cheaper capture pass)."""
    single = {layer: score([layer]) for layer in layers}
    chosen = [max(layers, key=lambda layer: (single[layer], -layer))]
    best = single[chosen[0]]
    while len(chosen) < max_layers:
        scored = {layer: score(sorted([*chosen, layer])) for layer in layers
                  if layer not in chosen}
        if not scored:
            break
        layer = max(scored, key=lambda candidate: (scored[candidate], -candidate))
        if scored[layer] <= best:
            break
        chosen, best = sorted([*chosen, layer]), scored[layer]
    return chosen, best, single


def calibrate(problems: Sequence[ProblemAttention], base: BoundaryConfig | None = None,
              max_layers: int = 3, heights: Sequence[float] = HEIGHT_STD_GRID) -> Calibration:
    """The boundary layer set and peak threshold, and the IAF layer set, that score best on
    `problems` (module doc): boundaries by micro-F1, IAF by hit@1 over the lines."""
    if not problems:
        raise ValueError("calibration needs at least one problem with ground truth")
    base = base or BoundaryConfig()
    layers = problems[0].layers
    chosen, best, single = _greedy(
        layers, lambda subset: boundary_counts(problems, subset, base).f1, max_layers)
    height = base.height_std
    for candidate in heights:
        config = BoundaryConfig(window=base.window, polyorder=base.polyorder,
                                height_std=candidate, min_distance=base.min_distance,
                                prominence=base.prominence)
        score = boundary_counts(problems, chosen, config).f1
        if score > best:
            height, best = candidate, score

    def hit1(subset: Sequence[int]) -> float:
        counts = iaf_hits(problems, subset, with_overlap=False)
        return counts.hits["iaf"][0] / counts.lines if counts.lines else 0.0

    iaf_layers, iaf_best, iaf_single = _greedy(layers, hit1, max_layers)
    return Calibration(chosen, height, best, iaf_layers, iaf_best, single, iaf_single,
                       len(problems))


# ---- reading vs generation -----------------------------------------------------------------

@dataclass
class PhaseCounts:
    jsd_sum: float = 0.0
    pairs: int = 0
    peaks: int = 0
    at_structure: int = 0  # peaks starting a sentence (reading) or a line (generation)
    at_number: int = 0
    rows: int = 0
    number_rows: int = 0  # base rate of "at a number"

    def to_dict(self) -> dict[str, float]:
        return {"mean_jsd": round(self.jsd_sum / self.pairs, 5) if self.pairs else 0.0,
                "peaks": self.peaks,
                "share_at_boundaries": round(self.at_structure / self.peaks, 4)
                if self.peaks else 0.0,
                "share_at_numbers": round(self.at_number / self.peaks, 4) if self.peaks else 0.0,
                "number_token_share": round(self.number_rows / self.rows, 4)
                if self.rows else 0.0}


def phase_counts(problems: Sequence[ProblemAttention], layers: Sequence[int],
                 config: BoundaryConfig, tolerance: int = 1) -> dict[str, PhaseCounts]:
    reading, generation = PhaseCounts(), PhaseCounts()
    for problem in problems:
        truth = problem.truth
        for phase, jsd, structure, numbers in (
                (reading, problem.reading_jsd(layers), truth.sentence_starts,
                 truth.number_problem_rows),
                (generation, problem.cot_jsd(layers), truth.line_starts, truth.number_cot_rows)):
            phase.jsd_sum += float(jsd.sum())
            phase.pairs += len(jsd)
            phase.rows += len(jsd) + 1
            phase.number_rows += len(numbers)
            rows = predicted_boundaries(jsd, config)
            phase.peaks += len(rows)
            phase.at_structure += match_counts(rows, structure, tolerance).correct
            phase.at_number += sum(row in numbers for row in rows)
    return {"reading": reading, "generation": generation}


# ---- IAF -----------------------------------------------------------------------------------

@dataclass
class IAFCounts:
    lines: int = 0
    hits: dict[str, list[int]] = field(default_factory=lambda: {
        "iaf": [0, 0], "nearest": [0, 0], "reading_order": [0, 0]})  # [hit@1, hit@3]
    overlap_sum: float = 0.0
    overlap_lines: int = 0

    def to_dict(self) -> dict[str, float]:
        out: dict[str, float] = {"lines": self.lines}
        for name, (hit1, hit3) in self.hits.items():
            out[f"{name}_hit1"] = round(hit1 / self.lines, 4) if self.lines else 0.0
            out[f"{name}_hit3"] = round(hit3 / self.lines, 4) if self.lines else 0.0
        out["iaf_operand_overlap"] = round(self.overlap_sum / self.overlap_lines, 4) \
            if self.overlap_lines else 0.0
        return out


def iaf_hits(problems: Sequence[ProblemAttention], layers: Sequence[int],
             iaf: IAFConfig | None = None, with_overlap: bool = True) -> IAFCounts:
    iaf = iaf or IAFConfig()
    counts = IAFCounts()
    for problem in problems:
        trace, text = problem.trace, problem.item.problem.text
        keys = np.array([index for index, span in enumerate(trace.prompt_problem_spans)
                         if span is not None], dtype=np.intp)
        token_spans = [span for span in trace.prompt_problem_spans if span is not None]
        mentions = [(mention.start, mention.end) for mention in find_mentions(text)]
        if not mentions:
            continue
        # [n_mentions, n_problem_tokens]: which tokens make up each mention
        membership = np.array([[_overlaps(span, mention) for span in token_spans]
                               for mention in mentions], dtype=np.float64)
        cot = problem.cot_rows(layers)
        linker = Linker(text)
        used_before: set[Span] = set()
        for (start, end), gold in zip(problem.truth.line_rows, problem.truth.line_quantities,
                                      strict=True):
            measured = segment_iaf(cot[start:end], keys, token_spans, text, iaf)
            if with_overlap:
                line_text = trace.cot_text[trace.cot_spans[start][0]:
                                           trace.cot_spans[end - 1][1]]
                linked = {(link.problem_start, link.problem_end)
                          for link in match_operands(line_text, text, linker)
                          if link.kind == "problem"}
                _add_overlap(counts, measured.spans, linked, token_spans)
            targets = {mention for mention in mentions
                       if any(_overlaps(mention, quantity) for quantity in gold)}
            if not targets:
                continue
            mass = membership @ measured.token_mass
            by_attention = [mentions[j] for j in np.argsort(-mass, kind="stable")]
            nearest = list(reversed(mentions))
            unread = [mention for mention in mentions if mention not in used_before]
            reading = unread + [mention for mention in mentions if mention in used_before]
            counts.lines += 1
            for name, ranking in (("iaf", by_attention), ("nearest", nearest),
                                  ("reading_order", reading)):
                counts.hits[name][0] += bool(set(ranking[:1]) & targets)
                counts.hits[name][1] += bool(set(ranking[:3]) & targets)
            used_before |= targets
    return counts


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _add_overlap(counts: IAFCounts, iaf_spans: Sequence[Span], linked: set[Span],
                 token_spans: Sequence[Span]) -> None:
    """Jaccard overlap of the problem tokens inside IAF spans and inside linked operands."""
    by_iaf = {j for j, span in enumerate(token_spans) if span[0] < span[1]
              and any(_overlaps(span, chosen) for chosen in iaf_spans)}
    by_value = {j for j, span in enumerate(token_spans) if span[0] < span[1]
                and any(_overlaps(span, chosen) for chosen in linked)}
    if by_iaf or by_value:
        counts.overlap_sum += len(by_iaf & by_value) / len(by_iaf | by_value)
        counts.overlap_lines += 1
