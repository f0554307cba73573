"""GSM8K answers as exact rationals.

GSM8K final answers are written like "72", "1,080", "-3", "0.5", "$18", "3/4" or "20%". They are
parsed to `fractions.Fraction` so that comparisons are exact; a float never decides correctness.
"""

from __future__ import annotations

import re
from fractions import Fraction

from mycelium.data.errors import MyceliumError

# A plain number: optional sign, digits with optional thousands separators, optional decimals,
# or a simple fraction "a/b". Currency and percent signs are stripped before matching.
_NUMBER = re.compile(
    r"""^(?P<sign>[-+]?)
        (?:
            (?P<num>\d+)\s*/\s*(?P<den>\d+)                 # 3/4
          | (?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d+))?   # 1,080  0.5  .5  12
        )$""",
    re.VERBOSE | re.ASCII,  # ASCII digits only: "١٢" is not a GSM8K answer
)
_FINAL_MARK = "####"


def parse_number(text: str) -> Fraction:
    """Parse a GSM8K-style number to an exact Fraction.

    Accepts thousands separators, a leading "$", a trailing "%" (kept as the number written, so
    "20%" is 20: GSM8K answers that say 20% mean the number 20), decimals and "a/b" fractions.
    Raises MyceliumError naming the text when it is not a number.
    """
    cleaned = text.strip().replace("$", "").strip()
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    if cleaned.endswith("."):  # "18." at the end of a sentence
        cleaned = cleaned[:-1]
    match = _NUMBER.match(cleaned)
    if not match or cleaned in {"", "+", "-"}:
        raise MyceliumError(
            f"not a number: {text!r} (expected e.g. 72, 1,080, -3, 0.5, $18 or 3/4)")
    sign = -1 if match["sign"] == "-" else 1
    if match["den"] is not None:
        if int(match["den"]) == 0:
            raise MyceliumError(f"not a number: {text!r} (zero denominator)")
        return sign * Fraction(int(match["num"]), int(match["den"]))
    integer = (match["int"] or "").replace(",", "")
    decimals = match["frac"] or ""
    if not integer and not decimals:
        raise MyceliumError(f"not a number: {text!r} (expected digits)")
    return sign * Fraction(int(integer or "0") * 10 ** len(decimals) + int(decimals or "0"),
                           10 ** len(decimals))


def gsm8k_final_answer_text(solution: str) -> str:
    """The text after the last '####' of a GSM8K worked solution."""
    if _FINAL_MARK not in solution:
        raise MyceliumError("GSM8K answer has no '#### <number>' final line")
    return solution.rsplit(_FINAL_MARK, 1)[1].strip()


def gsm8k_final_answer(solution: str) -> Fraction:
    """The exact final answer of a GSM8K worked solution ('... #### 72' -> Fraction(72))."""
    return parse_number(gsm8k_final_answer_text(solution))
