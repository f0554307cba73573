"""From one teacher trace and its captured attention rows to a `Signals` record.

    signals = extract_signals(problem, trace, attention_rows, SignalsConfig())

Pure numpy (no torch): `attention_rows` is what `mycelium.teacher.forced.capture_traces` returns
for the trace, [n_cot_tokens, n_prompt_tokens + n_cot_tokens]. The steps:
  1. JSD between consecutive CoT tokens' attention (`jsd.jsd_series`),
  2. Savitzky-Golay smoothing and peak picking (`boundaries.find_boundaries`),
  3. segments snapped to word boundaries with exact char offsets (`segments_from_boundaries`),
  4. per segment: IAF and the problem spans it attends to (`iaf.segment_iaf`), expanded to
     clauses (`clauses.expand_to_clauses`), and operand links (`operands.match_operands`),
  5. IO tags over the problem's words: "I" for words inside any segment's clause spans.
A trace with no CoT or no peaks gives an explicit result with a reason, never an exception.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from mycelium.data.records import Problem, Segment, Signals, TeacherTrace
from mycelium.signals.boundaries import (
    BoundaryConfig,
    boundary_rows,
    find_boundaries,
    segments_from_boundaries,
)
from mycelium.signals.clauses import clause_spans, expand_to_clauses
from mycelium.signals.iaf import IAFConfig, segment_iaf
from mycelium.signals.jsd import jsd_series
from mycelium.signals.operands import match_operands
from mycelium.solver.quantities import Linker


@dataclass(frozen=True)
class SignalsConfig:
    boundaries: BoundaryConfig = field(default_factory=BoundaryConfig)
    iaf: IAFConfig = field(default_factory=IAFConfig)

    def hash(self) -> str:
        """Short stable hash of every setting: provenance for the records it produced."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def empty_signals(problem: Problem, trace: TeacherTrace, status: str,
                  config: SignalsConfig) -> Signals:
    """The explicit no-result record: `status` says why (empty_cot, too_long, failed)."""
    return Signals(problem_id=problem.id, teacher=trace.teacher, status=status, jsd=[],
                   jsd_smoothed=[], peaks=[], boundary_rows=[], segments=[],
                   config_hash=config.hash())


def extract_signals(problem: Problem, trace: TeacherTrace, attention_rows: np.ndarray | None,
                    config: SignalsConfig | None = None,
                    iaf_rows: np.ndarray | None = None) -> Signals:
    """`attention_rows` find the boundaries; `iaf_rows` (same shape; default: the same rows)
    are read for each segment's IAF, when the teacher's calibration chose other layers."""
    config = config or SignalsConfig()
    if not trace.cot_ids or attention_rows is None:
        return empty_signals(problem, trace, "empty_cot", config)
    prompt_length = len(trace.prompt_ids)
    expected = (len(trace.cot_ids), prompt_length + len(trace.cot_ids))
    if attention_rows.shape != expected:
        raise ValueError(f"attention rows for {problem.id} have shape {attention_rows.shape}, "
                         f"expected {expected} (CoT tokens x all tokens)")
    if iaf_rows is None:
        iaf_rows = attention_rows
    elif iaf_rows.shape != attention_rows.shape:
        raise ValueError(f"IAF rows for {problem.id} have shape {iaf_rows.shape}, expected "
                         f"{attention_rows.shape} (the boundary rows' shape)")
    jsd = jsd_series(attention_rows, prompt_length + np.arange(len(trace.cot_ids)))
    found = find_boundaries(jsd, config.boundaries)
    rows = boundary_rows(found)
    cuts = segments_from_boundaries(rows, trace.cot_spans, trace.cot_text)

    problem_keys = np.array([index for index, span in enumerate(trace.prompt_problem_spans)
                             if span is not None], dtype=np.intp)
    problem_spans = [span for span in trace.prompt_problem_spans if span is not None]
    clauses = clause_spans(problem.text)  # parsed once, shared by every segment
    linker = Linker(problem.text)
    segments = []
    for cut in cuts:
        measured = segment_iaf(iaf_rows[cut.token_start:cut.token_end], problem_keys,
                               problem_spans, problem.text, config.iaf)
        operands = match_operands(trace.cot_text[cut.char_start:cut.char_end], problem.text,
                                  linker)
        segments.append(Segment(
            token_start=cut.token_start, token_end=cut.token_end, char_start=cut.char_start,
            char_end=cut.char_end, iaf=float(measured.iaf), iaf_spans=list(measured.spans),
            clause_spans=expand_to_clauses(problem.text, measured.spans, clauses),
            operands=[link.to_dict() for link in operands]))
    return Signals(
        problem_id=problem.id, teacher=trace.teacher,
        status="ok" if len(found.peaks) else "no_peaks",  # no peaks: one whole-CoT segment
        jsd=[float(value) for value in found.raw],
        jsd_smoothed=[float(value) for value in found.smoothed],
        peaks=[int(peak) for peak in found.peaks], boundary_rows=rows, segments=segments,
        config_hash=config.hash())

