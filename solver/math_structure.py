"""The MATH structure parser: a problem's math spans, clauses, objective and facts, and the
candidate sympy programs they allow, in the order they are tried. Pure (no torch, no gold
answer): the MATH reference labels (specialists/labels/math.py) validate these candidates against
the gold answer, and inference's structure track (inference/math_tracks.py) runs them without
one.

    structure = parse_math_structure(text, clauses=clause_spans(text))   # raises Dropped(reason)
    structure.programs[0].render(structure.expressions)

How a problem is read:
  1. Math spans: $...$, $$...$$, \\[...\\], \\(...\\) (`math_spans`; "\\$" is a dollar sign). A
     problem with an [asy] diagram is dropped here, before any parsing; so is one with no math,
     unless its objective is a number rule's (step 3).
  2. Clauses (`math_clauses`): spaCy's clauses (signals/clauses.py, passed in), merged wherever one
     cuts a math span, then cut at what spaCy misses in LaTeX-laden text: a sentence end after
     math ("...$x-y=2$. Find $xy$"), a question after a comma ("If $2x+4y=10$, what is
     $x+2y$?"), a colon between math ("Solve for $x$: $2x+3=11$").
  3. The objective: the first clause that asks (a "?", or find / compute / what / ...) and holds
     math, else the first that asks. One that asks for what no SOLVE / EVALUATE / SIMPLIFY
     program computes (a count, a probability, an area or length, an optimum, a remainder or
     digit, a point, line or interval: `OUT_OF_SCOPE`) is dropped before any parsing: on MATH
     train these words mark 2,960 of the 8,442 problems with math and a quarter of the labelling
     time, and 14 of those problems validated, mostly by accident. Unless a number rule
     (solver/math_numbers.py) reads the objective: a remainder or last digit, gcd, lcm,
     divisors, prime factors, a value in base b, whose operands may be numerals of the prose
     ("the greatest common factor of 68 and 92"), or a counting rule (solver/math_counting.py:
     choices, orders, letters of a word, balls into boxes, independent trials, random draws),
     or a geometry rule (solver/math_geometry.py: an area, perimeter, volume, surface, length
     or regular polygon's angle of one figure from the numbers the words state), or a sieve
     rule (solver/math_sieve.py: how many integers of a range meet stated tests, their sum,
     the largest or smallest), or an optimum (solver/math_extrema.py: the maximum or minimum
     value of an expression, given its definitions and constraints, `_extremum_given`), or
     a point or slope (solver/math_coordinates.py: a midpoint, the other endpoint, a slope), or
     a dice sum's probability (solver/math_dice.py).
     Its candidates come first. So is an objective
     that asks for integers ("How many integers $n$ satisfy $(n-2)(n+4) < 0$?"): INTEGERS over
     the problem's inequalities in one unknown comes next. Symmetric functions of a
     polynomial's named roots ("Let $a,$ $b$ be the roots of ...") come from its coefficients
     (VIETA), before the candidates below.
  4. Facts: the spans a program could use, parsed once in the worker (`describe_math`):
     equation, definition, constraint, expression or other, with symbols and functions.
  5. Targets: the objective's expression spans (not bare numerals: "$3$-digit" is no target);
     with none, the single unknown of its equations (of all equations when it has none). Its
     words say how to pick among several solutions (sum, product, largest, difference, all).
  6. The given: the equations, definitions and constraints connected to the target through shared
     symbols and functions, so an equation about something else ("in the form $y=mx+b$") stays
     out.
  7. Candidate programs, in a fixed order: the number rules' (step 3); a closed target alone
     (EVALUATE, or SIMPLIFY for "simplify / expand / factor"; the values where it is zero, SOLVE,
     for "the roots of"); with definitions only, EVALUATE with them; with equations, SOLVE for
     a target's single unknown then EVALUATE the target, then SOLVE for the target itself.

Drop reasons (`Dropped.reason`): diagram, no_math_clause, no_objective, out_of_scope, no_target,
or the reason a span failed to parse (timeout, too_large, unparseable, ... from math_program.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mycelium.data.errors import Dropped
from mycelium.solver.executor import ExecutionError
from mycelium.solver.math_coordinates import coordinate_candidates
from mycelium.solver.math_counting import counting_candidates
from mycelium.solver.math_dice import dice_candidates
from mycelium.solver.math_extrema import extremum_candidates
from mycelium.solver.math_geometry import geometry_candidates
from mycelium.solver.math_numbers import marked_text, number_candidates
from mycelium.solver.math_program import (
    MathFacts,
    MathOp,
    MathProgram,
    MathStep,
    Ref,
    describe_math,
)
from mycelium.solver.math_sieve import sieve_candidates

Span = tuple[int, int]  # (start char, end char), as signals.clauses writes clauses
# Per sympy or math-verify call. On MATH train 12 of 1,261 validated problems took over 1 s in
# all, while the 73 problems that ran into a 2 s limit took a fifth of the labelling time.
DEFAULT_TIMEOUT_S = 1.0
MAX_TARGETS = 2  # expression spans of the objective tried as targets, in text order

_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_ASKS = re.compile(r"\?|\b(?:find|compute|evaluate|simplify|solve|determine|calculate|what|"
                   r"which|expand|factor|rationalize)\b", re.IGNORECASE)
# Cuts inside a clause (positions outside math only): after a sentence end, before a question
# after a comma; a colon cuts only when math stands on both sides of it.
_SENTENCE_END = re.compile(r"[.?!]\s+(?=[A-Z$\\])")
_QUESTION_AFTER_COMMA = re.compile(
    r",\s+(?=(?:then\s+)?(?:what|find|compute|evaluate|determine|how|which|solve|simplify|"
    r"calculate)\b)", re.IGNORECASE)
_COLON = re.compile(r":\s+")
_TRIM = " \t\n.,;:?!"
_PICKS = (("difference", re.compile(r"\bdifference\b")),
          ("sum", re.compile(r"\bsum\b")),
          ("product", re.compile(r"\bproduct\b")),
          ("max", re.compile(r"\b(?:largest|greatest|biggest|larger|greater)\b")),
          ("min", re.compile(r"\b(?:smallest|(?<!at )least|smaller|lesser)\b")),
          ("all", re.compile(r"\ball\b")))
_SIGNS = re.compile(r"\b(non-?negative|positive|negative)\b(?!\s+difference)", re.IGNORECASE)
# MathFacts kinds of a parsed span, and of one left unparsed (`_facts`); any other kind is the
# reason its parse failed.
_KINDS = ("equation", "definition", "constraint", "expression", "other", "skipped")
_RELATION = re.compile(r"[=<>]|\\(?:le|ge|ne|leq|geq|neq|lt|gt|leqslant|geqslant)\b")
_LONE_SYMBOL = re.compile(r"[A-Za-z]|\\[A-Za-z]+")
_UNSTATABLE = re.compile(r"\\(?:begin\{(?:array|cases|align)|mathbf)")
_NUMERAL = re.compile(r"-?[\d,]*\.?\d+")
OUT_OF_SCOPE = re.compile(
    r"\b(?:how many|probability|expected|area|perimeter|volume|radius|diameter|distance|length|"
    r"circle|triangle|angle|minimum|maximum|remainder|digits?|prime|divisors?|base|modulo|graph|"
    r"line|parabola|ellipse|hyperbola|plane|vectors?|origin|coordinates?|ordered|interval|domain|"
    r"range|sequence|term|ways)\b", re.IGNORECASE)
_INTEGER_ASK = re.compile(r"\b(?:integers?|whole numbers?)\b", re.IGNORECASE)
_COUNTS = re.compile(r"\b(?:how many|number of)\b")
# "Let $a,$ $b,$ and $c$ be the roots of $P$" in the marked text (math_numbers.marked_text)
_ROOTS_NAMED = re.compile(r"((?:@\d+@[\s,]*(?:and\s+)?)+)(?:be|are|denote)\s+the\s+"
                          r"(?:[a-z]+\s+){0,3}(?:roots|solutions|zeros|zeroes)\s+of\s+"
                          r"(?:the\s+[a-z]+\s+)?@(\d+)@")
_ROOT_SYMBOL = re.compile(r"(?:[A-Za-z]|\\[a-z]+)(?:_\{?\d+\}?)?")
_ROOTS = re.compile(r"\b(?:roots|zeros|zeroes|solutions)\s+(?:of|to)\b")
_FORM_VERBS = re.compile(r"\b(simplify|expand|factor)\b")


@dataclass(frozen=True)
class MathSpan:
    """One piece of math: text[start:end] with its delimiters; `latex` inside them, with the
    sentence punctuation written inside the math ("$x=2,$") trimmed."""

    start: int
    end: int
    latex: str


def math_spans(text: str) -> list[MathSpan]:
    """The math spans of `text`, in order; an unclosed delimiter ends the scan."""
    spans: list[MathSpan] = []
    position = 0
    while position < len(text):
        if text.startswith("\\$", position):  # a dollar sign, not math
            position += 2
            continue
        opened = next(((opener, closer) for opener, closer in _DELIMITERS
                       if text.startswith(opener, position)), None)
        if opened is None:
            position += 1
            continue
        inner = position + len(opened[0])
        close = _closing(text, inner, opened[1])
        if close is None:
            break
        latex = text[inner:close].strip().rstrip(".,;?").strip()
        if latex:
            spans.append(MathSpan(position, close + len(opened[1]), latex))
        position = close + len(opened[1])
    return spans


def _closing(text: str, position: int, closer: str) -> int | None:
    while position < len(text):
        if text.startswith(closer, position):
            return position
        # A backslash escapes the next character ("\$" inside math) unless it starts the closer.
        position += 2 if text[position] == "\\" else 1
    return None


def math_clauses(text: str, spans: Sequence[MathSpan], clauses: Sequence[Span]) -> list[Span]:
    """Clauses of a MATH problem, none cutting a math span (rule in the module doc); `clauses`
    are spaCy's (signals.clauses.clause_spans)."""
    merged: list[Span] = []
    for start, end in sorted([*clauses, *((span.start, span.end) for span in spans)]):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return [piece for clause in merged for piece in _cut(text, clause, spans)]


def _cut(text: str, clause: Span, spans: Sequence[MathSpan]) -> list[Span]:
    start, end = clause

    def outside_math(position: int) -> bool:
        return not any(span.start <= position < span.end for span in spans)

    def has_math(left: int, right: int) -> bool:
        return any(left <= span.start and span.end <= right for span in spans)

    cuts = {match.end() for pattern in (_SENTENCE_END, _QUESTION_AFTER_COMMA)
            for match in pattern.finditer(text, start, end) if outside_math(match.start())}
    cuts |= {match.end() for match in _COLON.finditer(text, start, end)
             if outside_math(match.start()) and has_math(start, match.start())
             and has_math(match.end(), end)}
    pieces = []
    for left, right in zip([start, *sorted(cuts)], [*sorted(cuts), end], strict=True):
        while left < right and text[left] in _TRIM:
            left += 1
        while right > left and text[right - 1] in _TRIM:
            right -= 1
        if any(char.isalnum() for char in text[left:right]) or has_math(left, right):
            pieces.append((left, right))
    return pieces


@dataclass
class MathReading:
    """One problem's text, math and clauses, as the candidate builder reads them."""

    text: str
    prose: str  # the text with its math blanked: what words are read from
    spans: list[MathSpan]
    facts: list[MathFacts]
    clauses: list[Span]
    objective: int  # clause index
    clause_of: list[int] = field(init=False)  # span index -> clause index

    def __post_init__(self) -> None:
        self.clause_of = [next(index for index, (start, end) in enumerate(self.clauses)
                               if start <= span.start and span.end <= end)
                          for span in self.spans]

    def in_clause(self, clause: int, *kinds: str) -> list[int]:
        return [index for index, owner in enumerate(self.clause_of)
                if owner == clause and self.facts[index].kind in kinds]

    def clause_prose(self, clause: int) -> str:
        start, end = self.clauses[clause]
        return self.prose[start:end]

    def is_symbol(self, index: int) -> bool:
        facts = self.facts[index]
        return facts.kind == "expression" and len(facts.symbols) == 1 and \
            facts.text.isidentifier()


def blank_math(text: str, spans: Sequence[MathSpan]) -> str:
    """`text` with its math blanked, so words are read from the prose only."""
    characters = list(text)
    for span in spans:
        characters[span.start:span.end] = " " * (span.end - span.start)
    return "".join(characters)


@dataclass(frozen=True)
class CandidateProgram:
    steps: tuple[MathStep, ...]
    # The clause each constraint the program writes came from ("If $x$ is positive": x > 0).
    literal_clauses: tuple[tuple[str, int], ...] = ()


@dataclass
class MathStructure:
    """The structure parser's reading of a problem: its math, and the candidate programs in the
    order they are tried. What inference's structure track runs, with no gold answer."""

    expressions: list[str]  # the math spans' LaTeX, which programs refer to by index
    programs: list[MathProgram]


def parse_math_structure(text: str, *, clauses: Sequence[Span],
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> MathStructure:
    """Clause roles -> candidate sympy programs for `text`; raises Dropped(reason)."""
    problem, candidates = math_structure(text, clauses=clauses, timeout_s=timeout_s)
    return MathStructure([span.latex for span in problem.spans],
                         [MathProgram(candidate.steps, tried)
                          for tried, candidate in enumerate(candidates, 1)])


def math_structure(text: str, *, clauses: Sequence[Span],
                   timeout_s: float = DEFAULT_TIMEOUT_S
                   ) -> tuple[MathReading, list[CandidateProgram]]:
    """Steps 1-7 of the module docstring, without the gold answer: the problem as read and its
    candidate programs in order; raises Dropped(reason)."""
    if "[asy]" in text:
        raise Dropped("diagram")
    spans = math_spans(text)
    pieces = math_clauses(text, spans, clauses)
    prose = blank_math(text, spans)
    try:
        objective = _objective(prose, spans, pieces)
    except Dropped:
        if not spans:
            raise Dropped("no_math_clause") from None
        raise
    numbers = [CandidateProgram(steps)
               for steps in (*number_candidates(text, spans, pieces[objective]),
                             *counting_candidates(text, spans, pieces[objective]),
                             *geometry_candidates(text, spans, pieces[objective]),
                             *sieve_candidates(text, spans, pieces[objective]),
                             *extremum_candidates(text, spans, pieces[objective]),
                             *coordinate_candidates(text, spans, pieces[objective]),
                             *dice_candidates(text, spans, pieces[objective]))]
    if not spans and not numbers:
        raise Dropped("no_math_clause")
    scope = OUT_OF_SCOPE.search(prose, *pieces[objective])
    out_of_scope = Dropped("out_of_scope", f"the objective asks for a "
                           f"{scope.group().lower()}") if scope is not None else None
    if out_of_scope is not None and not numbers and \
            not _INTEGER_ASK.search(prose, *pieces[objective]):
        raise out_of_scope
    # an optimum's expression may stand outside the objective clause ("Find the minimum value
    # of\n\[...\]"): it is parsed as a target is
    optimised = {candidate.steps[0].target for candidate in numbers
                 if candidate.steps[0].op is MathOp.EXTREMUM}
    facts = _facts(prose, spans, pieces, objective, timeout_s, optimised)
    problem = MathReading(text, prose, spans, facts, pieces, objective)
    numbers = [item for candidate in numbers for item in _with_given(problem, candidate)]
    candidates = numbers + _integer_candidates(problem) + \
        ([] if out_of_scope is not None else _vieta_candidates(problem) + _candidates(problem))
    if not candidates and out_of_scope is not None:
        raise out_of_scope
    if not candidates:
        failed = [item for item in facts if item.kind not in _KINDS]
        if failed:  # a span that did not parse may have been the target
            raise Dropped(failed[0].kind, failed[0].text)
        raise Dropped("no_target", "the objective names no expression and no single unknown")
    return problem, candidates


def _objective(prose: str, spans: Sequence[MathSpan], clauses: Sequence[Span]) -> int:
    # The clause's "?" follows its end: clauses end before their punctuation.
    asking = [index for index, (start, end) in enumerate(clauses)
              if _ASKS.search(prose, start, min(end + 2, len(prose)))]
    if not asking:
        raise Dropped("no_objective", "no clause asks")
    with_math = [index for index in asking
                 if any(clauses[index][0] <= span.start < clauses[index][1] for span in spans)]
    return (with_math or asking)[0]


def _facts(prose: str, spans: Sequence[MathSpan], clauses: Sequence[Span], objective: int,
           timeout_s: float, also: set[Ref] = frozenset()) -> list[MathFacts]:
    """Facts of the spans a program could use: relations (equations or constraints), the
    objective's first MAX_TARGETS other spans that are not bare numerals (its targets), and lone
    symbols in a clause with a sign word. Other spans ("in the form $\\frac{m+\\sqrt{n}}{p}$")
    are never a target or a given, and are left unparsed ("skipped"): parsing is most of the
    labelling time. So are spans no sympy expression states (`_UNSTATABLE`: an array or case
    split, bold vectors). An elided series ("1 + 2 + \\dots + 100") is parsed: the parse reads
    it (solver/math_series.py)."""
    start, end = clauses[objective]
    targets = [index for index, span in enumerate(spans)
               if start <= span.start < end and not _RELATION.search(span.latex)
               and not _NUMERAL.fullmatch(span.latex)][:MAX_TARGETS]

    def needed(index: int, span: MathSpan) -> bool:
        if _UNSTATABLE.search(span.latex):
            return False
        if index in targets or index in also or _RELATION.search(span.latex):
            return True
        clause = next(clause for clause in clauses
                      if clause[0] <= span.start and span.end <= clause[1])
        return _LONE_SYMBOL.fullmatch(span.latex) is not None and \
            _SIGNS.search(prose, *clause) is not None

    wanted = [index for index, span in enumerate(spans) if needed(index, span)]
    if not wanted:
        return [MathFacts("skipped")] * len(spans)
    try:
        described = describe_math([spans[index].latex for index in wanted], timeout_s=timeout_s)
    except ExecutionError as error:
        raise Dropped(error.reason, error.detail) from None
    facts = [MathFacts("skipped")] * len(spans)
    for index, item in zip(wanted, described, strict=True):
        facts[index] = item
    return facts


def _candidates(problem: MathReading) -> list[CandidateProgram]:
    objective = problem.objective
    prose = problem.clause_prose(objective).lower()
    pick = next((name for name, pattern in _PICKS if pattern.search(prose)), "unique")
    signs = _sign_constraints(problem)
    targets = [index for index in problem.in_clause(objective, "expression")
               if not _NUMERAL.fullmatch(problem.spans[index].latex)]
    candidates: list[CandidateProgram] = []
    for target in targets:
        facts = problem.facts[target]
        given, unknowns = _connected(problem, set(facts.symbols), set(facts.functions))
        literals = tuple((latex, clause) for latex, clause, symbol in signs if symbol in unknowns)
        constraints = _constraints(problem, unknowns) + tuple(latex for latex, _ in literals)
        if not given:
            step = _closed_step(prose, target)
            # Evaluating unknowns that nothing determines answers nothing ("Find $n$" where no
            # equation holds n); simplifying them is a real answer.
            if step.op is MathOp.SIMPLIFY or not facts.symbols:
                candidates.append(CandidateProgram((step,)))
            elif _ROOTS.search(prose) and len(facts.symbols) == 1 and \
                    not problem.is_symbol(target):
                # "the roots of $x^2-5x+6$": where the polynomial is zero
                zero = f"{problem.spans[target].latex} = 0"
                candidates.append(CandidateProgram((MathStep(
                    MathOp.SOLVE, facts.symbols[0], (zero, *constraints),
                    pick="all" if pick == "unique" else pick),), ((zero, objective), *literals)))
            continue
        definitions = tuple(ref for ref in given if problem.facts[ref].kind == "definition")
        equations = tuple(ref for ref in given if ref not in definitions)
        solved = [symbol for symbol in facts.symbols if symbol in unknowns]
        if not equations:
            candidates.append(CandidateProgram((MathStep(MathOp.EVALUATE, target, definitions),)))
            continue
        if pick == "unique" and len(solved) == 1 and not problem.is_symbol(target):
            candidates.append(CandidateProgram((
                MathStep(MathOp.SOLVE, solved[0], given + constraints),
                MathStep(MathOp.EVALUATE, target, definitions)), literals))
        candidates.append(CandidateProgram(
            (MathStep(MathOp.SOLVE, target, given + constraints, pick=pick),), literals))
    if not targets:
        candidates.extend(_implicit_target(problem, pick, signs))
    return candidates


def _integer_candidates(problem: MathReading) -> list[CandidateProgram]:
    """The objective asks for integers ("the greatest integer that satisfies $6 - x > -9$",
    "How many positive integer values of $x$ ..."), and the problem's inequalities hold one
    unknown: INTEGERS over them, picked as the words say (how many: count)."""
    prose = problem.clause_prose(problem.objective)
    if not _INTEGER_ASK.search(prose):
        return []
    constraints = tuple(index for index, facts in enumerate(problem.facts)
                        if facts.kind == "constraint" and len(facts.symbols) == 1)
    symbols = {problem.facts[index].symbols[0] for index in constraints}
    if len(symbols) != 1:
        return []
    (symbol,) = symbols
    literals = [(latex, clause) for latex, clause, about in _sign_constraints(problem)
                if about == symbol]
    sign = _SIGNS.search(prose)
    if sign is not None and not any(clause == problem.objective for _, clause in literals):
        relation = {"positive": "> 0", "negative": "< 0"}.get(sign.group(1).lower(), "\\ge 0")
        literals.append((f"{symbol} {relation}", problem.objective))
    lowered = prose.lower()
    pick = "count" if _COUNTS.search(lowered) else \
        next((name for name, pattern in _PICKS if pattern.search(lowered)), "unique")
    step = MathStep(MathOp.INTEGERS, symbol,
                    constraints + tuple(latex for latex, _ in literals), pick=pick)
    return [CandidateProgram((step,), tuple(literals))]


def _vieta_candidates(problem: MathReading) -> list[CandidateProgram]:
    """"Let $a,$ $b,$ $c$ be the roots of $x^3 + 7x^2 - 11x - 2 = 0.$ Find $a + b + c.$": the
    objective's expressions from the polynomial's coefficients (VIETA), with the problem's
    other definitions ("$g(x) = x^2 - 2$") as given."""
    marked, _ = marked_text(problem.text, problem.spans)
    found = []
    for match in _ROOTS_NAMED.finditer(marked):
        roots = [int(index) for index in re.findall(r"@(\d+)@", match[1])]
        polynomial = int(match[2])
        if len(roots) < 2 or not all(_ROOT_SYMBOL.fullmatch(problem.spans[index].latex)
                                     for index in roots):
            continue
        definitions = tuple(index for index, facts in enumerate(problem.facts)
                            if facts.kind == "definition" and index != polynomial)
        # the objective's math after the polynomial (spaCy often leaves "...= 0.\\]Find $a+b$"
        # one clause, whose first spans are the roots)
        targets = [index for index in problem.in_clause(problem.objective, "expression",
                                                         "skipped")
                   if index > polynomial and not _RELATION.search(problem.spans[index].latex)
                   and not _NUMERAL.fullmatch(problem.spans[index].latex)][:MAX_TARGETS]
        found.extend(CandidateProgram((MathStep(
            MathOp.VIETA, target, definitions, operands=(polynomial, *roots)),))
            for target in targets)
    return found


def _with_given(problem: MathReading, candidate: CandidateProgram) -> list[CandidateProgram]:
    """A number rule's step with what determines its spans' unknowns: the equations and
    definitions connected to them ("How many factors does $N$ have if $N = 2^4 \\cdot 3^3$?"),
    and, when they hold a single unknown, that unknown solved first."""
    (step,) = candidate.steps
    if step.op is MathOp.EXTREMUM:
        return _extremum_given(problem, step)
    if step.op is MathOp.COORDINATE:  # its points are numbers, its line all it reads
        return [candidate]
    refs = [ref for ref in (step.target, *step.operands) if isinstance(ref, int)]
    symbols = {symbol for ref in refs for symbol in problem.facts[ref].symbols}
    functions = {name for ref in refs for name in problem.facts[ref].functions}
    if not symbols and not functions:
        return [candidate]
    given, unknowns = _connected(problem, symbols, functions)
    if not given:
        return [candidate]
    definitions = tuple(ref for ref in given if problem.facts[ref].kind == "definition")
    found = [CandidateProgram((replace(step, given=given),))]
    if len(unknowns) == 1:
        (unknown,) = unknowns
        found.append(CandidateProgram((MathStep(MathOp.SOLVE, unknown, given),
                                       replace(step, given=definitions))))
    return found


def _extremum_given(problem: MathReading, step: MathStep) -> list[CandidateProgram]:
    """An optimum's step with the definitions its expression uses and the constraints on its
    variables (inequalities, "for positive $x$"); none when the problem holds math the step
    would not read: an equation among them (an optimum under a condition, which EXTREMUM does
    not solve), or any span that is not the expression, a given, a lone symbol or a numeral
    (an interval in words, a second expression)."""
    facts = problem.facts[step.target]
    if facts.kind not in ("expression", "definition"):
        return []
    given, _ = _connected(problem, set(facts.symbols), set(facts.functions))
    given = tuple(index for index in given if index != step.target)
    if any(problem.facts[index].kind != "definition" for index in given):
        return []
    variables = set(facts.symbols) | {symbol for index in given
                                      for symbol in problem.facts[index].symbols}
    if facts.kind == "definition":  # its variable is no listed symbol: only a bare optimum
        variables = set()
    constraints = _constraints(problem, variables) if variables else ()
    literals = tuple((latex, clause) for latex, clause, symbol in _sign_constraints(problem)
                     if symbol in variables)
    read = {step.target, *given, *constraints}
    for index, span in enumerate(problem.spans):
        if index not in read and not _LONE_SYMBOL.fullmatch(span.latex) and \
                not _NUMERAL.fullmatch(span.latex):
            return []
    if _SIGNS.search(problem.prose) and not literals:
        return []  # a sign word about something the step does not read
    return [CandidateProgram((replace(step, given=(
        *given, *constraints, *(latex for latex, _ in literals))),), literals)]


def _implicit_target(problem: MathReading, pick: str,
                     signs: list[tuple[str, int, str]]) -> list[CandidateProgram]:
    """The objective names no expression ("What is the sum of the solutions?"): the target is
    the single unknown of the objective's own equations, or of all equations when it has none."""
    own = problem.in_clause(problem.objective, "equation", "definition")
    seeds = own or [index for index, facts in enumerate(problem.facts)
                    if facts.kind in ("equation", "definition")]
    symbols = {symbol for index in seeds for symbol in problem.facts[index].symbols}
    functions = {name for index in seeds for name in problem.facts[index].functions}
    given, unknowns = _connected(problem, symbols, functions)
    if len(unknowns) != 1 or not given:
        return []
    (unknown,) = unknowns
    literals = tuple((latex, clause) for latex, clause, symbol in signs if symbol in unknowns)
    constraints = _constraints(problem, unknowns) + tuple(latex for latex, _ in literals)
    return [CandidateProgram((MathStep(MathOp.SOLVE, unknown, given + constraints, pick=pick),),
                       literals)]


def _closed_step(prose: str, target: int) -> MathStep:
    """A target computed on its own: SIMPLIFY when the objective says simplify / expand /
    factor (in that form), EVALUATE otherwise."""
    verb = _FORM_VERBS.search(prose)
    if verb is None:
        return MathStep(MathOp.EVALUATE, target)
    return MathStep(MathOp.SIMPLIFY, target, form=verb.group(1))


def _connected(problem: MathReading, symbols: set[str], functions: set[str]
               ) -> tuple[tuple[int, ...], set[str]]:
    """The equations and definitions linked to the seed symbols and functions, directly or
    through each other, and the unknowns they bring (a definition's parameters are unknowns, its
    variable, the x of f(x)=3x+2, is not)."""
    chosen: set[int] = set()
    unknowns = set(symbols)
    grown = True
    while grown:
        grown = False
        for index, facts in enumerate(problem.facts):
            if index in chosen or facts.kind not in ("equation", "definition"):
                continue
            # "f(g(2))" parses with f as a symbol (math_program._applications), so a definition
            # links through a symbol of its name too
            linked = bool(set(facts.symbols) & unknowns or set(facts.functions) & functions
                          or (facts.kind == "definition" and set(facts.functions) & unknowns))
            if linked:
                chosen.add(index)
                functions |= set(facts.functions)
                unknowns |= set(facts.symbols)
                grown = True
    solvable = {symbol for index in chosen for symbol in problem.facts[index].symbols}
    return tuple(sorted(chosen)), unknowns & solvable


def _constraints(problem: MathReading, unknowns: set[str]) -> tuple[Ref, ...]:
    """Inequalities written in math, over the unknowns only."""
    return tuple(index for index, facts in enumerate(problem.facts)
                 if facts.kind == "constraint" and facts.symbols
                 and set(facts.symbols) <= unknowns)


def _sign_constraints(problem: MathReading) -> list[tuple[str, int, str]]:
    """(LaTeX constraint, clause, symbol) for the sign words of each clause ("If $x$ is
    positive"), about the clause's lone-symbol spans."""
    relations = {"positive": "> 0", "negative": "< 0"}
    found = []
    for clause in range(len(problem.clauses)):
        for match in _SIGNS.finditer(problem.clause_prose(clause)):
            relation = relations.get(match.group(1).lower(), "\\ge 0")
            for index in problem.in_clause(clause, "expression"):
                if problem.is_symbol(index):
                    symbol = problem.facts[index].symbols[0]
                    found.append((f"{problem.spans[index].latex} {relation}", clause, symbol))
            if clause == problem.objective and not any(
                    problem.is_symbol(index) for index in problem.in_clause(clause, "expression")):
                # "the positive solution": about the implicit unknown, which is known later
                found.extend((f"{symbol} {relation}", clause, symbol)
                             for symbol in _equation_symbols(problem))
    return found


def _equation_symbols(problem: MathReading) -> set[str]:
    return {symbol for facts in problem.facts if facts.kind == "equation"
            for symbol in facts.symbols}
