"""Programs over the LaTeX math of a MATH problem: SOLVE, EVALUATE and SIMPLIFY steps, run by sympy
in the time-limited worker.

A problem's math is its LaTeX spans ("$2x+3=11$", "\\[f(x)=3x+2\\]"); `expressions[i]` is the
text of the i-th (specialists/labels_math.py finds them). A step refers to an expression by its
index, or carries a little LaTeX of its own: the unknown "x" of an objective that names none, a
constraint "x > 0" read from the words "x is positive". Steps, in order:

  SOLVE     solve the `given` equations for all their unknowns (function definitions such as
            f(x)=3x+2 are substituted first, not solved), keep the solutions that satisfy the
            `given` constraints, and give the value of `target`: a solved symbol or an expression
            in the solved symbols ("Find $xy$"). When the equations leave some unknowns free, the
            target is solved for as a new unknown of its own ("If $2x+4y=10$, find $x+2y$": 5).
            `pick` says which value when several remain: unique (there must be one), all (the
            list, "2, 3"), sum, product, max, min, difference (max - min).
  EVALUATE  the exact value of `target` after substituting the `given` definitions (f(x)=...,
            x=3) and the symbols earlier steps solved.
  SIMPLIFY  `target` after the same substitutions, simplified, expanded or factored (`form`).

A step whose target is a bare symbol binds that symbol to its value for the steps after it. The
answer is the last step's value as LaTeX (`sympy.latex`; a complex number as "8+4i", which
math-verify reads as one), the form `math_equivalent` compares.

    program = MathProgram((MathStep(MathOp.SOLVE, target=0, given=(1,)),))
    execute_math_program(program, ["x", "2x + 3 = 11"], timeout_s=2.0)   # -> "4"

Conventions MATH text follows: `i` is the imaginary unit; decimals are exact ("3.7" is 37/10);
x^\\circ is x*pi/180 (latex2sympy drops the degree sign, and sympy's trigonometry is in radians);
when several values remain and some are real, the real ones are kept (a problem about complex
numbers says so, and its answers then are single values).

Safety. LaTeX reaches sympy only through `parse_latex`; all sympy work of a call runs in one
`with_time_limit` call, and only strings come back: latex2sympy leaves powers unevaluated, and
unpickling `9^{9^{9^9}}` in the caller would evaluate it there, outside any limit. Inside the
worker, numbers whose size bound passes MAX_VALUE_BITS are refused before sympy evaluates them.

Two deadlines. Inside the worker a timer signal stops the sympy work at `timeout_s` (sympy is
Python, so a signal interrupts it), and the call ends as ExecutionError("timeout") with the worker
alive; `with_time_limit`, HARD_MARGIN_S later, kills the worker only for what a signal cannot
interrupt (one long C call) or may not (the LaTeX parser, see `_parsed`). Measured on MATH
train, a killed worker costs ~1 s to restart plus its warm parser caches, which was most of the
labelling time of the problems that time out.
"""

from __future__ import annotations

import functools
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

from mycelium.solver.executor import ExecutionError, with_time_limit
from mycelium.solver.latex import check_value_size as _check_size
from mycelium.solver.latex import parse_latex

# 2**17 bits is ~40,000 digits: past any MATH answer (2^{2005} mod 7 needs 2,005 bits), small
# enough that sympy's arithmetic on it is instant.
# An answer longer than this is not a MATH answer, and math-verify would spend seconds on it.
MAX_ANSWER_CHARS = 400
DEFAULT_TIMEOUT_S = 2.0
HARD_MARGIN_S = 1.0  # past the soft deadline, for what a signal cannot interrupt
# "^\circ", "^{\circ}": a product with pi/180 binds into a trigonometric argument the way the
# degree sign does ("\sin 240 \cdot \frac{\pi}{180}" parses as sin(240*pi/180)).
_DEGREES = re.compile(r"\^\s*(?:\\circ|\{\s*\\circ\s*\})")
PICKS = ("unique", "all", "sum", "product", "max", "min", "difference")
FORMS = ("simplify", "expand", "factor")

Ref = int | str  # an index into the problem's expressions, or LaTeX the program writes itself


class MathOp(StrEnum):
    SOLVE = "SOLVE"
    EVALUATE = "EVALUATE"
    SIMPLIFY = "SIMPLIFY"


@dataclass(frozen=True)
class MathStep:
    op: MathOp
    target: Ref
    given: tuple[Ref, ...] = ()
    pick: str = "unique"  # SOLVE only
    form: str = "simplify"  # SIMPLIFY only


@dataclass(frozen=True)
class MathProgram:
    steps: tuple[MathStep, ...]
    # Provenance, not semantics: how many candidate programs label validation executed to find
    # this one (1: the first shape tried reproduced the gold answer).
    tried: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [{"op": step.op.value, "target": step.target, "given": list(step.given),
                       "pick": step.pick, "form": step.form} for step in self.steps],
            "tried": self.tried,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MathProgram:
        """The program `to_json` gave; ExecutionError('bad_program') for anything else."""
        try:
            steps = tuple(_step_from_json(item) for item in data["steps"])
            tried = data.get("tried", 1)
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            raise ExecutionError("bad_program", str(error)) from None
        if not steps or type(tried) is not int or tried < 1:
            raise ExecutionError("bad_program", "no steps, or a bad `tried` count")
        return cls(steps, tried)

    def render(self, expressions: Sequence[str] = ()) -> str:
        """One line per step: `s1 = SOLVE $x$ given $2x + 3 = 11$`."""
        def show(ref: Ref) -> str:
            if isinstance(ref, str):
                return f"${ref}$"
            return f"${expressions[ref]}$" if ref < len(expressions) else f"#{ref}"

        lines = []
        for number, step in enumerate(self.steps, 1):
            line = f"s{number} = {step.op.value} {show(step.target)}"
            if step.given:
                line += " given " + ", ".join(show(ref) for ref in step.given)
            if step.op is MathOp.SOLVE and step.pick != "unique":
                line += f" ({step.pick})"
            if step.op is MathOp.SIMPLIFY and step.form != "simplify":
                line += f" ({step.form})"
            lines.append(line)
        return "\n".join(lines)


def _step_from_json(item: dict[str, Any]) -> MathStep:
    refs = [item["target"], *item.get("given", [])]
    if not all(isinstance(ref, str) or (type(ref) is int and ref >= 0) for ref in refs):
        raise ValueError(f"references must be expression indices or LaTeX: {refs!r}")
    step = MathStep(MathOp(item["op"]), item["target"], tuple(item.get("given", [])),
                    item.get("pick", "unique"), item.get("form", "simplify"))
    if step.pick not in PICKS or step.form not in FORMS:
        raise ValueError(f"unknown pick {step.pick!r} or form {step.form!r}")
    return step


@dataclass(frozen=True)
class MathFacts:
    """What one expression is, for the labeller: `kind` is equation (an Eq, or several: "x=2,
    y=3"), definition (f(x)=... over distinct symbols), constraint (<, >, \\le, \\ge, \\ne),
    expression, other (sets, intervals, tuples), or why it could not be read (unparseable,
    too_large, timeout); `symbols` the LaTeX of its free symbols (of a definition: its
    parameters, the a of f(x)=ax+3, not its variable x); `functions` the names of the undefined
    functions it applies (a definition's own included); `text` its sympy str, for display."""

    kind: str
    symbols: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    text: str = ""


# --- public entry points (caller side) ----------------------------------------------------------


def execute_math_program(program: MathProgram, expressions: Sequence[str],
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The program's answer as LaTeX, computed within `timeout_s`. ExecutionError with a
    snake_case reason otherwise: invalid_reference, unparseable, too_large, timeout, bad_given,
    not_solvable (no unknowns), underdetermined, no_solution, not_single_answer, not_real (max,
    min or difference of complex values), undefined (division by zero), not_an_expression,
    sympy_failed (sympy raised)."""
    for step in program.steps:
        for ref in (step.target, *step.given):
            if isinstance(ref, int) and not 0 <= ref < len(expressions):
                raise ExecutionError("invalid_reference", f"expression #{ref} of "
                                     f"{len(expressions)}")
    return with_time_limit(_within, timeout_s, _run_program, program, tuple(expressions),
                           seconds=timeout_s + HARD_MARGIN_S)


def describe_math(expressions: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S
                  ) -> list[MathFacts]:
    """The facts of every expression, parsed in one worker call (which also warms the worker's
    parse cache for the programs executed next); `timeout_s` applies to each expression, and one
    that overruns it is of kind "timeout"."""
    return with_time_limit(_describe_all, tuple(expressions), timeout_s,
                           seconds=timeout_s * len(expressions) + HARD_MARGIN_S)


# --- worker side: everything below runs inside with_time_limit ----------------------------------


class _Expired(BaseException):
    """The soft deadline passed. A BaseException, so that sympy's own `except Exception` (and
    `except ValueError`) handlers cannot swallow it."""


def _within(seconds: float, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, stopped by a timer signal at `seconds` as ExecutionError("timeout").
    Off the main thread, where no signal can be set, the caller's hard limit alone applies."""
    if threading.current_thread() is not threading.main_thread():
        return function(*args)

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            return function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        raise ExecutionError("timeout", f"over {seconds:g} s") from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _describe_all(expressions: tuple[str, ...], seconds: float) -> list[MathFacts]:
    facts = []
    for text in expressions:
        try:
            facts.append(_within(seconds, _describe, text))
        except ExecutionError as error:
            facts.append(MathFacts(error.reason))
    return facts


def _describe(text: str) -> MathFacts:
    try:
        parsed = _parsed(text)
    except ExecutionError as error:
        return MathFacts(error.reason)
    except Exception:  # sympy, while reading the parse (a recursion too deep, ...)
        return MathFacts("unparseable")
    kind = _kind(parsed)
    free = parsed.free_symbols - (set(parsed.lhs.args) if kind == "definition" else set())
    symbols = tuple(sorted(sympy.latex(symbol) for symbol in free))
    functions = tuple(sorted({str(call.func) for call in parsed.atoms(AppliedUndef)}))
    return MathFacts(kind, symbols, functions, str(parsed)[:200])


def _kind(parsed: sympy.Basic) -> str:
    if _equations(parsed) is not None:
        return "definition" if _definition(parsed) else "equation"
    if _constraints(parsed) is not None:
        return "constraint"
    return "expression" if isinstance(parsed, sympy.Expr) else "other"


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> sympy.Basic:
    """`text` parsed, decimals made exact, `i` read as the imaginary unit, sizes checked.

    The soft deadline's signal is held off while the parser runs: the ANTLR parser shares a
    prediction cache between parses, and one stopped midway could leave it half-updated for every
    later parse in this worker. A pending signal fires as soon as the parse returns; a parse that
    overruns on its own meets the hard limit."""
    held = {signal.SIGALRM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        expression = parse_latex(_DEGREES.sub(r" \\cdot \\frac{\\pi}{180}", text))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    expression = expression.replace(lambda node: isinstance(node, sympy.Float),
                                    lambda node: sympy.Rational(str(node)))
    expression = expression.subs(sympy.Symbol("i"), sympy.I)
    _check_size(expression)
    return expression


def _equations(parsed: sympy.Basic) -> list[sympy.Eq] | None:
    """The equations `parsed` states ("a=b=3" and "x=2, y=3" state two), or None."""
    if isinstance(parsed, sympy.Eq):
        return [parsed]
    if isinstance(parsed, sympy.And | sympy.FiniteSet) and parsed.args and all(
            isinstance(arg, sympy.Eq) for arg in parsed.args):
        return list(parsed.args)
    return None


def _constraints(parsed: sympy.Basic) -> list[sympy.Basic] | None:
    """The inequalities `parsed` states ("0 < y < x" states two), or None."""
    relations = parsed.args if isinstance(parsed, sympy.And) else (parsed,)
    if relations and all(isinstance(item, sympy.core.relational.Relational)
                         and not isinstance(item, sympy.Eq) for item in relations):
        return list(relations)
    return None


def _definition(parsed: sympy.Basic) -> bool:
    """f(x) = ... with distinct symbols as the arguments."""
    if not isinstance(parsed, sympy.Eq) or not isinstance(parsed.lhs, AppliedUndef):
        return False
    arguments = parsed.lhs.args
    return all(isinstance(arg, sympy.Symbol) for arg in arguments) and \
        len(set(arguments)) == len(arguments)


def _run_program(program: MathProgram, expressions: tuple[str, ...]) -> str:
    bound: dict[sympy.Symbol, sympy.Basic] = {}
    values: list[sympy.Basic] = []
    try:
        for step in program.steps:
            values = _STEPS[step.op](step, expressions, bound)
            target = _ref(step.target, expressions)
            if isinstance(target, sympy.Symbol) and len(values) == 1:
                bound[target] = values[0]
        return _answer(values)
    except ExecutionError:
        raise
    except Exception as error:  # sympy raises anything: NotImplementedError, TypeError, ...
        raise ExecutionError("sympy_failed", f"{type(error).__name__}: {error}"[:200]) from None


def _ref(ref: Ref, expressions: tuple[str, ...]) -> sympy.Basic:
    return _parsed(expressions[ref] if isinstance(ref, int) else ref)


@dataclass
class _Given:
    definitions: list[sympy.Eq]
    equations: list[sympy.Eq]
    constraints: list[sympy.Basic]


def _sort_given(step: MathStep, expressions: tuple[str, ...]) -> _Given:
    given = _Given([], [], [])
    for ref in step.given:
        parsed = _ref(ref, expressions)
        equations, constraints = _equations(parsed), _constraints(parsed)
        if _definition(parsed):
            given.definitions.append(parsed)
        elif equations is not None:
            given.equations.extend(equations)
        elif constraints is not None:
            given.constraints.extend(constraints)
        else:
            raise ExecutionError("bad_given", f"{str(parsed)[:60]} is no equation or constraint")
    return given


def _substitute(expression: sympy.Basic, definitions: list[sympy.Eq],
                bound: dict[sympy.Symbol, sympy.Basic]) -> sympy.Basic:
    """Defined functions replaced by their bodies (nested ones too, a few levels deep), then the
    bound symbols by their values."""
    expression = _applications(expression, {str(item.lhs.func) for item in definitions})
    for _ in range(4):
        before = expression
        for definition in definitions:
            body = sympy.Lambda(definition.lhs.args, definition.rhs)
            expression = expression.replace(definition.lhs.func, body)
        if expression == before:
            break
    _check_size(expression)
    return expression.subs(bound)


def _applications(expression: sympy.Basic, names: set[str]) -> sympy.Basic:
    """latex2sympy reads "f(g(2))" as the product f*g(2); where f is a defined function, a
    product of the symbol f and one other factor is f applied to that factor."""
    def is_function(factor: sympy.Basic) -> bool:
        return isinstance(factor, sympy.Symbol) and factor.name in names

    def misread(node: sympy.Basic) -> bool:
        return isinstance(node, sympy.Mul) and len(node.as_coeff_mul()[1]) == 2 and \
            any(is_function(factor) for factor in node.as_coeff_mul()[1])

    def applied(node: sympy.Mul) -> sympy.Basic:
        coefficient, factors = node.as_coeff_mul()
        function, argument = sorted(factors, key=lambda factor: not is_function(factor))
        return coefficient * sympy.Function(function.name)(argument)

    return expression.replace(misread, applied) if names else expression


def _solve_step(step: MathStep, expressions: tuple[str, ...],
                bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    given = _sort_given(step, expressions)
    equations = [_equation(*(_substitute(side, given.definitions, bound)
                             for side in (equation.lhs, equation.rhs)))
                 for equation in given.equations]
    target = _substitute(_ref(step.target, expressions), given.definitions, bound)
    unknowns = sorted(set().union(*(equation.free_symbols for equation in equations)), key=str)
    if not unknowns:
        raise ExecutionError("not_solvable", "no unknowns in the equations")
    values = _target_values(equations, unknowns, target, given.constraints)
    return _pick([_exact(value) for value in values], step.pick)


def _target_values(equations: list[sympy.Expr], unknowns: list[sympy.Symbol],
                   target: sympy.Expr, constraints: list[sympy.Basic]) -> list[sympy.Expr]:
    if len(equations) < len(unknowns):
        # Unknowns left free: the target may still be determined ("x + 2y" when 2x + 4y = 10).
        # Only for linear equations and targets: sympy's parametric solutions of nonlinear ones
        # (a cubic solved for x in terms of y) take it past any time limit.
        if not all(_is_linear(item, unknowns) for item in (*equations, target)):
            raise ExecutionError("underdetermined", f"{len(equations)} equations in "
                                 f"{len(unknowns)} unknowns, not all linear")
        value_symbol = sympy.Dummy("target")
        solutions = sympy.solve([*equations, value_symbol - target], [value_symbol, *unknowns],
                                dict=True)
        values = [solution[value_symbol] for solution in solutions
                  if value_symbol in solution and _satisfies(solution, constraints)]
    else:
        solutions = [solution for solution in _solutions(equations, unknowns)
                     if _satisfies(solution, constraints)]
        values = [target.subs(solution) for solution in solutions]
    if any(value.free_symbols & set(unknowns) for value in values):
        raise ExecutionError("underdetermined", "the equations leave the target free")
    if not values:
        raise ExecutionError("no_solution", "no solution satisfies the equations and constraints")
    return values


def _equation(left: sympy.Expr, right: sympy.Expr) -> sympy.Expr:
    """left = right as an expression equal to zero. Between products of powers of positive
    numbers ("9^{18n} = 27^{24}") it is the difference of the logarithms, linear in the
    exponents: sympy's solve takes seconds on the powers themselves (measured on MATH train),
    milliseconds on their logarithms; for real unknowns both sides are positive, so nothing is
    lost."""
    if _positive_powers(left) and _positive_powers(right) and \
            (left.free_symbols or right.free_symbols):
        return sympy.expand_log(sympy.log(left) - sympy.log(right), force=True)
    return left - right


def _positive_powers(expression: sympy.Expr) -> bool:
    return all(factor.is_Number and factor.is_positive
               or (isinstance(factor, sympy.Pow) and factor.base.is_Number
                   and factor.base.is_positive)
               for factor in sympy.Mul.make_args(expression))


def _solutions(equations: list[sympy.Expr], unknowns: list[sympy.Symbol]
               ) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """sympy's solutions. One equation in one unknown goes to solveset over the reals first:
    solve spends seconds on some ("5^b + 5^b + 5^b + 5^b + 5^b = 625^{b-1}") that solveset
    answers at once; without a finite set of real solutions, solve finds the complex ones."""
    if len(equations) == 1 and len(unknowns) == 1:
        real = sympy.solveset(equations[0], unknowns[0], sympy.S.Reals)
        if isinstance(real, sympy.FiniteSet) and real:
            return [{unknowns[0]: value} for value in real]
    return sympy.solve(equations, unknowns, dict=True)


def _is_linear(expression: sympy.Expr, unknowns: list[sympy.Symbol]) -> bool:
    try:
        return sympy.Poly(expression, *unknowns).total_degree() <= 1
    except sympy.PolynomialError:  # not a polynomial in the unknowns (exp, log, 1/x ...)
        return False


def _satisfies(solution: dict[sympy.Symbol, sympy.Expr], constraints: list[sympy.Basic]) -> bool:
    """False only for a constraint the solution provably breaks; one still undecided (a free
    symbol left) does not rule it out."""
    for constraint in constraints:
        try:
            if constraint.subs(solution) == sympy.false:
                return False
        except TypeError:  # a comparison with a non-real value: the constraint cannot hold
            return False
    return True


def _evaluate_step(step: MathStep, expressions: tuple[str, ...],
                   bound: dict[sympy.Symbol, sympy.Basic]) -> list[sympy.Basic]:
    given = _sort_given(step, expressions)
    assignments = {equation.lhs: equation.rhs for equation in given.equations
                   if isinstance(equation.lhs, sympy.Symbol)}
    target = _substitute(_ref(step.target, expressions), given.definitions,
                         {**assignments, **bound})
    if step.op is MathOp.EVALUATE:
        return [_exact(target)]
    transform = {"simplify": sympy.simplify, "expand": sympy.expand, "factor": sympy.factor}
    return [transform[step.form](target.doit())]


def _exact(value: sympy.Basic) -> sympy.Basic:
    if not isinstance(value, sympy.Expr):
        raise ExecutionError("not_an_expression", f"{str(value)[:60]}")
    _check_size(value)
    value = value.doit()
    # simplify is the slow part of most programs, and a rational needs none
    value = value if isinstance(value, sympy.Rational) else sympy.simplify(value)
    if value.has(sympy.zoo, sympy.nan):
        raise ExecutionError("undefined", f"{str(value)[:60]}")
    return value


def _pick(values: list[sympy.Expr], pick: str) -> list[sympy.Expr]:
    distinct = list(dict.fromkeys(values))
    real = [value for value in distinct if value.is_real]
    if len(distinct) > 1 and real:
        distinct = real
    if pick == "all":
        return sorted(distinct, key=_order)
    if pick == "unique":
        if len(distinct) != 1:
            raise ExecutionError("not_single_answer", f"{len(distinct)} values")
        return distinct
    if pick in ("max", "min", "difference") and len(real) != len(distinct):
        raise ExecutionError("not_real", f"{pick} of non-real values")
    combine: dict[str, Callable[[list[sympy.Expr]], sympy.Expr]] = {
        "sum": lambda items: sympy.Add(*items), "product": lambda items: sympy.Mul(*items),
        "max": lambda items: sympy.Max(*items), "min": lambda items: sympy.Min(*items),
        "difference": lambda items: sympy.Max(*items) - sympy.Min(*items)}
    return [sympy.simplify(combine[pick](distinct))]


def _order(value: sympy.Expr) -> tuple[int, float, str]:
    """Real values in numeric order, then the others by their text."""
    if value.is_real:
        return (0, float(value.evalf()), "")
    return (1, 0.0, str(value))


def _answer(values: list[sympy.Basic]) -> str:
    answer = ", ".join(_latex(value) for value in values)
    if len(answer) > MAX_ANSWER_CHARS:
        raise ExecutionError("too_large", f"an answer of {len(answer)} characters")
    return answer


_STEPS = {MathOp.SOLVE: _solve_step, MathOp.EVALUATE: _evaluate_step,
          MathOp.SIMPLIFY: _evaluate_step}


def _latex(value: sympy.Basic) -> str:
    """`sympy.latex`, but a complex number as "a + bi": math-verify reads "8 + 4i" as 8+4i and
    sympy's "8 + 4 i" as 8 + 4 times a symbol i."""
    if not (isinstance(value, sympy.Expr) and value.is_number and value.is_real is False):
        return sympy.latex(value)
    real, imaginary = value.as_real_imag()
    unit = {1: "i", -1: "-i"}.get(imaginary, sympy.latex(imaginary) + "i")
    if real == 0:
        return unit
    return sympy.latex(real) + ("" if unit.startswith("-") else "+") + unit
