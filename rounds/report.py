"""The round report: what each stage took, what the trace store gained, how the students did,
and the same figures for every earlier round of the run, side by side.

    summary = round_summary(plan)                 # from the stage markers and eval results
    write_round_report(out_dir, summary, earlier) # round.json, then report.html
    round_table_markdown([*earlier, summary])     # the Prefect artifact's table

Everything is read back from the completion markers and `eval/results.json`: a report never
re-runs a stage.
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from mycelium.data.io import write_text_atomic
from mycelium.rounds.markers import read_marker
from mycelium.rounds.round import stage_groups


def round_summary(plan: Any) -> dict[str, Any]:
    markers = stage_markers(plan)
    stages = {}
    # the split is run-level (done once, in round 1): it is not part of a later round's time
    every = [marker for stage, found in markers.items() for marker in found
             if stage != "split" or plan.round == 1]
    wall = (max(datetime.fromisoformat(marker["finished_at"]) for marker in every)
            - min(datetime.fromisoformat(marker["started_at"]) for marker in every)
            ).total_seconds() if every else 0.0
    for stage, found in markers.items():
        starts = [datetime.fromisoformat(marker["started_at"]) for marker in found]
        ends = [datetime.fromisoformat(marker["finished_at"]) for marker in found]
        stages[stage] = {"units": len(found),
                         "seconds": round(sum(marker["seconds"] for marker in found), 2),
                         "wall_seconds": round((max(ends) - min(starts)).total_seconds(), 2)}
    student = [marker["summary"] for marker in markers.get("student_solve", [])]
    labels = [marker["summary"] for marker in markers.get("labels", [])]
    validate = (markers.get("validate") or [{"summary": {}}])[0]["summary"]
    evaluation = (markers.get("eval") or [{"summary": {}}])[0]["summary"]
    return {
        "round": plan.round, "name": plan.config.name,
        "result_hash": plan.config.result_hash(), "world_size": plan.world_size,
        "stages": stages,
        # first start to last finish: side-by-side units overlap, a resumed run's pause counts
        "minutes_wall": round(wall / 60, 2),
        # every unit's time added: what one worker would take
        "minutes_summed": round(sum(stage["seconds"] for stage in stages.values()) / 60, 2),
        "students": _students_summary(student) if student else None,
        "labels": {"problems": sum(part.get("problems", 0) for part in labels),
                   "validated": sum(part.get("validated", 0) for part in labels),
                   "source": labels[0].get("source") if labels else None} if labels else None,
        "traces": validate,
        "eval": evaluation,
        "eval_report": str(plan.round_dir() / "eval" / "report.html"),
        "signals": _signals_summary(markers),
    }


def _students_summary(shards: list[dict[str, Any]]) -> dict[str, int]:
    """The student_solve shards added up. A shard written before beam harvesting has no
    `traces`: it kept one trace per validated problem."""
    summary = {key: sum(part.get(key, 0) for part in shards)
               for key in ("problems", "correct", "validated", "failed", "validated_not_chosen")}
    summary["traces"] = sum(part.get("traces", part.get("validated", 0)) for part in shards)
    return summary


def _signals_summary(markers: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The teacher's part of a round: its calibration and the signals' outcome per status."""
    found = [marker["summary"] for marker in markers.get("signals", [])]
    if not found:
        return None
    status: dict[str, int] = {}
    for part in found:
        for name, count in part.get("status", {}).items():
            status[name] = status.get(name, 0) + count
    with_segments = sum(part.get("with_segments", 0) for part in found)
    calibration = (markers.get("calibrate") or [{"summary": None}])[0]["summary"]
    cot = (markers.get("teacher_cot") or [{"summary": {}}])[0]["summary"]
    return {"status": status, "cot_source": cot.get("cot_source"),
            "segments_per_problem": round(sum(part.get("segments", 0) for part in found)
                                          / with_segments, 2) if with_segments else 0.0,
            "calibration": calibration}


def _row(summary: dict[str, Any]) -> dict[str, str]:
    traces = summary.get("traces") or {}
    evaluation = summary.get("eval") or {}
    added = traces.get("added") or {}
    attribution = evaluation.get("attribution") or {}
    return {
        "round": str(summary.get("round")),
        "traces in store": str(traces.get("traces", "")),
        "added": ", ".join(f"{source} {count}" for source, count in sorted(added.items()))
        or "0",
        "students solved (train)": (f"{summary['students']['correct']}/"
                                    f"{summary['students']['problems']}"
                                    if summary.get("students") else "—"),
        # a problem the students answered wrongly still gives traces when a lower program of
        # its beam reached the gold answer (students.solve_traces: beam)
        "student traces (problems)": (f"{_students_summary([summary['students']])['traces']} "
                                      f"({summary['students']['validated']})"
                                      if summary.get("students") else "—"),
        "dev accuracy": (f"{evaluation['accuracy']:.4f} ({evaluation['correct']}/"
                         f"{evaluation['n']})" if "accuracy" in evaluation else ""),
        "beam hit": f"{evaluation['beam_hit']:.4f}" if "beam_hit" in evaluation else "",
        "attribution": ", ".join(f"{stage} {count}" for stage, count in
                                 sorted(attribution.items(), key=lambda item: -item[1])),
        "minutes (wall)": f"{summary.get('minutes_wall', 0):.1f}",
    }


def round_table_markdown(summaries: list[dict[str, Any]]) -> str:
    rows = [_row(summary) for summary in summaries]
    if not rows:
        return ""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[key] for key in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def stage_table_markdown(summary: dict[str, Any]) -> str:
    lines = ["| stage | units | wall min | summed min |", "|---|---|---|---|"]
    for stage, times in summary["stages"].items():
        lines.append(f"| {stage} | {times['units']} | {times['wall_seconds'] / 60:.2f} | "
                     f"{times['seconds'] / 60:.2f} |")
    return "\n".join(lines) + "\n"


def write_round_report(out_dir: Path, summary: dict[str, Any],
                       earlier: list[dict[str, Any]]) -> Path:
    """round.json, then report.html (self-contained) into `out_dir`."""
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "round.json", json.dumps(summary, indent=2) + "\n")
    rows = [_row(item) for item in [*earlier, summary]]
    header = list(rows[0])
    table = "".join(f"<th>{html.escape(key)}</th>" for key in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(row[key])}</td>" for key in header)
                   + "</tr>" for row in rows)
    stages = "".join(
        f"<tr><td>{html.escape(stage)}</td><td>{times['units']}</td>"
        f"<td>{times['wall_seconds'] / 60:.2f}</td><td>{times['seconds'] / 60:.2f}</td></tr>"
        for stage, times in summary["stages"].items())
    eval_link = os.path.relpath(summary["eval_report"], out_dir)
    signals = _signals_html(summary.get("signals"), summary.get("labels"))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mycelium {html.escape(summary['name'])} round {summary['round']}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>Run {html.escape(summary['name'])}, round {summary['round']}</h1>
<p>Config result hash <code>{html.escape(summary['result_hash'])}</code>, {summary['world_size']}
shard(s) per problem stage. Accuracy is on the run's dev split, solved without any gold
answer; the <a href="{html.escape(eval_link)}">evaluation report</a> has every failure.</p>
<h2>Round over round</h2>
<table><tr>{table}</tr>{body}</table>
<h2>Time per stage</h2>
<p>Wall: first start to last finish over the stage's units; summed: their times added (what
one worker would take).</p>
<table><tr><th>stage</th><th>units</th><th>wall min</th><th>summed min</th></tr>{stages}</table>
{signals}
</body></html>
"""
    write_text_atomic(out_dir / "report.html", page)
    return out_dir / "report.html"


def _signals_html(signals: dict[str, Any] | None, labels: dict[str, Any] | None) -> str:
    if not signals:
        return ""
    rows = [("CoT source", signals.get("cot_source") or ""),
            ("signals by status", ", ".join(f"{name} {count}" for name, count
                                            in sorted(signals["status"].items()))),
            ("segments per problem", str(signals["segments_per_problem"]))]
    calibration = signals.get("calibration")
    if calibration:
        rows += [("boundary layers (calibrated)",
                  f"{calibration['layers']}, height_std {calibration['height_std']}: F1 "
                  f"{calibration['f1']} on {calibration['problems']} train problems' line "
                  "breaks"),
                 ("IAF layers (calibrated)",
                  f"{calibration['iaf_layers']}: hit@1 {calibration['iaf_hit1']} on the gold "
                  "programs' operands")]
    if labels:
        rows.append(("labels validated", f"{labels['validated']}/{labels['problems']} "
                                         f"({labels.get('source')})"))
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
                   for name, value in rows)
    return f"<h2>Teacher signals</h2>\n<table>{body}</table>"


def round_summaries(plan: Any, last: int) -> list[dict[str, Any]]:
    """round.json of rounds 1..last, as their report stages wrote them (a round without one
    appears with its number only)."""
    summaries = []
    for number in range(1, last + 1):
        path = plan.round_dir(number) / "report" / "round.json"
        summaries.append(json.loads(path.read_text(encoding="utf-8")) if path.is_file()
                         else {"round": number})
    return summaries


def stage_markers(plan: Any) -> dict[str, list[dict[str, Any]]]:
    """stage -> the markers of its finished units (one per shard for sharded stages)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for group in stage_groups(plan):
        for unit in group:
            marker = read_marker(plan.unit_dir(unit))
            if marker is not None:
                found.setdefault(unit.stage, []).append(marker)
    return found
