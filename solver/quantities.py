"""Quantities written in problem text, and the linker that ties a program's numbers to them.

`find_mentions(text)` finds every number a problem states: digits ("48", "1,080", "$2.50", "3/4",
"20%"), number words ("three", "twenty-five", "a hundred"), multiplicative and fractional words
("twice", "half", "a quarter", "a dozen", "triple") and a few phrases ("half an hour"). Each
mention has the values it can stand for in arithmetic: "half" is 1/2 but is usually computed as a
division by 2; "20%" is 20 or 0.2; "half an hour" is 30 (minutes) or 1/2 (hours).

`Linker` turns a number used by a program into a typed argument: a problem quantity (with its
char span), a named constant (60 minutes in an hour, ...) when the problem's words make that unit
plausible, or a `Literal` (unlinked). The GSM8K gold programs and the teacher's operand matching
share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from mycelium.solver.program import Arg, Constant, Literal, Quantity

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
CARDINALS: dict[str, int] = {word: value for value, word in enumerate(_ONES)}
CARDINALS.update({word: 20 + 10 * index for index, word in enumerate(_TENS)})
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}

# Denominator words: "a third" = 1/3, "two fifths" = 2/5; "half"/"quarter" also stand alone.
_DENOMINATORS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4,
                 "fourth": 4, "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6,
                 "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9,
                 "tenth": 10, "tenths": 10}
# Words that multiply: the program uses the factor ("twice as many" -> * 2).
_MULTIPLIERS = {"twice": 2, "double": 2, "doubled": 2, "doubles": 2, "triple": 3, "tripled": 3,
                "triples": 3, "thrice": 3, "quadruple": 4, "quadrupled": 4, "dozen": 12,
                "dozens": 12, "pair": 2, "pairs": 2, "score": 20, "once": 1, "both": 2,
                "twins": 2, "twin": 2, "triplets": 3, "week": 7, "weekly": 7, "fortnight": 14}
# Phrases whose arithmetic value is a unit conversion of what they say.
_PHRASES = {
    r"half\s+an?\s+hour|half-hour|half\s+hour": (30, Fraction(1, 2)),
    r"quarter\s+of\s+an\s+hour|quarter-hour|quarter\s+hour": (15, Fraction(1, 4)),
    r"half\s+a\s+dozen": (6,),
    r"half\s+(?:a|the)\s+(?:day)": (12, Fraction(1, 2)),
}

_DIGITS = re.compile(
    r"(?<![\w.])(?P<sign>-)?\$?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*(?P<pct>%|percent\b|per\s+cent\b))?")
_SLASH_FRACTION = re.compile(r"(?<![\w.])(\d+)\s*/\s*(\d+)(?![\w.])")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


@dataclass(frozen=True)
class Mention:
    """A number stated in the text: `aliases` are the values arithmetic may use it as."""

    start: int
    end: int
    text: str
    value: Fraction
    aliases: frozenset[Fraction]


def _fraction(text: str) -> Fraction:
    whole, _, decimals = text.replace(",", "").partition(".")
    return Fraction(int(whole or "0") * 10 ** len(decimals) + int(decimals or "0"),
                    10 ** len(decimals))


def _mention(start: int, end: int, text: str, value: Fraction, *extra: Fraction) -> Mention:
    return Mention(start, end, text[start:end], value, frozenset((value, *extra)))


def _cardinal(words: list[str]) -> int | None:
    """Value of a run of number words ("twenty-five", "three hundred", "a thousand")."""
    total, current, seen = 0, 0, False
    for word in words:
        parts = word.split("-")
        if all(part in CARDINALS for part in parts) and len(parts) <= 2:
            current += sum(CARDINALS[part] for part in parts)
            seen = True
        elif word in SCALES and (seen or word):
            current = max(current, 1) * SCALES[word]
            if SCALES[word] >= 1000:
                total, current = total + current, 0
            seen = True
        else:
            return None
    return total + current if seen else None


def _is_number_word(word: str) -> bool:
    parts = word.split("-")
    return (len(parts) <= 2 and all(part in CARDINALS for part in parts)) or word in SCALES


def _word_mentions(text: str) -> list[Mention]:
    lowered = text.lower()
    words = list(_WORD.finditer(lowered))
    mentions: list[Mention] = []
    index = 0
    while index < len(words):
        word = words[index].group()
        # Longest run of cardinal/scale words starting here: "three hundred twenty".
        end = index
        while end < len(words) and _is_number_word(words[end].group()):
            end += 1
            # "three hundred and twenty": "and" continues a run after a scale word
            if (end + 1 < len(words) and words[end].group() == "and"
                    and words[end - 1].group() in SCALES
                    and _is_number_word(words[end + 1].group())):
                end += 1
        if end > index:
            run = [match.group() for match in words[index:end] if match.group() != "and"]
            value = _cardinal(run)
            start_char, end_char = words[index].start(), words[end - 1].end()
            if value is not None:
                # "a hundred" / "a thousand": the article is the count
                mentions.append(_mention(start_char, end_char, text, Fraction(value)))
                # "two thirds": a numerator followed by a denominator word
                if end < len(words) and words[end].group() in _DENOMINATORS and \
                        lowered[end_char:words[end].start()].strip() in {"", "-"}:
                    denominator = _DENOMINATORS[words[end].group()]
                    mentions.append(_mention(start_char, words[end].end(), text,
                                             Fraction(value, denominator), Fraction(denominator)))
            index = end
            continue
        if "-" in word:  # "two-thirds", "three-quarters"
            head, _, tail = word.partition("-")
            if head in CARDINALS and tail in _DENOMINATORS:
                mentions.append(_mention(words[index].start(), words[index].end(), text,
                                         Fraction(CARDINALS[head], _DENOMINATORS[tail]),
                                         Fraction(_DENOMINATORS[tail]),
                                         Fraction(CARDINALS[head])))
        if word in _DENOMINATORS:
            denominator = _DENOMINATORS[word]
            mentions.append(_mention(words[index].start(), words[index].end(), text,
                                     Fraction(1, denominator), Fraction(denominator)))
        elif word in _MULTIPLIERS:
            mentions.append(_mention(words[index].start(), words[index].end(), text,
                                     Fraction(_MULTIPLIERS[word])))
        elif word in SCALES and (index == 0 or words[index - 1].group() not in CARDINALS):
            mentions.append(_mention(words[index].start(), words[index].end(), text,
                                     Fraction(SCALES[word])))
        index += 1
    return mentions


def find_mentions(text: str) -> list[Mention]:
    """Every number the text states, in text order (overlaps allowed: "3/4" gives 3, 4 and 3/4)."""
    mentions: list[Mention] = []
    for match in _DIGITS.finditer(text):
        value = _fraction(match["num"])
        if match["sign"]:
            value = -value
        start = match.start("sign") if match["sign"] else match.start("num")
        extras = [abs(value)]
        if match["pct"]:
            extras.append(value / 100)
        if "." in match["num"] and match.group().startswith("$"):
            extras.append(value * 100)  # "$1.25" computed as 125 cents
        following = re.match(r"\s*(hundred|thousand|million|billion)\b",
                             text[match.end():].lower())
        if following:
            extras.append(value * SCALES[following.group(1)])
        mentions.append(_mention(start, match.end("num") if not match["pct"] else match.end(),
                                 text, value, *extras))
    for match in _SLASH_FRACTION.finditer(text):
        numerator, denominator = int(match[1]), int(match[2])
        if denominator:
            mentions.append(_mention(match.start(), match.end(), text,
                                     Fraction(numerator, denominator)))
    for pattern, values in _PHRASES.items():
        for match in re.finditer(pattern, text, re.IGNORECASE):
            mentions.append(_mention(match.start(), match.end(), text, Fraction(values[0]),
                                     *map(Fraction, values[1:])))
    mentions.extend(_word_mentions(text))
    mentions.sort(key=lambda mention: (mention.start, -mention.end))
    return mentions


@dataclass(frozen=True)
class ConstantSpec:
    name: str
    value: int
    # The constant is used only when one of these word stems occurs in the problem text.
    context: tuple[str, ...]


CONSTANTS: tuple[ConstantSpec, ...] = (
    ConstantSpec("minutes_per_hour", 60, ("hour", "minute")),
    ConstantSpec("seconds_per_minute", 60, ("second",)),
    ConstantSpec("hours_per_day", 24, ("day", "hour", "daily")),
    ConstantSpec("days_per_week", 7, ("week",)),
    ConstantSpec("weeks_per_year", 52, ("year", "annual")),
    ConstantSpec("months_per_year", 12, ("month", "year", "annual")),
    ConstantSpec("days_per_year", 365, ("year", "annual")),
    ConstantSpec("days_per_month", 30, ("month",)),
    ConstantSpec("percent", 100, ("%", "percent")),
    ConstantSpec("cents_per_dollar", 100, ("cent", "$", "dollar")),
    ConstantSpec("units_per_dozen", 12, ("dozen",)),
    ConstantSpec("inches_per_foot", 12, ("inch", "foot", "feet")),
    ConstantSpec("feet_per_yard", 3, ("yard",)),
    ConstantSpec("ounces_per_pound", 16, ("ounce", "pound")),
    ConstantSpec("cups_per_quart", 4, ("quart",)),
    ConstantSpec("quarts_per_gallon", 4, ("gallon",)),
    ConstantSpec("metric_thousand", 1000, ("kilo", "liter", "litre", "km", "kg", "ml",
                                           "milli", "gram")),
    ConstantSpec("centimeters_per_meter", 100, ("centimet", "cm", "meter", "metre")),
    ConstantSpec("months_per_quarter", 3, ("quarter",)),
    ConstantSpec("minutes_per_half_hour", 30, ("half an hour", "half-hour", "half hour")),
    ConstantSpec("days_per_weekend", 2, ("weekend",)),
    ConstantSpec("weekdays_per_week", 5, ("weekday", "school day", "work day", "workday")),
    ConstantSpec("sides_of_square", 4, ("square",)),
    ConstantSpec("wheels_per_car", 4, ("car", "wheel")),
    ConstantSpec("legs_per_animal", 4, ("dog", "cat", "cow", "horse", "leg", "pig", "sheep")),
    ConstantSpec("people_per_couple", 2, ("couple",)),
    # The multiplicative identity and unit: "1 - 20%" of a price, "x + 1" for self, one more.
    ConstantSpec("one", 1, ("",)),
)


class Linker:
    """Links numbers used by a program to a problem's text.

    Each problem gets one Linker; `link` is called per program number in program order, and it
    prefers a mention not yet used so "5 apples and 5 pears" link to both fives in turn.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.mentions = find_mentions(text)
        self.used: set[int] = set()
        lowered = text.lower()
        self.constants = [spec for spec in CONSTANTS
                          if any(stem in lowered for stem in spec.context)]
        self.asks_percentage = bool(re.search(r"%|percent", lowered))

    def unit_constants(self) -> list[Constant]:
        """Constants that convert units (not the bare number one), allowed by the text."""
        return [Constant(spec.name, Fraction(spec.value)) for spec in self.constants
                if spec.value != 1]

    def quantity(self, value: Fraction) -> Quantity | None:
        """The best mention that can stand for `value`, as a Quantity (None when none can)."""
        best: tuple[tuple[int, int, int], int] | None = None
        for index, mention in enumerate(self.mentions):
            if value not in mention.aliases:
                continue
            # Prefer: not used yet, stated value itself (not an alias), then text order.
            rank = (index in self.used, mention.value != value, index)
            if best is None or rank < best[0]:
                best = (rank, index)
        if best is None:
            return None
        index = best[1]
        self.used.add(index)
        mention = self.mentions[index]
        return Quantity(value, mention.start, mention.end, mention.text)

    def constant(self, value: Fraction) -> Constant | None:
        for spec in self.constants:
            if spec.value == value:
                return Constant(spec.name, Fraction(spec.value))
        return None

    def link(self, value: Fraction) -> Arg:
        """Problem quantity, else a plausible named constant, else an unlinked Literal."""
        return self.quantity(value) or self.constant(value) or Literal(value)
