"""MATH final answers: parsing and equivalence through math-verify.

MATH answers are LaTeX as found inside \\boxed{...}: "\\frac{1}{2}", "0.5", "(1,2)", "x^2+1",
"\\text{(C)}", "[2,5)", "\\$18", "10^\\circ". `math_equivalent` decides whether two of them are the
same answer and `parse_math_answer` gives the sympy form. All parsing and comparison goes through
math-verify (HuggingFace's grader); this module only wraps answers so that bare LaTeX parses and
bounds the time spent.

Time limits. math-verify bounds its own work with `signal.alarm`, which (read from its source,
math_verify/utils.py, 0.9.0) fails off the main thread (Prefect runs tasks in worker threads),
takes whole seconds only, and bounds each step rather than a whole call. So the library's own
timeouts are off (parsing_timeout=None, timeout_seconds=None) and each whole call runs in the
time-limited worker process of `mycelium.data.limits`, killed at `timeout_s`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from math_verify import LatexExtractionConfig, parse, verify

from mycelium.data.errors import MyceliumError
from mycelium.data.limits import run_with_time_limit

logger = logging.getLogger(__name__)

# The answer is wrapped in \boxed{...} before parsing: math-verify then takes exactly the boxed
# content (with brace matching), whatever characters it holds ("$", newlines, "\$18"), whereas
# "$...$" breaks on an answer that contains "$" or a newline. The LaTeX extractor alone is used:
# the plain-expression extractor only adds a fallback that picks loose numbers out of text.
_EXTRACTION = (LatexExtractionConfig(),)
# A sentence period after an answer ("-\frac{5}{3}.", as some MATH answers are written) makes
# math-verify misread it: "\frac{7}{5} + \frac{1}{5} i." parses as 1/5, "x+1." not at all.
_TRAILING_PERIOD = re.compile(r"(?<![.\\])\.\s*$")
# math-verify reads "43_5" (43 in base 5) as 43, so "43_5", "43_6" and "43" would compare equal.
# Here a base subscript is part of the answer: answers must carry the same ones to be equal.
# A numeral followed by a base subscript: digits/capital letters, "_", the base.
_BASE_SUBSCRIPT = re.compile(r"(?<![A-Za-z\\])[0-9A-Z]+_\{?(\d+)\}?")


class _MathVerifyDisabledTimeoutNotice(logging.Filter):
    """Drop math-verify's one-off "Timeout is disabled" warning: this module times the calls."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_MathVerifyDisabledTimeoutNotice())


def _parse(text: str) -> list[Any]:
    # raise_on_error=True: a parse error reaches the caller as an error, not an empty list.
    return parse(
        "\\boxed{" + _TRAILING_PERIOD.sub("", text) + "}",
        extraction_config=_EXTRACTION,
        parsing_timeout=None,
        raise_on_error=True,
    )


def _equivalent(gold: str, candidate: str) -> bool:
    if sorted(_BASE_SUBSCRIPT.findall(gold)) != sorted(_BASE_SUBSCRIPT.findall(candidate)):
        return False
    # verify's raise_on_error stays False: an error while comparing one pair of parses makes that
    # pair unequal and verify goes on to the rest, which are string comparisons.
    return verify(_parse(gold), _parse(candidate), timeout_seconds=None)


def math_equivalent(gold: str, candidate: str, *, timeout_s: float = 5.0) -> bool:
    """True iff two MATH final answers (the LaTeX inside \\boxed{}) are mathematically equal.

    `gold` is the reference: math-verify is not symmetric (gold "x=3" accepts candidate "3").
    Identical non-blank strings are equal without parsing. Anything that cannot be parsed or
    compared within `timeout_s` seconds (the whole call, not counting the one-off start of a worker
    process when called off the main thread) is not equal: odd answers never raise. Raises
    MyceliumError only for a timeout_s that is not a positive finite number, or when the worker
    process for a non-main thread cannot start.
    """
    if not isinstance(gold, str) or not isinstance(candidate, str):
        return False
    if gold == candidate:
        return bool(gold.strip())
    try:
        return run_with_time_limit(_equivalent, gold, candidate, seconds=timeout_s) is True
    except MyceliumError:
        raise
    except Exception as error:  # math-verify and sympy raise anything on malformed input
        logger.debug("MATH answers %r and %r not compared: %s", gold, candidate, error)
        return False


def parse_math_answer(text: str, *, timeout_s: float = 5.0) -> list[Any]:
    """math-verify's parse of one MATH final answer: [sympy object, normalized LaTeX string].

    The list is what `math_verify.verify` takes. Raises MyceliumError naming the text when no
    sympy object comes out of it (unparseable, empty, or over `timeout_s` seconds).
    """
    if not isinstance(text, str):
        raise MyceliumError(f"a MATH answer must be a string, got {type(text).__name__}: {text!r}")
    try:
        outcome = run_with_time_limit(_parse, text, seconds=timeout_s)
    except MyceliumError:
        raise
    except Exception as error:  # unparseable, or over the time limit
        raise MyceliumError(f"could not parse MATH answer {text!r}: "
                            f"{type(error).__name__}: {error}") from None
    if not any(not isinstance(item, str) for item in outcome):
        raise MyceliumError(f"no mathematical expression found in MATH answer {text!r}")
    return outcome
