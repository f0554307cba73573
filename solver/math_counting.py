"""Counting and probability objectives of MATH problems, read from their words: the CHOOSE,
PERMUTE, ARRANGE, DISTRIBUTE, TRIALS and DRAW steps (solver/math_program.py) an objective asks for,
with their numbers. Pure, no gold answer: the structure parser (solver/math_structure.py) puts
these candidates with the number rules' (solver/math_numbers.py), before its SOLVE / EVALUATE /
SIMPLIFY ones, and lets a problem whose objective it would call out of scope through when one
of these rules reads it.

    counting_candidates(text, math_spans(text), objective_clause)
    # "Determine the number of ways to arrange the letters of the word ALABAMA."
    #   -> [(MathStep(MathOp.ARRANGE, "7", operands=("4",)),)]

The text is read as math_numbers reads it (lowercased, math spans as "@k@" markers); a rule
counts only where its match overlaps the objective clause, and reads its numbers anywhere in the
problem. A number is a digit numeral, a math span (by index) or a number word ("nine" is written
"9"). The counts are the plain ones: a problem that restricts them ("if two of them refuse to
sit next to each other", "at least one teacher") names no rule here (`_RESTRICTED`). Measured on
a quarter of MATH train (every 4th row): choosing k of n with or without order (~20 problems),
the letters of a word (~5), balls into boxes (~5), independent trials: coins, dice, stated
chances (~10), random draws from groups (a few).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from mycelium.solver.math_numbers import LatexSpan, Span, Steps, marked_text, overlaps
from mycelium.solver.math_program import MathOp, MathStep, Ref
from mycelium.solver.quantities import CARDINALS

_WORDS = "|".join(sorted(CARDINALS, key=len, reverse=True))
NUM = rf"(?:@\d+@|\d+|{_WORDS})\b"
# Words that restrict a count: the plain formulas below would miss them.
_RESTRICTED = re.compile(
    r"\b(?:at least|at most|exactly|must|refuses?|insists?|together|next to|"
    r"adjacent|consecutive|except|unless|no two|different (?:gender|sex)|same (?:gender|sex)|"
    r"(?:is|are) not|such that|so that|provided|neighbou?r|opposite|ends?)\b")
_OFFICES = re.compile(r"\b(?:vice[- ]president|president|secretary|treasurer|"
                      r"(?:1st|2nd|3rd|first|second|third)[- ]place)\b")
_MEMBERS = rf"(?:has|of|with|among|consists? of|contains?) (?P<n>{NUM}) (?:[a-z-]+ )?" \
    r"(?:members|people|students|players|persons|friends|candidates)\b"
_ALIKE = r"(?:indistinguishable|identical|alike|the same|not distinguishable)"
_DISTINCT = r"(?:distinguishable|different|distinct)"
_CHANCE = r"(?P<p>@\d+@|\d+/\d+|\d+%) (?:chance|probability)|(?:chance|probability) of " \
    r"(?P<q>@\d+@|\d+/\d+)"


def counting_candidates(text: str, spans: Sequence[LatexSpan], objective: Span) -> list[Steps]:
    """The counting and probability steps the objective asks for, most specific first (none
    when it asks for none of them)."""
    marked, origin = marked_text(text, spans)
    asked = _whole_sentence(text, objective)
    candidates: list[Steps] = []
    for pattern, build in _RULES:
        for match in pattern.finditer(marked):
            if overlaps(origin, match.span(), asked):
                steps = build(match, marked, spans)
                if steps and steps not in candidates:
                    candidates.append(steps)
    return candidates


def _whole_sentence(text: str, clause: Span) -> Span:
    """The sentence that holds the clause: spaCy often cuts a counting question in two ("How
    many ways are there | to put 5 balls in 2 boxes ...")."""
    ends = [match.end() for match in re.finditer(r"[.?!](?:\s|$)", text)]
    start = max((end for end in ends if end <= clause[0]), default=0)
    end = min((end for end in ends if end >= clause[1]), default=len(text))
    return start, end


def _ref(token: str) -> Ref:
    """A number token as a program reference: a span by index, a numeral or number word as
    the LaTeX of its value."""
    if token.startswith("@"):
        return int(token.strip("@"))
    return str(CARDINALS[token]) if token in CARDINALS else token


def _word(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """The orders of a word's letters: its length, with the sizes of its groups of repeated
    letters ("ALABAMA": 7 with 4 alike)."""
    token = match["word"]
    word = spans[int(token.strip("@"))].latex if token.startswith("@") else token
    word = re.sub(r"\\(?:text|mathrm|textrm)\{([^{}]*)\}", r"\1", word).strip().lower()
    if not word.isalpha() or len(word) < 2:
        return ()
    alike = sorted((size for size in Counter(word).values() if size > 1), reverse=True)
    return (MathStep(MathOp.ARRANGE, str(len(word)), operands=tuple(str(size)
                                                                   for size in alike)),)


def _balls(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """Balls into boxes: each alike or not as the words say ("4 indistinguishable balls into
    2 distinguishable boxes", "if the balls are distinguishable but the boxes are not"); a
    kind the words leave open names no count."""
    sentence = _sentence(marked, match.start(), match.end())
    flags = []
    for noun, adjective in (("balls", match["a"]), ("boxes", match["b"])):
        said = re.search(rf"\b{noun} are (?:(?P<alike>{_ALIKE})|(?P<distinct>{_DISTINCT}))",
                         sentence)
        if noun == "boxes" and re.search(r"\bbut the boxes are not\b", sentence):
            flags.append("1")
        elif adjective:
            flags.append("1" if re.fullmatch(_ALIKE, adjective) else "0")
        elif said:
            flags.append("1" if said["alike"] else "0")
        else:
            return ()
    return (MathStep(MathOp.DISTRIBUTE, _ref(match["n"]),
                     operands=(_ref(match["k"]), *flags)),)


def _choose(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """k of n, order aside: "choose a 4-person committee from a club of 9 people", "4 books be
    selected from a shelf of 6 books", "from a group of six students, how many different
    four-student committees"."""
    if _RESTRICTED.search(marked) or _OFFICES.search(marked):
        return ()
    return (MathStep(MathOp.CHOOSE, _ref(match["n"]), operands=(_ref(match["k"]),)),)


def _groups(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """k of each of several groups: "A Senate committee has 8 Republicans and 6 Democrats. In
    how many ways can we form a subcommittee with 3 Republicans and 2 Democrats?" """
    if _RESTRICTED.search(marked) or _OFFICES.search(marked):
        return ()
    refs = _group_pairs(marked, spans)
    if refs is None:
        return ()
    return (MathStep(MathOp.CHOOSE, refs[0], operands=tuple(refs[1:])),)


def _draw(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """A random draw from groups: "A Senate committee consists of 5 Republicans, 6 Democrats,
    and 2 Independents. A subcommittee of 3 members is randomly chosen. What is the probability
    that the subcommittee consists of 1 Republican, 1 Democrat, and 1 Independent?" The groups
    make up all there is (the total written as their sum)."""
    refs = _group_pairs(marked, spans)
    if not re.search(r"\b(?:randomly|at random)\b", marked):
        return ()
    drawn = re.search(rf"\b(?:(?:subcommittee|committee|group|team|sample|hand) of "
                      rf"(?P<a>{NUM})|(?:choose|chooses|select|selects|draw|draws|pick|picks) "
                      rf"(?P<b>{NUM})|(?P<c>{NUM}) [a-z]+ (?:are|is) (?:randomly |then )?"
                      r"(?:chosen|selected|drawn|picked))", marked)
    if refs is None or drawn is None:
        return ()
    total = " + ".join(_latex(ref, spans) for ref in refs[::2])
    return (MathStep(MathOp.DRAW, total, operands=(_ref(drawn["a"] or drawn["b"] or drawn["c"]),
                                                  *refs)),)


def _group_pairs(marked: str, spans: Sequence[LatexSpan]) -> list[Ref] | None:
    """(group, chosen) numbers of each noun counted twice, the larger the group ("8
    Republicans ... 3 Republicans"); None unless two or more nouns are, each exactly twice."""
    counts: dict[str, list[str]] = {}
    for found in re.finditer(rf"\b({NUM})(?:-| )(?:(?:different|distinct|[a-z]+ed) )?"
                             r"((?:@\d+@-)?[a-z]+(?:-[a-z]+)?)", marked):
        noun = re.sub(r"@(\d+)@", lambda marker: spans[int(marker[1])].latex,
                      found[2]).removesuffix("s")
        if noun not in ("of", "and", "or", "to", "in", "are", "is", "times"):
            counts.setdefault(noun, []).append(found[1])
    pairs = [tokens for tokens in counts.values() if len(tokens) == 2]
    if len(pairs) < 2 or any(len(tokens) > 2 for tokens in counts.values()):
        return None
    refs: list[Ref] = []
    for first, second in pairs:
        values = [_value(token, spans) for token in (first, second)]
        if values[0] is None or values[1] is None or values[0] == values[1]:
            return None
        group, chosen = (first, second) if values[0] > values[1] else (second, first)
        refs.extend((_ref(group), _ref(chosen)))
    return refs


def _offices(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """Distinct offices filled from n members ("a president and a vice-president", "a
    president, a secretary and a treasurer"): k of n in order."""
    if _RESTRICTED.search(marked):
        return ()
    offices = {found.group().replace(" ", "-") for found in _OFFICES.finditer(match.group())}
    members = re.search(_MEMBERS, marked)
    if len(offices) < 2 or members is None:
        return ()
    return (MathStep(MathOp.PERMUTE, _ref(members["n"]), operands=(str(len(offices)),)),)


def _row(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """n in a row: n! (PERMUTE n of n); around a round table, rotations alike: (n-1)!."""
    if _RESTRICTED.search(marked):
        return ()
    count = _ref(match["n"])
    if match["round"]:
        count = f"{_latex(count, spans)} - 1"
    return (MathStep(MathOp.PERMUTE, count, operands=(count,)),)


def _trials(match: re.Match[str], marked: str, spans: Sequence[LatexSpan]) -> Steps:
    """Independent trials of one chance: "exactly 2 of the 5 flips come up heads", "at least 5
    of the flips" of a coin flipped 7 times, "exactly 4 of the 5 days" each with "a 2/3
    chance", "exactly three of the dice show a 1" of ten 6-sided dice."""
    trials = match.groupdict().get("n") or _trial_count(marked, match)
    chance = _chance(marked, match, spans)
    if trials is None or chance is None:
        return ()
    count = _ref(trials)
    wins = _ref(match["k"])
    low, high = {"exactly": (wins, wins), "at least": (wins, count),
                 "at most": ("0", wins)}[match["how"]]
    return (MathStep(MathOp.TRIALS, count, operands=(low, high, chance)),)


def _trial_count(marked: str, asked: re.Match[str]) -> str | None:
    """How many trials: "flipped 7 times", "Ten 6-sided dice", "flips 8 coins" (not the
    "exactly three times" asked)."""
    marked = marked[:asked.start()] + " " * len(asked.group()) + marked[asked.end():]
    found = re.search(rf"\b(?:(?P<a>{NUM}) times|(?P<b>{NUM}) (?:fair |standard )?"
                      rf"(?:(?:@\d+@|\d+)-sided )?(?:dice|coins)\b)", marked)
    return None if found is None else found["a"] or found["b"]


def _chance(marked: str, match: re.Match[str], spans: Sequence[LatexSpan]) -> Ref | None:
    """Each trial's chance: a stated one ("a 2/3 chance"), a fair coin's 1/2, or the share of a
    die's faces that the event names ("an odd number", "a 1", "a 1 or a 2")."""
    stated = re.search(_CHANCE, marked)
    if stated is not None:
        token = stated["p"] or stated["q"]
        if token.endswith("%"):
            return f"\\frac{{{token[:-1]}}}{{100}}"
        if token.startswith("@"):
            return _ref(token)
        numerator, denominator = token.split("/")
        return f"\\frac{{{numerator}}}{{{denominator}}}"
    if re.search(r"\bcoins?\b", marked) and re.search(r"\b(?:heads?|tails?)\b", match.group()):
        if re.search(r"\b(?:unfair|weighted|biased)\b", marked):
            return None
        return "\\frac{1}{2}"
    die = re.search(rf"\b(?:(?P<sides>@\d+@|\d+|{_WORDS})-sided |standard |fair )*(?:dice|die)\b",
                    marked)
    event = re.search(r"\b(?:shows?|roll|rolls|get|gets) (?:the number )?(?:an? )?(?:"
                      r"(?P<parity>odd|even) number|(?P<faces>"
                      r"(?:@\d+@|\d+)(?: or (?:an? )?(?:@\d+@|\d+))*)(?!\d))", match.group())
    if die is None or event is None:
        return None
    sides = _value(die["sides"], spans) if die["sides"] else 6
    if sides is None:
        return None
    if event["parity"]:
        favourable = (sides + (event["parity"] == "odd")) // 2
    else:
        favourable = len(re.findall(r"@\d+@|\d+", event["faces"]))
    return f"\\frac{{{favourable}}}{{{sides}}}"


def _value(token: str, spans: Sequence[LatexSpan]) -> int | None:
    """A number token's integer value, for comparing and reading sides; None when it is no
    plain integer."""
    text = _latex(_ref(token), spans).replace(",", "").replace("{", "").replace("}", "")
    return int(text) if text.isdigit() else None


def _latex(ref: Ref, spans: Sequence[LatexSpan]) -> str:
    return spans[ref].latex if isinstance(ref, int) else ref


def _sentence(marked: str, start: int, end: int) -> str:
    """The sentence around [start, end), and the one after it (what the balls and boxes are
    is often said after the question: "... 2 boxes if the balls are distinguishable ...")."""
    left = max(marked.rfind(". ", 0, start), marked.rfind("? ", 0, start)) + 1
    return marked[left:end + 200]


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("NUM", NUM).replace(" ", r"\s+"))


_HOW = r"(?P<how>exactly|at least|at most) (?P<k>NUM)"
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], str, Sequence[LatexSpan]], Steps]]] = [
    (_rule(r"(?:arrange|arrangements? of|orderings? of|permutations? of|rearrange|"
           r"rearrangements? of) (?:all )?(?:of )?the letters (?:of|in) (?:the )?(?:word )?"
           r"(?P<word>@\d+@|[a-z]+)"), _word),
    (_rule(rf"(?:put|place|distribute|placed|put) (?P<n>NUM) (?:(?P<a>{_ALIKE}|{_DISTINCT}) )?"
           rf"balls (?:in|into) (?P<k>NUM) (?:(?P<b>{_ALIKE}|{_DISTINCT}) )?boxes"), _balls),
    (_rule(r"(?:choose|select|pick|form|chosen|selected|picked|formed) (?:an? |the )?(?P<k>NUM)"
           r"(?:-| )(?:[a-z]+-)?[a-z]+ (?:[a-z]+ )?(?:from|out of) (?:an? |the |my |our )?"
           r"(?:[a-z]+ )?(?:of )?(?P<n>NUM)\b"), _choose),
    (_rule(r"(?P<k>NUM) [a-z]+ (?:be |are |is )?(?:chosen|selected|picked) (?:from|out of) "
           r"(?:an? |the |my |our )?(?:[a-z]+ )?(?:of )?(?P<n>NUM)\b"), _choose),
    (_rule(r"from (?:an? |the )?(?:[a-z]+ )?of (?P<n>NUM) [a-z]+ ?, how many (?:different |"
           r"distinct |possible )?(?P<k>NUM)-[a-z]+ [a-z]+ can be (?:chosen|selected|formed)"),
     _choose),
    (_rule(r"(?:how many|number of) (?:different |distinct |possible )?(?:ways|subcommittees|"
           r"committees|teams|groups|selections)"), _groups),
    (_rule(r"(?:choose|select|pick|elect|fill)[^.?]*?(?:vice[- ]president|president|secretary|"
           r"treasurer)(?:[^.?]*?(?:vice[- ]president|president|secretary|treasurer))+"),
     _offices),
    (_rule(r"(?P<n>NUM) (?:[a-z]+ )?(?:people|persons|students|friends|children|books|"
           r"distinct [a-z]+|different [a-z]+) (?:can |)(?:be )?(?:sit|seated|stand|line up|"
           r"lined up|arranged|placed|put)(?: down)? (?:in|on|around|at) (?:a |an )?"
           r"(?:(?:straight )?(?:row|line)|shelf|(?P<round>round table|circular table|circle))"),
     _row),
    (_rule(_HOW + r"(?: of the (?P<n>NUM))? (?:[a-z]+ ){0,2}(?:come up |land |show |are |is )?"
           r"(?:heads|tails|[a-z]+)?"), _trials),
    (_rule(r"(?:heads|tails|an? [a-z]+ number|an? [a-z]+) in " + _HOW +
           r"(?: of the (?P<n>NUM))? (?:flips|tosses|rolls|trials|days|games)"), _trials),
    (_rule(_HOW + r" of (?:the (?:dice|coins|flips|tosses|rolls)|them)(?: will)?(?: shows?| "
           r"comes? up| lands?)? (?:an? )?[a-z0-9@ ]+"), _trials),
    (_rule(r"(?:roll|rolls|get|gets|flip|flips|shows?) (?:the number |an? )?(?:@\d+@|\d+|heads|"
           r"tails|an? (?:odd|even) number) " + _HOW + r" times"), _trials),
    (_rule(r"probability"), _draw),
]
