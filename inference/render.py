"""HTML for a solved problem, shared by the eval report and the `mycelium serve` page.

    html = render_solution(text, result)     # a fragment: answer, highlighted text, program

`highlighted_text` shades spans of the problem text by tag (and underlines a second set); the
report shades the tagger's spans and underlines the gold ones, the serve page shades each step's
words in that step's colour. Everything is escaped; no scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from mycelium.data.records import SolveResult

TAG_COLOURS = {"I-OPERAND": "#4e79a7", "I-QUESTION": "#f28e2b"}
OTHER_COLOUR = "#59a14f"
# one colour per program step, in order (Tableau 10 without the two the tags use)
STEP_COLOURS = ("#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
                "#bab0ac")

SOLUTION_STYLE = """
.solution .answer { font-size: 20px; margin: 8px 0; }
.solution .text { background: #fafafa; padding: 6px; line-height: 1.9; white-space: pre-wrap; }
.solution .program { font: 13px/1.5 ui-monospace, monospace; margin: 8px 0; }
.solution .program div { padding: 1px 6px; border-left: 6px solid transparent; }
.solution .words { color: #555; }
.solution .beam { color: #555; font-size: 12px; }
.solution .reason { color: #b00; }
"""


def highlighted_text(text: str, predicted: Sequence[tuple[int, int, str]],
                     gold: Sequence[tuple[int, int, str]] = (),
                     colours: Mapping[str, str] = TAG_COLOURS) -> str:
    """The text with `predicted` spans shaded (by tag) and `gold` spans underlined (by tag)."""
    cuts = sorted({0, len(text), *(p for a, b, _ in [*predicted, *gold] for p in (a, b)
                                   if 0 <= p <= len(text))})
    parts = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        piece = escape(text[start:end])
        shade = next((tag for a, b, tag in predicted if a <= start and end <= b), None)
        line = next((tag for a, b, tag in gold if a <= start and end <= b), None)
        style = []
        if shade:
            style.append(f"background:{colours.get(shade, OTHER_COLOUR)}40")
        if line:
            style.append(f"border-bottom:3px solid {colours.get(line, OTHER_COLOUR)}")
        title = f' title="{escape(shade)}"' if shade else ""
        parts.append(f'<span style="{";".join(style)}"{title}>{piece}</span>' if style
                     else piece)
    return "".join(parts)


def step_colours(result: SolveResult) -> dict[str, str]:
    return {step.get("step", f"s{index + 1}"): STEP_COLOURS[index % len(STEP_COLOURS)]
            for index, step in enumerate(result.steps)}


def step_spans(result: SolveResult) -> list[tuple[int, int, str]]:
    """(start, end, step name) for the problem words each step of the program came from."""
    return [(int(start), int(end), step.get("step", f"s{index + 1}"))
            for index, step in enumerate(result.steps)
            for start, end in step.get("spans", [])]


def render_solution(text: str, result: SolveResult) -> str:
    """The answer (or why there is none), the problem with each step's words shaded in that
    step's colour, the program one step per line, and the other answers the search found."""
    colours = step_colours(result)
    if result.status == "ok":
        head = (f'<div class="answer">answer: <b id="answer">{escape(str(result.answer))}</b> '
                f'<span class="track">({escape(result.track)})</span></div>')
    else:
        head = (f'<div class="answer">no answer (<span id="status">{escape(result.status)}'
                f'</span>): <span class="reason" id="reason">{escape(result.reason)}</span></div>')
    shown = arithmetic_lines(result) or [str(step.get("line", "")) for step in result.steps]
    lines = "".join(
        f'<div style="border-left-color:{colours.get(step.get("step", ""), OTHER_COLOUR)}">'
        f'{escape(line)}'
        + (f' <span class="words">← {escape(str(step["words"]))}</span>'
           if step.get("words") else "")
        + "</div>" for step, line in zip(result.steps, shown, strict=False))
    others = [entry["answer"] for entry in result.beam[1:6] if "answer" in entry]
    beam = (f'<div class="beam">other candidates: {escape(", ".join(others))}</div>'
            if others else "")
    return (f'<div class="solution">{head}'
            f'<div class="text">{highlighted_text(text, step_spans(result), colours=colours)}'
            f'</div><div class="program" id="program">{lines}</div>{beam}</div>')


_INFIX = {"ADD": " + ", "SUB": " − ", "MUL": " × ", "DIV": " ÷ ", "POW": " ^ ", "MOD": " mod ",
          "FLOOR_DIV": " // "}
_UNARY = {"NEG": "−{}", "PERCENT": "{}%", "CEIL": "ceil({})", "FLOOR": "floor({})"}


def _operand(arg: dict) -> str:
    kind = arg.get("kind")
    if kind == "step":
        return f"s{int(arg['index']) + 1}"
    if kind == "constant":
        return f"{arg['value']} ({arg['name']})"
    return str(arg.get("value", "?"))


def arithmetic_lines(result: SolveResult) -> list[str]:
    """The program as arithmetic, one line per step: "s2 = 48 + s1 = 72". Word-problem
    programs only (`result.program` with steps); [] otherwise."""
    steps = (result.program or {}).get("steps", [])
    if len(steps) != len(result.steps):
        return []
    lines = []
    for index, (step, shown) in enumerate(zip(steps, result.steps, strict=True)):
        operands = [_operand(arg) for arg in step.get("args", [])]
        op = step.get("op", "")
        if op in _INFIX:
            expression = _INFIX[op].join(operands)
        elif op in _UNARY and len(operands) == 1:
            expression = _UNARY[op].format(operands[0])
        else:
            expression = f"{op}({', '.join(operands)})"
        lines.append(f"s{index + 1} = {expression} = {shown.get('value', '?')}")
    return lines
