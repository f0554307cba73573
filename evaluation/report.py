"""The error-attribution report: one self-contained HTML page built from an eval's records.

It shows the summary (accuracy, beam hit, accuracy by track and, for MATH, by subject and
level), the attribution table, three plots
(accuracy as stages are replaced by oracles, the classifier's operation confusion matrix on gold
groups, accuracy by number of gold steps; matplotlib figures inlined as SVG), then each failure:
the problem text with the predicted spans shaded and the gold spans underlined, and the
predicted and gold programs side by side. No scripts, no external files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape
from typing import Any

from mycelium.data.records import EvalRecord
from mycelium.inference.render import TAG_COLOURS, highlighted_text

MAX_FAILURES_SHOWN = 150  # the page stays light; samples.jsonl holds every failure

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots svg { width: 380px; height: auto; border: 1px solid #eee; }
.failure { border-top: 1px solid #ddd; padding: 10px 0; }
.text { background: #fafafa; padding: 6px; line-height: 1.9; }
.programs td { width: 50%; font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; }
.legend span { margin-right: 14px; }
.bad { color: #b00; } .ok { color: #080; }
"""


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float = 4.6, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def plot_stage_accuracy(stage_accuracy: dict[str, float]) -> str:
    figure, axes = _figure()
    names = list(stage_accuracy)
    values = [stage_accuracy[name] for name in names]
    axes.bar(range(len(names)), values, color=["#4e79a7"] + ["#bab0ac"] * (len(names) - 1))
    axes.set_xticks(range(len(names)), [name.replace("oracle_", "+oracle\n") for name in names])
    axes.set_ylim(0, 1.15)  # room for the bar labels under the title
    axes.set_ylabel("accuracy (labelled problems)")
    axes.set_title("Accuracy as stages are replaced by gold")
    for index, value in enumerate(values):
        axes.text(index, value + 0.02, f"{value:.2f}", ha="center")
    return _svg(figure)


def plot_confusion(confusion: dict[str, dict[str, int]]) -> str:
    import numpy as np

    labels = sorted(set(confusion) | {p for row in confusion.values() for p in row})
    matrix = np.array([[confusion.get(gold, {}).get(predicted, 0) for predicted in labels]
                       for gold in labels], dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = _figure(5.0, 4.4)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted op")
    axes.set_ylabel("gold op")
    axes.set_title("Operation confusion (classifier on gold groups)")
    for row in range(len(labels)):
        for column in range(len(labels)):
            if matrix[row, column]:
                axes.text(column, row, int(matrix[row, column]), ha="center", va="center",
                          fontsize=7, color="white" if shares[row, column] > 0.5 else "black")
    return _svg(figure)


def plot_by_steps(by_steps: dict[str, dict[str, int]]) -> str:
    steps = list(by_steps)
    figure, axes = _figure(max(4.6, 0.55 * len(steps)), 3.2)
    accuracy = [by_steps[s]["correct"] / by_steps[s]["n"] for s in steps]
    axes.bar(range(len(steps)), accuracy, color="#59a14f")
    axes.set_xticks(range(len(steps)), [f"{s}\nn={by_steps[s]['n']}" for s in steps],
                    fontsize=7)
    axes.set_ylim(0, 1)
    axes.set_xlabel("gold program steps")
    axes.set_ylabel("accuracy")
    axes.set_title("Accuracy by number of steps")
    return _svg(figure)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _beam_line(record: EvalRecord) -> str:
    """The finished candidates' answers, with the verifier's p(right) where one ranked them."""
    if not record.beam:
        return ""
    scores = record.beam_verifier if len(record.beam_verifier) == len(record.beam) else []
    shown = [f"{answer} (verifier {score:.2f})" for answer, score in zip(record.beam, scores,
                                                                         strict=True)] \
        if scores else list(record.beam)
    return f'<div class="beam">beam: {escape(", ".join(shown))}</div>'


def _failure(record: EvalRecord) -> str:
    predicted = "\n".join(record.program) or f"(no program: {record.reason})"
    gold = "\n".join(record.gold_program) or "(no validated gold program)"
    return (f'<div class="failure"><b>{escape(record.problem_id)}</b> — attributed to '
            f"<b>{escape(record.attribution)}</b>; predicted "
            f'<span class="bad">{escape(str(record.prediction))}</span>, gold '
            f'<span class="ok">{escape(record.gold)}</span>'
            f"{' (gold answer in the beam)' if record.beam_hit else ''}"
            f"{_beam_line(record)}"
            f'<div class="text">{highlighted_text(record.text, record.spans, record.gold_spans)}'
            f'</div><table class="programs"><tr><th>predicted program</th>'
            f"<th>gold program</th></tr><tr><td>{escape(predicted)}</td>"
            f"<td>{escape(gold)}</td></tr></table></div>")


def render_report(records: Sequence[EvalRecord], summary: dict[str, Any]) -> str:
    plots = []
    if summary.get("stage_accuracy"):
        plots.append(plot_stage_accuracy(summary["stage_accuracy"]))
    if summary.get("op_confusion"):
        plots.append(plot_confusion(summary["op_confusion"]))
    if summary.get("accuracy_by_steps"):
        plots.append(plot_by_steps(summary["accuracy_by_steps"]))
    failures = [record for record in records if not record.correct]
    tracks = [(track, entry["n"], entry["correct"], f"{entry['accuracy']:.3f}")
              for track, entry in summary["by_track"].items()]
    attribution = [(stage, count, f"{count / max(len(failures), 1):.1%}")
                   for stage, count in summary["attribution"].items()]
    legend = "".join(f'<span style="background:{colour}40">shaded: predicted {tag}</span>'
                     f'<span style="border-bottom:3px solid {colour}">underlined: gold {tag}'
                     f"</span>" for tag, colour in TAG_COLOURS.items())
    subjects = ""
    if summary.get("by_subject"):
        levels = sorted({level for entry in summary["by_subject"].values()
                         for level in entry["by_level"]})

        def cell(counts: dict[str, Any] | None) -> str:
            return "" if counts is None else \
                f"{counts['correct']}/{counts['n']} ({counts['accuracy']:.0%})"

        rows = [(subject, *(cell(entry["by_level"].get(level)) for level in levels), cell(entry))
                for subject, entry in summary["by_subject"].items()]
        subjects = ("<h2>By subject and level (correct / problems)</h2>"
                    + _table(rows, ("subject", *(f"level {level}" for level in levels), "all")))
    shown = "".join(_failure(record) for record in failures[:MAX_FAILURES_SHOWN])
    more = len(failures) - MAX_FAILURES_SHOWN
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Mycelium eval — {escape(summary['dataset'])}</title>
<style>{_STYLE}</style></head><body>
<h1>Mycelium evaluation — {escape(summary['dataset'])}, {summary['n']} problems</h1>
<p>Accuracy <b>{summary['accuracy']:.3f}</b> ({summary['correct']}/{summary['n']}),
beam hit {summary['beam_hit']:.3f}, invalid inputs {summary['invalid']},
no answer {summary['no_answer']}. No gold answer reached inference.</p>
<h2>By track</h2>{_table(tracks, ("track", "n", "correct", "accuracy"))}
{subjects}
<h2>Error attribution (first stage that went wrong)</h2>
{_table(attribution, ("stage", "failures", "share"))}
<div class="plots">{"".join(plots)}</div>
<h2>Failures</h2><p class="legend">{legend}</p>{shown}
{f"<p>… and {more} more in samples.jsonl.</p>" if more > 0 else ""}
</body></html>
"""
