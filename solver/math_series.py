"""Elided series in MATH LaTeX: "1 + 2 + \\dots + 49", "x^1 \\cdot x^2 \\cdots x^{15}",
"\\frac{5}{6} - \\frac{4}{9} + \\frac{32}{135} - \\dots": what the terms written out say the
elided ones are. Pure text here (no sympy): math_program.py parses what `read_series` gives,
inside its time-limited worker, and puts the value where the series stood.

    text, series = read_series("\\frac{1 + 2 + \\dots + 10}{5}")
    # text == "\\frac{\\Xi_{0}}{5}"; series[0] is a Series (sum) of 10 terms whose general term
    # is "(1+1\\kappa)" for kappa = 0, 1, ..., 9

How the terms are read. The series is the innermost group (braces or parentheses) that holds
the elision at its own level, or the side of the relation that does, or the whole text. It is a
sum when terms there are joined by + or -, a product when by \\cdot, \\times or the elision
itself; at least two terms come before the elision, and a finite series has its last term after
it. Two readings, in this order:
  template  every written term is the same LaTeX but for its numerals, and each numeral steps by
            a constant from term to term ("\\lceil\\sqrt{5}\\rceil + \\lceil\\sqrt{6}\\rceil +
            \\cdots + \\lceil\\sqrt{29}\\rceil"); the last term fixes the count, the same for
            every numeral that steps. Signs alternate or stay as written. The general term is
            the template with each numeral replaced by "(first+step\\kappa)".
  values    the terms are numbers in arithmetic or geometric progression: the last term fixes
            the count, or, with none and a common ratio under 1 in size, the series is infinite
            ("1 + \\frac{1}{3} + \\left(\\frac{1}{3}\\right)^2 + \\dots": 3/2).
Which applies is decided where the values are known (math_program._series_value); this module
only cuts the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

ELISION = re.compile(r"\\(?:dots[bcmio]?|[lcv]dots)(?![A-Za-z])")
PLACEHOLDER = "\\Xi_{{{}}}"  # parses as a symbol; a text that holds \Xi or \xi is left alone
STEP = "\\kappa"  # the general term's index, 0 for the first term
MAX_TERMS = 10_000
_PRODUCT = re.compile(r"\\(?:cdot|times)(?![A-Za-z])")
_NUMERAL = re.compile(r"\d+(?:\.\d+)?")
_SHORT_FRAC = re.compile(r"\\([dt]?frac)\s*(\d)\s*(\d)")  # "\frac 13" is \frac{1}{3}
_BRACED_POWER = re.compile(r"([\^_])\{(\d+(?:\.\d+)?)\}")  # "x^{15}" is x^15
_SPACING = re.compile(r"\\[,;!:> ]|\\q?quad\b|\s+")
_OPENERS, _CLOSERS = "{([", "})]"


@dataclass(frozen=True)
class Series:
    kind: str  # "sum" or "product"
    # The written terms before and after the elision, each with its sign (+1 or -1; products: +1)
    before: tuple[tuple[int, str], ...]
    after: tuple[tuple[int, str], ...]

    @property
    def infinite(self) -> bool:
        return not self.after

    def template(self) -> tuple[str, int] | None:
        """(general term in STEP, number of terms) when the written terms share a template
        whose numerals step arithmetically; the sign is folded into the term."""
        terms = [(sign, _normal(text)) for sign, text in (*self.before, *self.after)]
        if self.infinite or len(self.before) < 2:
            return None
        skeletons = {_NUMERAL.sub("#", text) for _, text in terms}
        if len(skeletons) != 1:
            return None
        numbers = [[Fraction(token) for token in _NUMERAL.findall(text)] for _, text in terms]
        first, second, last = numbers[0], numbers[1], numbers[-1]
        steps = [b - a for a, b in zip(first, second, strict=True)]
        counts = {(end - start) / step + 1 for start, end, step
                  in zip(first, last, steps, strict=True) if step}
        if len(counts) != 1:
            return None
        (count,) = counts
        if count.denominator != 1 or not len(terms) <= count <= MAX_TERMS:
            return None
        for index, row in enumerate(numbers[:len(self.before)]):  # the written terms agree
            if any(value != start + index * step
                   for value, start, step in zip(row, first, steps, strict=True)):
                return None
        signs = [sign for sign, _ in self.before]
        if len(set(signs)) == 1:
            sign = "" if signs[0] > 0 else "-"
        elif all(a == -b for a, b in zip(signs, signs[1:], strict=False)):
            sign = "(-1)^{" + STEP + "}" if signs[0] > 0 else "-(-1)^{" + STEP + "}"
        else:
            return None
        general = iter(f"({_latex_fraction(start)}+{_latex_fraction(step)}{STEP})"
                       for start, step in zip(first, steps, strict=True))

        def numeral(match: re.Match[str]) -> str:  # an exponent or index needs its braces
            value = next(general)
            return "{" + value + "}" if terms[0][1][match.start() - 1:match.start()] in "^_" \
                and match.start() > 0 else value

        body = _NUMERAL.sub(numeral, terms[0][1])
        return (f"{sign}\\left({body}\\right)" if sign else body), int(count)


def read_series(latex: str) -> tuple[str, list[Series]]:
    """`latex` with each elided series replaced by PLACEHOLDER.format(i), and the series; the
    text unchanged and no series when it has no elision it can read."""
    if "\\Xi" in latex or "\\xi" in latex or STEP in latex:
        return latex, []
    found: list[Series] = []
    while (match := ELISION.search(latex)) is not None:
        start, end = _region(latex, match.start())
        series = _series(latex[start:end])
        if series is None:
            return latex, []
        latex = latex[:start] + PLACEHOLDER.format(len(found)) + latex[end:]
        found.append(series)
    return latex, found


def _normal(text: str) -> str:
    """One spelling for each written term, so that their templates compare."""
    text = _SPACING.sub("", _SHORT_FRAC.sub(r"\\\1{\2}{\3}", text))
    return _BRACED_POWER.sub(r"\1\2", text)


def _latex_fraction(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _depths(text: str) -> list[int]:
    """The group depth at each character (braces and brackets of every kind)."""
    depth, depths = 0, []
    for char in text:
        if char in _CLOSERS:
            depth -= 1
        depths.append(depth)
        if char in _OPENERS:
            depth += 1
    return depths


def _region(text: str, position: int) -> tuple[int, int]:
    """The innermost group around `position` (inside its brackets, and inside "\\left(" and
    "\\right)"), or the side of a relation, or the whole text."""
    depths = _depths(text)
    level = depths[position]
    if level > 0:
        start = max(index for index in range(position) if depths[index] < level) + 1
        end = min(index for index in range(position, len(text)) if depths[index] < level)
        if text.endswith("\\right", start, end):
            end -= len("\\right")
        return start, end
    relations = [index for index, char in enumerate(text) if char in "=<>" and depths[index] == 0]
    start = max((index + 1 for index in relations if index < position), default=0)
    end = min((index for index in relations if index > position), default=len(text))
    return start, end


def _series(text: str) -> Series | None:
    """The terms of one series: `text` holds the elision at its own level."""
    depths = _depths(text)
    cuts: list[tuple[int, int, str]] = []  # (start, end, what): "+", "-", "*", "..."
    for match in ELISION.finditer(text):
        if depths[match.start()] == 0:
            cuts.append((match.start(), match.end(), "..."))
    for match in _PRODUCT.finditer(text):
        if depths[match.start()] == 0:
            cuts.append((match.start(), match.end(), "*"))
    for index, char in enumerate(text):
        if char in "+-" and depths[index] == 0:
            cuts.append((index, index + 1, char))
    cuts.sort()
    if sum(what == "..." for _, _, what in cuts) != 1:
        return None
    kind = "sum" if any(what in "+-" for _, _, what in cuts[1:]) or \
        (cuts and cuts[0][2] in "+-" and cuts[0][0] > 0) else "product"
    items: list[tuple[int, str]] = []
    elided_at = -1
    sign, position = 1, 0
    for start, end, what in cuts:
        piece = text[position:start].strip()
        if piece and not _SPACING.fullmatch(piece):
            items.append((sign, piece))
            sign = 1
        if what == "...":
            elided_at = len(items)
        elif what == "-":
            sign = -sign
        elif what == "*" and kind == "sum":
            return None  # "1 \\cdot 2 + 2 \\cdot 3 + \\dots": products inside a sum's terms
        position = end
    piece = text[position:].strip()
    if piece and not _SPACING.fullmatch(piece):
        items.append((sign, piece))
    if kind == "product" and any(item_sign < 0 for item_sign, _ in items):
        return None
    before, after = tuple(items[:elided_at]), tuple(items[elided_at:])
    if len(before) < 2 or (kind == "product" and not after):
        return None
    return Series(kind, before, after)
