"""Arithmetic written in prose: "2 cups / 1/4 cup/burger = 8 burgers", "$40 − $4 = $36",
"100% - 40% = 60%", "(1/2)(20)=10", "30 plus 28 = 58".

Worked solutions (GSM8K's text between annotations, a teacher's chain-of-thought) state much of
their arithmetic this way. `find_equations` returns each `left = right` whose left side, once unit
words are dropped and prose operators ("x", "times", "plus", "of") rewritten, parses with the
whitelisting parser and evaluates *exactly* to the written right side. That exactness check is
what makes the loose reading safe: a misread left side almost never hits the stated result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from mycelium.solver.executor import ExecutionError
from mycelium.solver.expr import evaluate, parse_expression

# A '/' before a letter starts a unit ("$6/day", "3 miles/hour"), not a division.
_TOKEN = re.compile(
    r"""(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d+)?|\.\d+)
      | (?P<op>\*\*|/(?![A-Za-z])|[-+*×·÷−–^()%])
      | (?P<word>[A-Za-z][A-Za-z'’-]*(?:/[A-Za-z]+)*|/[A-Za-z]+)
      | (?P<skip>[$€£])
      | (?P<other>\S)""",
    re.VERBOSE,
)
_WORD_OPERATORS = {"x": "*", "times": "*", "multiplied": "*", "plus": "+", "minus": "-",
                   "divided": "/", "of": "*"}
_FILLER = {"by"}  # "divided by", "multiplied by"
MAX_UNIT_WORDS = 3  # more words in a row than this end the left side ("... so she has 5 + 2")
_RIGHT = re.compile(
    r"\s*[$€£]?\s*(?P<value>-?\d+\s*/\s*\d+(?![\d.,/])|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])"
    r"|-?\d+(?:\.\d+)?|-?\.\d+)(?P<pct>\s*%|\s*percent\b)?")
# Where a left side cannot begin: sentence ends, clause marks, an earlier '='.
_BOUNDARY = re.compile(r"[=:;?!]|\.(?=\s)|,(?=\s)|\bequals\b|\bis\b|\bare\b")
_TIMES_HUNDRED_PERCENT = re.compile(r"\s*\*\s*100\s*%\s*$")
_SPACED_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})((?: \d{3})+)(?![\d.])")


@dataclass(frozen=True)
class ProseEquation:
    """`lhs` (normalised arithmetic) evaluates exactly to `value`, written at text[start:end]."""

    lhs: str
    value: Fraction
    start: int  # where the left side begins
    equals: int  # position of '=' (or 'equals')
    end: int  # end of the written right side
    percent: bool  # the right side was written with '%'


def _number(text: str) -> Fraction:
    text = text.replace(",", "").replace(" ", "")
    if "/" in text:
        numerator, denominator = text.split("/")
        return Fraction(int(numerator), int(denominator))
    return Fraction(text)


def _lhs_tokens(segment: str) -> list[str]:
    """Arithmetic tokens of a left-side segment, unit words dropped, prose operators rewritten.

    Reading stops (from the right) at a run of more than MAX_UNIT_WORDS unknown words.
    """
    tokens: list[str] = []
    words_in_row = 0
    for match in reversed(list(_TOKEN.finditer(_SPACED_THOUSANDS.sub(
            lambda m: m[1] + m[2].replace(" ", ""), segment)))):
        kind = match.lastgroup
        text = match.group()
        if kind == "word":
            lowered = text.lower()
            if lowered in _WORD_OPERATORS:
                tokens.append(_WORD_OPERATORS[lowered])
                words_in_row = 0
            elif lowered in _FILLER:
                continue
            else:
                words_in_row += 1
                if words_in_row > MAX_UNIT_WORDS:
                    break
            continue
        if kind == "other":
            break
        if kind == "skip":
            continue
        words_in_row = 0
        # "14(2)" and "(1/2)(20)": an implied product between a number or ')' and '('.
        if tokens and ((text == ")" or kind == "num") and tokens[-1] == "(" or
                       text == ")" and kind != "num" and _is_number(tokens[-1])):
            tokens.append("*")
        tokens.append(text)
    tokens.reverse()
    return tokens


def _is_number(token: str) -> bool:
    return bool(token) and (token[0].isdigit() or token[0] == ".")


def _candidates(tokens: list[str]) -> list[str]:
    """Suffixes of the token list that can start an expression, longest first."""
    return [" ".join(tokens[index:]) for index, token in enumerate(tokens)
            if _is_number(token) or token in {"(", "-"}]


def _has_operator(tokens: str) -> bool:
    return bool(re.search(r"[\d)%]\s*[-+*/×·÷−–^]\s*[-(.\d]", tokens))


def find_equations(text: str) -> list[ProseEquation]:
    """Every `left = right` in `text` whose left side evaluates exactly to the right side."""
    found: list[ProseEquation] = []
    for equals in re.finditer(r"=|\bequals\b", text):
        right = _RIGHT.match(text, equals.end())
        if not right:
            continue
        percent = bool(right["pct"])
        written = _number(right["value"])
        if percent:
            written /= 100
        boundaries = [match.end() for match in _BOUNDARY.finditer(text, 0, equals.start())]
        segment_start = boundaries[-1] if boundaries else 0
        tokens = _lhs_tokens(text[segment_start:equals.start()])
        for lhs in _candidates(tokens):
            if percent:
                # "2 / 50 * 100% = 4%": multiplying by 100% only announces the percent form
                lhs = _TIMES_HUNDRED_PERCENT.sub("", lhs)
            if not _has_operator(lhs):
                break  # shorter suffixes hold fewer operators
            try:
                value = evaluate(parse_expression(lhs))
            except ExecutionError:
                continue
            # "40% + 20% = 60%": read with percent signs as units (40 + 20 = 60) when the
            # percent reading (0.4 + 0.2 = 0.6) does not hold, and vice versa.
            if value == written or (percent and "%" in lhs and _percent_as_unit(lhs) == written
                                    * 100):
                if value != written:
                    lhs = lhs.replace("%", "")
                    value = written * 100
                    percent = False
                found.append(ProseEquation(lhs, value, segment_start, equals.start(),
                                           right.end(), percent))
                break
    return found


def _percent_as_unit(lhs: str) -> Fraction | None:
    try:
        return evaluate(parse_expression(lhs.replace("%", "")))
    except ExecutionError:
        return None
