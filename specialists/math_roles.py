"""The roles a MATH candidate program gives a problem's words, clauses and math spans: what the
MATH labels record for the one program validated against the gold answer (labels/math.py), and
what inference compares the MATH students' predictions with for every candidate the structure
parser proposes (inference/math_choice.py). Nothing here knows of a gold answer.

    roles = candidate_roles(reading, candidate)
    roles.word_tags     # per word (problem_words): "I-EQUATION", ..., or "O"
    roles.clause_roles  # {clause index: role} for the clauses the program uses
    roles.span_roles    # per math span: TARGET, GIVEN or UNUSED

Clause roles (labels/math.py says what each means): EQUATION, CONSTRAINT, EXPRESSION,
OBJECTIVE. Span roles say which expression each clause contributes: TARGET (a step computes or
solves for it), GIVEN (a step reads it as known or as an operand), UNUSED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mycelium.solver.math_program import MathOp, MathProgram, MathStep, Ref
from mycelium.solver.math_structure import CandidateProgram, MathReading
from mycelium.specialists.labels.schema import OUTSIDE
from mycelium.specialists.problem_view import problem_words

ROLES = ("EQUATION", "CONSTRAINT", "EXPRESSION", "OBJECTIVE")
SPAN_ROLES = ("GIVEN", "TARGET", "UNUSED")


@dataclass(frozen=True)
class CandidateRoles:
    """One candidate program's reading of its problem (module docstring)."""

    clause_roles: dict[int, str]  # clause index -> role, the objective's included
    clause_texts: dict[int, list[str]]  # clause index -> what it gives, in program order
    word_tags: list[str]  # one per problem_words(text) word
    span_roles: list[str]  # one per math span


def candidate_roles(problem: MathReading, candidate: CandidateProgram,
                    words: Sequence[tuple[int, int]] | None = None) -> CandidateRoles:
    """The roles `candidate` gives `problem` (`words`: problem_words(problem.text), when the
    caller has them)."""
    roles, texts = clause_roles(problem, candidate)
    roles[problem.objective] = objective_role(candidate.steps)
    words = problem_words(problem.text) if words is None else words
    role_of = {problem.clauses[clause]: role for clause, role in roles.items()}
    tags = [next((f"I-{role}" for (start, end), role in role_of.items()
                  if start < word_end and word_start < end), OUTSIDE)
            for word_start, word_end in words]
    return CandidateRoles(roles, texts, tags, span_roles(candidate.steps, len(problem.spans)))


def clause_roles(problem: MathReading, candidate: CandidateProgram
                 ) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Each clause the program's given use, in program order, with its role (EQUATION over
    CONSTRAINT when a clause holds both) and the display text of what it gives."""
    literal_clauses = dict(candidate.literal_clauses)
    roles: dict[int, str] = {}
    texts: dict[int, list[str]] = {}
    for step in candidate.steps:
        for ref in known_refs(step):
            if isinstance(ref, int):
                clause = problem.clause_of[ref]
                role = "CONSTRAINT" if problem.facts[ref].kind == "constraint" else "EQUATION"
            else:
                clause, role = literal_clauses[ref], "CONSTRAINT"
            if roles.get(clause) != "EQUATION":
                roles[clause] = role
            texts.setdefault(clause, []).append(ref_text(problem, ref))
    return roles, texts


def objective_role(steps: Sequence[MathStep]) -> str:
    """EXPRESSION when the program is one step that computes the asked math on its own (no
    given, no SOLVE), else OBJECTIVE."""
    final = steps[-1]
    alone = len(steps) == 1 and not known_refs(final) and final.op is not MathOp.SOLVE
    return "EXPRESSION" if alone else "OBJECTIVE"


def span_roles(steps: Sequence[MathStep], spans: int) -> list[str]:
    """Per math span (a program's integer refs index them): TARGET when a step computes or
    solves for it, GIVEN when a step reads it, else UNUSED."""
    roles = ["UNUSED"] * spans
    for step in steps:
        for ref in (*step.given, *step.operands):
            if isinstance(ref, int) and 0 <= ref < spans and roles[ref] == "UNUSED":
                roles[ref] = "GIVEN"
        if isinstance(step.target, int) and 0 <= step.target < spans:
            roles[step.target] = "TARGET"
    return roles


def program_span_roles(program_json: str | dict, spans: int) -> list[str]:
    """span_roles of a stored program (a label row's `program`)."""
    import json

    data = json.loads(program_json) if isinstance(program_json, str) else program_json
    return span_roles(MathProgram.from_json(data).steps, spans)


def known_refs(step: MathStep) -> tuple[Ref, ...]:
    """What a step reads as known: its given, and the polynomial of a VIETA step."""
    return (*step.given, step.operands[0]) if step.op is MathOp.VIETA else step.given


def ref_text(problem: MathReading, ref: Ref) -> str:
    """sympy's text of a parsed span; the LaTeX of one the parser skipped (a number step's
    operand "$1729$") or the program wrote."""
    if isinstance(ref, str):
        return ref
    return problem.facts[ref].text or problem.spans[ref].latex
