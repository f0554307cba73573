"""The `mycelium` command line: parses arguments and calls library functions, nothing more.

    mycelium gold-check                                   # the bundled sample problems
    mycelium gold-check ../shared/data/gsm8k/train.jsonl --json

User errors (a missing file, a malformed line, an unknown dataset) print one line on stderr and
exit with code 2; there is no traceback for them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mycelium.data.errors import MyceliumError
from mycelium.data.io import write_jsonl_atomic
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.solver.gsm8k_gold import gold_check

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Mycelium: distil a teacher's math reasoning into tiny specialists.")
stdout = Console()
stderr = Console(stderr=True, soft_wrap=True)


def _progress(description: str, total: int) -> Progress:
    """A progress bar on stderr, so stdout stays clean for --json."""
    progress = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr, transient=True)
    progress.add_task(description, total=total)
    return progress


@app.command("gold-check")
def gold_check_command(
    file: Annotated[Path | None, typer.Argument(
        help="GSM8K JSONL/Parquet file or hub id; default: the bundled sample problems.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip and count malformed lines instead of stopping.")] = False,
    programs: Annotated[Path | None, typer.Option(
        help="Also write each problem's program (or failure reason) to this JSONL file.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
) -> None:
    """Turn GSM8K worked solutions into linked programs, execute them exactly, and report how
    many reproduce the '####' answer, why the rest fail, and where the operands come from."""
    source = file or bundled_sample_path()
    loaded = load_problems("gsm8k", source, skip_bad=skip_bad, limit=limit)
    items = loaded.problems
    with _progress("gold programs", len(items)) as progress:
        def counted():
            for item in items:
                yield item
                progress.advance(progress.task_ids[0])

        report, outcomes = gold_check(counted())
    report.bad_rows = len(loaded.bad)
    if programs is not None:
        write_jsonl_atomic(programs, (
            {"problem_id": outcome.problem_id, "annotated": outcome.annotated,
             "reproduced": outcome.program is not None, "failure": outcome.failure,
             "program": outcome.program.to_json() if outcome.program else None,
             "rendered": outcome.program.render() if outcome.program else None}
            for outcome in outcomes))
    summary = report.to_json()
    summary["source"] = str(source)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    _print_gold_report(summary)
    for bad in loaded.bad:
        stderr.print(f"skipped {escape(str(bad))}", highlight=False)


def _print_gold_report(summary: dict) -> None:
    table = Table(title=f"gold-check: {escape(summary['source'])}", show_header=False)
    table.add_row("problems", str(summary["total"]))
    table.add_row("annotated", str(summary["annotated"]))
    table.add_row("reproduced", str(summary["reproduced"]))
    table.add_row("rate", f"{summary['rate']:.4f}")
    table.add_row("skipped bad rows", str(summary["bad_rows"]))
    for reason, count in summary["failures"].items():
        table.add_row(f"failure: {reason}", f"{count} (e.g. {summary['failure_examples'][reason]})")
    for kind, share in summary["linkage"].items():
        table.add_row(f"operands linked to {kind}", f"{share:.2%}")
    stdout.print(table)


@app.callback()
def _root() -> None:
    """Mycelium: distil a teacher's math reasoning into tiny specialists."""


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except MyceliumError as error:
        stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise SystemExit(error.exit_code) from None


if __name__ == "__main__":
    main()
