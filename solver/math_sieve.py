"""Questions about the integers of a range that meet stated tests, read from their words: the
SIEVE step (solver/math_program.py) counts them, sums them or finds the largest or smallest.
Pure, no gold answer: the structure parser (solver/math_structure.py) puts these candidates with
the number, counting and geometry rules', before its SOLVE / EVALUATE / SIMPLIFY ones.

    sieve_candidates(text, math_spans(text), objective_clause)
    # "How many three-digit numbers are multiples of neither 5 nor 7?"
    #   -> [(MathStep(MathOp.SIEVE, "100", operands=("999", "5", "7"),
    #                 form="not_multiple,not_multiple", pick="count"),)]

How a question is read: the problem must be that one question (an "Express your answer ..."
sentence aside), its math only integers ("$500$") or a residue ("$6 \\pmod{11}$"). Its words
are read phrase by phrase, each phrase a part of the question:
  the ask      how many (count), the sum of (sum), the largest / greatest (max), the smallest /
               least (min);
  the range    n-digit, positive (natural, counting), less than / at most / greater than N,
               between A and B (inclusive only when it says so), from A to / through B, the
               first N positive integers;
  the tests    odd, even, multiples of / divisible by N (M and K: each), neither N nor M, not
               divisible by N, congruent to R mod M, a remainder of R when divided by M,
               relatively prime to N, perfect squares, cubes, primes, palindromes, only odd or
               even digits, distinct digits, digits that add up to S, the digit D (contains,
               does not contain, ends in, in the units place).
Every word must be one of these phrases or a word that adds nothing ("are", "that", "the",
"both", ...; `_FILLER`): a word left over ("either ... or", "squares of perfect squares", "a
difference of two members", a symbol defined elsewhere) means the question says something these
tests do not, and no candidate is proposed. A count or sum needs both ends of the range, the
smallest its lower end, the largest its upper end. Measured on every 4th row of MATH train,
questions of this family (one sentence, "how many ... integers / numbers / multiples", "the
largest ... that", "the sum of ...") are ~130 of the 3,000 rows, mostly Number Theory, Counting &
Probability and Prealgebra; the rules read the ones whose words are all tests above.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mycelium.solver.math_numbers import LatexSpan, Span, Steps
from mycelium.solver.math_program import SIEVE_CONDITIONS, MathOp, MathStep
from mycelium.solver.quantities import CARDINALS

_N = r"(-?\d+)"
# "2 3 and 5" once the commas are gone: the numbers of a list, each its own test
_LIST = r"(\d+(?: (?:and )?\d+)*)(?! (?:distinct|different|primes?|numbers?|integers?|" \
    r"digits?|consecutive|positive|odd|even|perfect|squares?|cubes?)\b)"
# Words that add nothing to what is asked about the integers.
_FILLER = frozenset(
    "are is be there that which have has the and both do does exist also distinct different "
    "all but leave leaves give gives a an it they when integer integers number numbers".split())
_EXPRESS = re.compile(r"(?:express|give|write|round|enter)\b[^.?!]*[.?!]?\s*$", re.IGNORECASE)
_INTEGER_LATEX = re.compile(r"-?\d{1,3}(?:(?:\{,\}|,|\\!|\\,)\d{3})+|-?\d+")
_RESIDUE_LATEX = re.compile(r"(\d+)\s*\\pmod\s*\{?\s*(\d+)\s*\}?")


@dataclass
class IntegerQuestion:
    """What a question's phrases say about integers: the ask, the ends of the range, the
    tests (`read_integer_words`)."""

    pick: str | None = None
    low: int | None = None
    high: int | None = None
    conditions: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def at_least(self, value: int) -> None:
        self.low = value if self.low is None else max(self.low, value)

    def at_most(self, value: int) -> None:
        self.high = value if self.high is None else min(self.high, value)

    def test(self, name: str, *parameters: int) -> None:
        assert SIEVE_CONDITIONS[name].arity == len(parameters)
        self.conditions.append((name, parameters))


def _numbers(text: str) -> list[int]:
    return [int(token) for token in re.findall(r"-?\d+", text)]


def _digits_range(question: IntegerQuestion, match: re.Match[str]) -> None:
    digits = int(match[1])
    if digits < 1:
        return
    question.at_least(10 ** (digits - 1) if digits > 1 else 1)
    question.at_most(10 ** digits - 1)


def _between(question: IntegerQuestion, match: re.Match[str]) -> None:
    low, high = int(match[1]), int(match[2])
    inclusive = match[3] is not None
    question.at_least(low if inclusive else low + 1)
    question.at_most(high if inclusive else high - 1)


def _from_to(question: IntegerQuestion, match: re.Match[str]) -> None:
    question.at_least(int(match[1]))
    question.at_most(int(match[2]))


def _each(name: str) -> Callable[[IntegerQuestion, re.Match[str]], None]:
    def read(question: IntegerQuestion, match: re.Match[str]) -> None:
        for number in _numbers(match[1]):
            question.test(name, number)
    return read


def _plain(name: str) -> Callable[[IntegerQuestion, re.Match[str]], None]:
    def read(question: IntegerQuestion, match: re.Match[str]) -> None:
        question.test(name)
    return read


def _residue(remainder: int, modulus: int) -> Callable[[IntegerQuestion, re.Match[str]], None]:
    def read(question: IntegerQuestion, match: re.Match[str]) -> None:
        question.test("residue", int(match[remainder]), int(match[modulus]))
    return read


def _ask(pick: str) -> Callable[[IntegerQuestion, re.Match[str]], None]:
    def read(question: IntegerQuestion, match: re.Match[str]) -> None:
        question.pick = pick if question.pick is None else "two asks"
    return read


def _refuse(question: IntegerQuestion, match: re.Match[str]) -> None:
    question.pick = "refused"


def _positive(question: IntegerQuestion, match: re.Match[str]) -> None:
    question.at_least(1)


def _nonnegative(question: IntegerQuestion, match: re.Match[str]) -> None:
    question.at_least(0)


_D = r"(?:the digit |a |an |one |any )?(\d)(?: as (?:a|one of its) digits?)?"
# (pattern, reader), tried in this order; each match is blanked before the next pattern, so a
# longer phrase ("relatively prime to 15", "at least once") is read before its parts.
_PHRASES: list[tuple[str, Callable[[IntegerQuestion, re.Match[str]], None]]] = [
    (r"^how many (?:of the )?", _ask("count")),
    (r"^(?:what is|find|compute) the sum of (?:all )?(?:of )?(?:the )?", _ask("sum")),
    (r"^(?:what is |find )?the (?:largest|greatest) (?:possible )?", _ask("max")),
    (r"^(?:what is |find )?the (?:smallest|least) (?:possible )?", _ask("min")),
    (r"\b(?:the )?(?:first (\d+)|(\d+) smallest) positive integers\b",
     lambda question, match: (question.at_least(1),
                              question.at_most(int(match[1] or match[2])))),
    (r"\b(\d+)(?:-| )digit\b", _digits_range),
    (r"\bbetween (-?\d+) and (-?\d+)( inclusive)?", _between),
    (r"\bfrom (-?\d+) (?:to|through) (-?\d+)(?: inclusive)?", _from_to),
    (r"\b(\d+) or more\b", lambda question, match: question.at_least(int(match[1]))),
    (r"\b(\d+) or (?:less|fewer)\b", lambda question, match: question.at_most(int(match[1]))),
    (r"\b(?:less than or equal to|at most|not exceeding|no (?:more|greater|larger) than) "
     + _N, lambda question, match: question.at_most(int(match[1]))),
    (r"\b(?:less than|smaller than|fewer than|below) " + _N,
     lambda question, match: question.at_most(int(match[1]) - 1)),
    (r"\b(?:greater than or equal to) " + _N,
     lambda question, match: question.at_least(int(match[1]))),
    (r"\b(?:greater than|more than|larger than|bigger than|exceeding) " + _N,
     lambda question, match: question.at_least(int(match[1]) + 1)),
    (r"\b(?:(?:are|is) )?(?:multiples? of|divisible by) neither (\d+ nor \d+)",
     _each("not_multiple")),
    (r"\bneither (?:a )?multiples? of (\d+) nor (?:of )?(?:a )?(?:multiples? of )?(\d+)",
     lambda question, match: [question.test("not_multiple", int(match[group]))
                              for group in (1, 2)]),
    (r"\b(?:(?:are|is|do|does) )?not (?:evenly )?(?:divisible by|(?:a )?multiples? of) (\d+)",
     _each("not_multiple")),
    (r"\b(?:evenly )?divisible by (?:each of |both |all of )?" + _LIST, _each("multiple")),
    (r"\bmultiples? of (?:each of |both |all of )?" + _LIST, _each("multiple")),
    (r"\bcongruent to (\d+) (?:mod|modulo) (\d+)", _residue(1, 2)),
    (r"\ba remainder of (\d+) when (?:it is )?divided by (\d+)", _residue(1, 2)),
    (r"\bwhen divided by (\d+) (?:leaves|gives|has|have|leave|give) a remainder of (\d+)",
     _residue(2, 1)),
    (r"\b(?:relatively prime|coprime) to (\d+)", _each("coprime")),
    (r"\b(?:contain|contains|have|has|with) both (?:the )?digits (\d) and (\d)",
     lambda question, match: [question.test("has_digit", int(match[group]))
                              for group in (1, 2)]),
    (r"\b(?:do|does) not (?:contain|have) " + _D, _each("no_digit")),
    (r"\b(?:end|ends|ending) (?:with|in) " + _D, _each("units_digit")),
    (r"\b(?:with|have|has) a units digit (?:of )?(\d)", _each("units_digit")),
    (r"\b(?:with|have|has) (?:a |an )?(\d) (?:in|as) the units (?:place|digit)",
     _each("units_digit")),
    (r"\b(?:contain|contains|have|has|with) (?:at least one )?" + _D + r"(?: at least once)?",
     _each("has_digit")),
    (r"\b(?:have|has|with) only odd digits\b", _plain("odd_digits")),
    (r"\b(?:have|has|with) only even digits\b", _plain("even_digits")),
    (r"\b(?:have|has|with) (?:all )?(?:distinct|different) digits\b", _plain("distinct_digits")),
    (r"\bwhose digits (?:add up to|sum to|have a sum of) (\d+)", _each("digit_sum")),
    # "primes have squares between ...": the squares are of the integers, not tests on them
    (r"\b(?:have|has|whose|their|its) (?:perfect )?(?:squares?|cubes?)\b", _refuse),
    (r"\b(?:perfect )?squares?\b", _plain("square")),
    (r"\b(?:perfect )?cubes?\b", _plain("cube")),
    (r"\bprimes?(?: numbers?)?\b", _plain("prime")),
    (r"\bpalindromes?\b|\bpalindromic\b", _plain("palindrome")),
    (r"\bodd\b", _plain("odd")),
    (r"\beven\b", _plain("even")),
    (r"\b(?:natural|counting) numbers?\b", _positive),
    (r"\bwhole numbers?\b", _nonnegative),
    (r"\bpositive\b", _positive),
    (r"\bnon-?negative\b", _nonnegative),
]
_COMPILED = [(re.compile(pattern), read) for pattern, read in _PHRASES]


def sieve_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The SIEVE step the question asks for (none when its words are not all read)."""
    words = _question_words(text, spans, objective)
    question = None if words is None else read_integer_words(words)
    if question is None or question.pick not in ("count", "sum", "max", "min"):
        return []
    step = _step(question)
    return [] if step is None else [(step,)]


def read_integer_words(words: str) -> IntegerQuestion | None:
    """The ask, range and tests `words` (lowercase prose, numbers as numerals) state, phrase by
    phrase (`_PHRASES`); None when a word is left that is neither a phrase's nor filler."""
    question = IntegerQuestion()
    for pattern, read in _COMPILED:
        while (match := pattern.search(words)) is not None:
            read(question, match)
            words = words[:match.start()] + " " * (match.end() - match.start()) + \
                words[match.end():]
    return None if set(words.split()) - _FILLER else question


def _step(question: IntegerQuestion) -> MathStep | None:
    low, high = question.low, question.high
    if question.pick == "min" and low is not None and high is None:
        high_ref = "\\infty"
    elif high is None:
        return None
    else:
        high_ref = str(high)
    if question.pick == "max" and low is None:
        low_ref = "-\\infty"
    elif low is None:
        return None
    else:
        low_ref = str(low)
    if low is not None and high is not None and low > high:
        return None
    conditions = question.conditions or [("integer", ())]
    form = ",".join(name for name, _ in conditions)
    parameters = tuple(str(number) for _, numbers in conditions for number in numbers)
    return MathStep(MathOp.SIEVE, low_ref, operands=(high_ref, *parameters), form=form,
                    pick=question.pick)


def _question_words(text: str, spans: Sequence[LatexSpan], objective: Span) -> str | None:
    """The question's words, lowercased, its math written as prose numbers ("6 mod 11"), number
    words as numerals, commas and parentheses gone; None when the problem is more than the
    question, or its math is more than integers."""
    ends = [match.end() for match in re.finditer(r"[.?!](?:\s|$)", text)]
    start = max((end for end in ends if end <= objective[0]), default=0)
    end = min((end for end in ends if end >= objective[1]), default=len(text))
    if text[:start].strip() or _EXPRESS.sub("", text[end:]).strip():
        return None
    pieces = []
    position = start
    for span in spans:
        if span.end <= start or span.start >= end:
            continue
        pieces.append(text[position:span.start])
        latex = span.latex.strip()
        residue = _RESIDUE_LATEX.fullmatch(latex)
        if residue is not None:
            pieces.append(f"{residue[1]} mod {residue[2]}")
        elif _INTEGER_LATEX.fullmatch(latex):
            pieces.append(re.sub(r"\{,\}|,|\\!|\\,", "", latex))
        else:
            return None
        position = span.end
    pieces.append(text[position:end])
    words = "".join(pieces).lower().rstrip(" ?.!")
    words = re.sub(r"(?<=\d),(?=\d{3}\b)", "", words)  # "10,000"
    words = re.sub(r"[,()?]|\\text\{[^{}]*\}", " ", words)
    # "one" stays a word: "at least one 3 as a digit"
    words = re.sub(r"\b(" + "|".join(word for word in CARDINALS if word != "one") + r")\b",
                   lambda found: str(CARDINALS[found[1]]), words)
    return re.sub(r"\s+", " ", words).strip()
