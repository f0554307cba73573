"""One self-contained HTML page per problem: what the teacher's attention says about its steps.

The page shows
  - the chain-of-thought with each segment (computation step) in its own colour and a marker
    at every boundary,
  - the problem text with each segment's IAF spans underlined in the segment's colour and the
    clause spans they expand to shaded,
  - the JSD curve as an inline SVG: raw (thin grey), Savitzky-Golay smoothed (dark) and the peaks
    chosen as boundaries (red dots).
No scripts, no external files: it opens from disk anywhere.
"""

from __future__ import annotations

from html import escape

from mycelium.data.records import Signals, TeacherTrace

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _cot_html(trace: TeacherTrace, signals: Signals) -> str:
    parts, cursor = [], 0
    text = trace.cot_text
    for index, segment in enumerate(signals.segments):
        parts.append(escape(text[cursor:segment.char_start]))
        title = f"step {index + 1}: IAF {segment.iaf:.2f}"
        parts.append('<span class="boundary" title="boundary">▍</span>' if index else "")
        parts.append(f'<span class="segment" style="background:{_colour(index)}33;'
                     f'border-bottom:2px solid {_colour(index)}" title="{escape(title)}">'
                     f"{escape(text[segment.char_start:segment.char_end])}</span>")
        cursor = segment.char_end
    parts.append(escape(text[cursor:]))
    return "".join(parts)


def _problem_html(problem_text: str, signals: Signals) -> str:
    """Clause spans shaded, IAF spans underlined in their segment's colour (first one wins)."""
    shade = [False] * len(problem_text)
    underline: list[str | None] = [None] * len(problem_text)
    for index, segment in enumerate(signals.segments):
        for start, end in segment.clause_spans:
            for position in range(start, min(end, len(problem_text))):
                shade[position] = True
        for start, end in segment.iaf_spans:
            for position in range(start, min(end, len(problem_text))):
                underline[position] = underline[position] or _colour(index)
    parts, position = [], 0
    while position < len(problem_text):
        end = position
        while end < len(problem_text) and (shade[end], underline[end]) == \
                (shade[position], underline[position]):
            end += 1
        style = []
        if shade[position]:
            style.append("background:#fff3b0")
        if underline[position]:
            style.append(f"border-bottom:3px solid {underline[position]}")
        chunk = escape(problem_text[position:end])
        parts.append(f'<span style="{";".join(style)}">{chunk}</span>' if style else chunk)
        position = end
    return "".join(parts)


def _jsd_svg(signals: Signals, width: int = 900, height: int = 220) -> str:
    raw, smooth = signals.jsd, signals.jsd_smoothed
    if not raw:
        return '<p class="empty">No JSD curve: the chain-of-thought has fewer than two tokens.</p>'
    top = max(max(raw), max(smooth or [0.0]), 1e-9)
    pad = 30

    def point(index: int, value: float) -> str:
        x = pad + (width - 2 * pad) * (index / max(len(raw) - 1, 1))
        y = height - pad - (height - 2 * pad) * (value / top)
        return f"{x:.1f},{y:.1f}"

    raw_line = " ".join(point(i, v) for i, v in enumerate(raw))
    smooth_line = " ".join(point(i, v) for i, v in enumerate(smooth))
    dots = "".join(f'<circle cx="{point(p, smooth[p]).split(",")[0]}" '
                   f'cy="{point(p, smooth[p]).split(",")[1]}" r="4" fill="#d62728"/>'
                   for p in signals.peaks if p < len(smooth))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="JSD curve">'
            f'<rect width="{width}" height="{height}" fill="white" stroke="#ccc"/>'
            f'<polyline points="{raw_line}" fill="none" stroke="#aaa" stroke-width="1"/>'
            f'<polyline points="{smooth_line}" fill="none" stroke="#222" stroke-width="2"/>'
            f"{dots}"
            f'<text x="{pad}" y="18" font-size="12">JSD (bits) between consecutive CoT '
            f"tokens: raw (grey), smoothed (black), boundaries (red); max {top:.3f}</text>"
            "</svg>")


def render_page(problem_text: str, trace: TeacherTrace, signals: Signals) -> str:
    """The whole page as one string."""
    rows = "".join(
        f"<tr><td style='color:{_colour(i)}'>■ {i + 1}</td><td>{s.token_start}–{s.token_end}</td>"
        f"<td>{s.iaf:.2f}</td><td>{len(s.iaf_spans)}</td>"
        f"<td>{escape(', '.join(str(o.get('value')) for o in s.operands))}</td></tr>"
        for i, s in enumerate(signals.segments))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mycelium signals · {escape(signals.problem_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1000px; color: #222; }}
.box {{ border: 1px solid #ddd; padding: 1em; line-height: 1.8; white-space: pre-wrap; }}
.boundary {{ color: #d62728; font-weight: bold; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 2px 10px; border-bottom: 1px solid #eee; }}
</style></head><body>
<h1>Signals for {escape(signals.problem_id)}</h1>
<p>Teacher: {escape(signals.teacher)} · status: <b>{escape(signals.status)}</b> ·
{len(signals.segments)} segment(s) · config {escape(signals.config_hash)}</p>
<h2>Problem</h2><div class="box">{_problem_html(problem_text, signals)}</div>
<h2>Chain-of-thought</h2><div class="box">{_cot_html(trace, signals)}</div>
<h2>JSD curve</h2>{_jsd_svg(signals)}
<h2>Segments</h2>
<table><tr><th>step</th><th>tokens</th><th>IAF</th><th>IAF spans</th><th>operands</th></tr>
{rows}</table>
</body></html>
"""
