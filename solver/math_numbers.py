"""Number-theory objectives of MATH problems, read from their words: the REMAINDER, GCD, LCM,
DIVISORS, PRIME_FACTORS, DIGITS and BASE steps (solver/math_program.py) an objective asks for,
with their operands. Pure, no gold answer: the structure parser (solver/math_structure.py) puts
these candidates before its SOLVE / EVALUATE / SIMPLIFY ones, and lets a problem whose objective
it would call out of scope through when one of these rules reads it.

    number_candidates(text, math_spans(text), objective_clause)
    # "Find the remainder when $2^{2005}$ is divided by $7$."
    #   -> [(MathStep(MathOp.REMAINDER, 0, operands=(1,)),)]

How an objective is read: the problem's text is lowercased with each math span replaced by a
marker "@k@" (its index), and the rules below are matched against it; a rule counts only where
its match overlaps the objective clause. An operand is a math span (by index) or a numeral of
the prose ("the greatest common factor of 68 and 92", LaTeX the program writes itself). Measured
on a quarter of MATH train (every 4th row), the most asked: remainders and last digits (~70
problems), base-b numerals (~45), gcd and lcm (~50), divisors and prime factors (~30), sums
and counts of digits (~10).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from mycelium.solver.math_program import MathOp, MathStep, Ref

Span = tuple[int, int]
Steps = tuple[MathStep, ...]
# A math span's marker, or a numeral of the prose ("1,000" reads as 1000; "6!" is LaTeX as it
# stands) that is not the start of more math written as prose ("2^5", "3/4", "1.5").
_OPERAND = r"(@\d+@|(?:\d{1,3}(?:,\d{3})+|\d+)!?(?![\d!^/]|[.,]\d))"
_FILLER = r"(?:the\s+(?:number|integer|polynomial|expression|sum|product|quantity)\s+)?"
_LIST = rf"{_OPERAND}((?:\s*,\s*{_OPERAND})*),?\s+and\s+{_OPERAND}"
# "\pmod{7}", "\pmod 7", "\bmod 7", "\mod 7" ending a span: what it asks is the residue.
_PMOD = re.compile(r"^(?P<value>[^=<>]+?)\s*(?:\\pmod\s*\{(?P<braced>[^{}]+)\}|\\[bp]?mod\s*"
                   r"\{?(?P<bare>\d+)\}?)$")
_BASE = re.compile(rf"(?:in|to|into)\s+base\s*{_OPERAND}|\bbase[- ]{_OPERAND}\s+"
                   r"(?:representation|number|numeral|integer)")
_COMBINED = re.compile(r"\b(sum|product)\s+of\b")


class LatexSpan(Protocol):
    start: int
    end: int
    latex: str


def number_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The number steps the objective clause asks for, in rule order (none when it asks for
    none of them)."""
    marked, origin = marked_text(text, spans)
    candidates: list[Steps] = []
    for pattern, build in _RULES:
        for match in pattern.finditer(marked):
            if overlaps(origin, match.span(), objective):
                steps = build(match, spans)
                if steps and steps not in candidates:
                    candidates.append(steps)
    candidates.extend(item for item in _pmod_spans(spans, objective) if item not in candidates)
    candidates.extend(item for item in _base_candidates(marked, origin, spans, objective)
                      if item not in candidates)
    return candidates


def marked_text(text: str, spans: Sequence[LatexSpan]) -> tuple[str, list[int]]:
    """`text` lowercased with each math span as "@k@", and for each of its characters the
    position in `text` it stands for (a marker: the span's start)."""
    pieces: list[str] = []
    origin: list[int] = []
    position = 0
    for index, span in enumerate(spans):
        pieces.append(text[position:span.start].lower())
        origin.extend(range(position, span.start))
        marker = f"@{index}@"
        pieces.append(marker)
        origin.extend([span.start] * len(marker))
        position = span.end
    pieces.append(text[position:].lower())
    origin.extend(range(position, len(text)))
    return "".join(pieces), origin


def overlaps(origin: list[int], found: Span, clause: Span) -> bool:
    start, end = origin[found[0]], origin[found[1] - 1] + 1
    return start < clause[1] and clause[0] < end


def _ref(token: str) -> Ref:
    return int(token.strip("@")) if token.startswith("@") else token.replace(",", "")


def _latex(token: str, spans: Sequence[LatexSpan]) -> str:
    return spans[int(token.strip("@"))].latex if token.startswith("@") else \
        token.replace(",", "")


def _remainder(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
    return (MathStep(MathOp.REMAINDER, _ref(match["a"]), operands=(_ref(match["b"]),)),)


def _units_digit(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
    return (MathStep(MathOp.REMAINDER, _ref(match["a"]), operands=("10",)),)


def _tens_digit(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
    shifted = f"\\left\\lfloor \\frac{{{_latex(match['a'], spans)}}}{{10}} \\right\\rfloor"
    return (MathStep(MathOp.REMAINDER, shifted, operands=("10",)),)


def _digits(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
    pick = match["pick"] if "pick" in match.re.groupindex else "count"
    base = _ref(match["b"]) if match["b"] else "10"
    return (MathStep(MathOp.DIGITS, _ref(match["a"]), pick=pick, operands=(base,)),)


def _listed(op: MathOp) -> Callable[[re.Match[str], Sequence[LatexSpan]], Steps]:
    def build(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
        middle = re.findall(_OPERAND, match[2] or "")
        refs = [_ref(token) for token in (match[1], *middle, match[match.re.groups])]
        return (MathStep(op, refs[0], operands=tuple(refs[1:])),)
    return build


def _factors(op: MathOp, pick: str) -> Callable[[re.Match[str], Sequence[LatexSpan]], Steps]:
    def build(match: re.Match[str], spans: Sequence[LatexSpan]) -> Steps:
        return (MathStep(op, _ref(match["a"]), pick=pick),)
    return build


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("OP", _OPERAND).replace("FILL", _FILLER)
                      .replace(" ", r"\s+"))


def _named(pattern: str) -> re.Pattern[str]:
    """A rule whose first operand is `a` and second `b`."""
    return _rule(pattern.replace("A", "(?P<a>OP)", 1).replace("B", "(?P<b>OP)", 1))


_THE_DIGITS = r"(?P<pick>sum|product) of (?:all )?(?:of )?(?:the |its )?digits"
_IN_BASE = r"(?: (?:when |if )?(?:(?:it )?is )?(?:(?:written|expressed|converted|represented) )?" \
    r"(?:in|to|into) base (?P<b>OP))?"
_DIVISOR_WORDS = r"(?:(?:positive|distinct|whole-number|natural-number|integer|integral) )*"
_PRIME_WORDS = r"(?:(?:distinct|different|positive) )*"
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], Sequence[LatexSpan]], Steps]]] = [
    (_named(r"remainder (?:(?:when|if|of|after|upon) )?(?:dividing )?FILLA (?:is )?"
            r"(?:divided by|upon division by|when divided by|by) FILLB"), _remainder),
    (_named(r"(?:when|if) FILLA is divided by FILLB\s*, (?:(?:what is|find|compute) )?"
            r"the remainder"), _remainder),
    (_named(r"divide FILLA by FILLB and (?:find|compute|determine) the remainder"),
     _remainder),
    (_named(r"FILLA (?:modulo|mod) B"), _remainder),
    (_named(r"(?:units|ones|last|unit) digit (?:of|in) FILLA"), _units_digit),
    (_named(r"tens digit (?:of|in) FILLA"), _tens_digit),
    (_named(_THE_DIGITS + r" (?:of|in) (?:the )?base[- ](?P<b>OP) (?:representation|expansion|"
            r"expression|form) of FILLA"), _digits),
    (_named(_THE_DIGITS + r" (?:when|if) FILLA is (?:converted|written|expressed|represented) "
            r"(?:to|in|into) base (?P<b>OP)"), _digits),
    (_named(_THE_DIGITS + r" (?:of|in) FILLA" + _IN_BASE), _digits),
    (_named(r"how many digits (?:are there |are )?(?:in|does) FILLA" + _IN_BASE), _digits),
    (_rule(r"(?:greatest|largest|highest) common (?:divisor|factor) of " + _LIST),
     _listed(MathOp.GCD)),
    (_rule(r"least common multiple of " + _LIST), _listed(MathOp.LCM)),
    (_named(r"how many " + _DIVISOR_WORDS + r"(?:divisors|factors) (?:does|do|are there "
            r"(?:of|for|in)) FILLA"), _factors(MathOp.DIVISORS, "count")),
    (_named(r"number of " + _DIVISOR_WORDS + r"(?:divisors|factors) (?:of|does) FILLA"),
     _factors(MathOp.DIVISORS, "count")),
    (_named(r"sum of (?:all )?(?:of )?(?:the )?" + _DIVISOR_WORDS +
            r"(?:divisors|factors) of FILLA"), _factors(MathOp.DIVISORS, "sum")),
    (_named(r"(?:largest|greatest|biggest) prime (?:factor|divisor) of FILLA"),
     _factors(MathOp.PRIME_FACTORS, "max")),
    (_named(r"smallest prime (?:factor|divisor) of FILLA"),
     _factors(MathOp.PRIME_FACTORS, "min")),
    (_named(r"how many " + _PRIME_WORDS + r"prime (?:factors|divisors) (?:does|do) FILLA"),
     _factors(MathOp.PRIME_FACTORS, "count")),
    (_named(r"number of " + _PRIME_WORDS + r"prime (?:factors|divisors) of FILLA"),
     _factors(MathOp.PRIME_FACTORS, "count")),
    (_named(r"sum of (?:all )?(?:of )?(?:the )?" + _PRIME_WORDS +
            r"prime (?:factors|divisors) of FILLA"), _factors(MathOp.PRIME_FACTORS, "sum")),
]


def _pmod_spans(spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """An objective span that ends in a modulus ("$2^{2005} \\pmod{7}$"): its residue."""
    found = []
    for span in spans:
        match = _PMOD.match(span.latex)
        if match and objective[0] <= span.start < objective[1] and "\\equiv" not in span.latex:
            modulus = (match["braced"] or match["bare"]).strip()
            found.append((MathStep(MathOp.REMAINDER, match["value"].strip(),
                                   operands=(modulus,)),))
    return found


def _base_candidates(marked: str, origin: list[int], spans: Sequence[LatexSpan],
                     objective: Span) -> list[Steps]:
    """"What is $441_{10}$ in base $7$?", "Express your answer in base 8": the objective's
    value written in that base. The phrase is in the objective or after it; the value is the
    objective's one math span other than the base, or the sum or product of its spans when it
    asks for one ("the sum of $555_6$, $55_6$ and $5_6$ in base $6$")."""
    found = []
    for match in _BASE.finditer(marked):
        if origin[match.start()] < objective[0]:
            continue
        token = match[1] or match[2]
        base = _latex(token, spans).strip()
        if base == "10" or not base.isdigit():
            continue
        inside = [index for index, span in enumerate(spans)
                  if objective[0] <= span.start < objective[1] and f"@{index}@" != token
                  and not span.latex.strip().isdigit()]
        combined = _COMBINED.search(marked, *_marked_range(origin, objective))
        if len(inside) == 1:
            target: Ref = inside[0]
        elif len(inside) > 1 and combined:
            joiner = " + " if combined[1] == "sum" else " \\cdot "
            target = joiner.join(f"({spans[index].latex})" for index in inside)
        else:
            continue
        found.append((MathStep(MathOp.BASE, target, operands=(base,)),))
    return found


def _marked_range(origin: list[int], clause: Span) -> Span:
    inside = [position for position, source in enumerate(origin)
              if clause[0] <= source < clause[1]]
    return (inside[0], inside[-1] + 1) if inside else (0, 0)
