"""Whitelisting parser for arithmetic text, and its translation to program steps.

Accepted: numbers (`12`, `1,080`, `0.5`, `.5`), `+ - * / // ^ ** %`, parentheses, unary minus and
plus, and the typographic operators `× · ÷ − –`. Nothing else: any name, attribute, call, string,
bracket or stray character is an `ExecutionError("unparseable")`, so raw text never reaches
`eval`, `exec` or `sympify`. Grammar (precedence low → high, as in Python):

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '//' | '%') unary)*
    unary   := ('-' | '+') unary | power
    power   := postfix (('**' | '^') unary)?          right-associative; -2^2 = -(2^2)
    postfix := atom '%'*                              a percent sign: 20% = 20/100
    atom    := NUMBER | '(' expr ')'

`%` is modulo only when an operand (a number or '(') follows it directly; otherwise it is a
percent sign, so "20% * 50" is 10 and "17 % 5" is 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from mycelium.solver.executor import ExecutionError, apply
from mycelium.solver.program import Arg, Op, Step, StepRef

MAX_TEXT = 10_000  # characters; longer "expressions" are not arithmetic we want to parse
MAX_DEPTH = 200  # nesting; keeps recursion far from Python's limit

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d*)?|\.\d+)
      | (?P<op>\*\*|//|[-+*/^%()×·÷−–])
    )""",
    re.VERBOSE,
)
_ALIASES = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "^": "**"}
_BINARY = {"+": Op.ADD, "-": Op.SUB, "*": Op.MUL, "/": Op.DIV, "//": Op.FLOOR_DIV, "%": Op.MOD,
           "**": Op.POW}


@dataclass(frozen=True)
class Num:
    """A number as written; start/end are char offsets into the parsed text."""

    value: Fraction
    start: int
    end: int


@dataclass(frozen=True)
class Unary:
    op: Op  # NEG or PERCENT
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: Op
    left: Node
    right: Node


@dataclass(frozen=True)
class Var:
    """The unknown of a linear equation; only `parse_expression(..., variable=...)` makes one."""

    name: str


Node = Num | Unary | Binary | Var


def _number_value(text: str) -> Fraction:
    text = text.replace(",", "")
    whole, _, decimals = text.partition(".")
    return Fraction(int(whole or "0") * 10 ** len(decimals) + int(decimals or "0"),
                    10 ** len(decimals))


def tokenize(text: str, variable: str | None = None) -> list[tuple[str, str, int, int]]:
    """(kind, token, start, end) for each token; kind is 'number', 'op' or 'var'.

    `variable` admits one single-letter unknown (for `mycelium.solver.linear`); no other name.
    """
    if len(text) > MAX_TEXT:
        raise ExecutionError("unparseable", f"expression longer than {MAX_TEXT} characters")
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if variable and not match:
            match = re.compile(rf"\s*(?P<var>{re.escape(variable)})(?![A-Za-z])").match(text,
                                                                                     position)
        if not match:
            raise ExecutionError("unparseable", f"unexpected {text[position:position + 12]!r} "
                                                f"at char {position}")
        kind = match.lastgroup
        token = match[kind]
        tokens.append((kind, _ALIASES.get(token, token), match.start(kind), match.end(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, variable: str | None = None) -> None:
        self.variable = variable
        self.tokens = tokenize(text, variable)
        self.position = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int, int] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def at(self, *ops: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token[0] == "op" and token[1] in ops

    def operand_follows(self, offset: int) -> bool:
        token = self.peek(offset)
        return token is not None and (token[0] in ("number", "var") or token[1] == "(")

    def touching(self) -> bool:
        """No space between the previous token and the next: "3x" multiplies, "s 1" does not."""
        return 0 < self.position < len(self.tokens) and \
            self.tokens[self.position - 1][3] == self.tokens[self.position][2]

    def parse(self) -> Node:
        if not self.tokens:
            raise ExecutionError("unparseable", "empty expression")
        node = self.expr()
        if self.peek() is not None:
            raise ExecutionError("unparseable", f"unexpected {self.peek()[1]!r} at char "
                                                f"{self.peek()[2]}")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExecutionError("unparseable", f"nested deeper than {MAX_DEPTH}")
        node = self.term()
        while self.at("+", "-"):
            op = _BINARY[self.tokens[self.position][1]]
            self.position += 1
            node = Binary(op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while True:
            if self.at("*", "/", "//") or (self.at("%") and self.operand_follows(1)):
                op = _BINARY[self.tokens[self.position][1]]
                self.position += 1
            elif self.variable and self.operand_follows(0) and self.touching():
                op = Op.MUL  # algebra writes products by juxtaposition: 3x, 2(C-1)
            else:
                return node
            node = Binary(op, node, self.unary())

    def unary(self) -> Node:
        if self.at("-", "+"):
            sign = self.tokens[self.position]
            self.position += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExecutionError("unparseable", f"nested deeper than {MAX_DEPTH}")
            operand = self.unary()
            self.depth -= 1
            if sign[1] == "+":
                return operand
            if isinstance(operand, Num):  # "-3" is a negative number, not a NEG step
                return Num(-operand.value, sign[2], operand.end)
            return Unary(Op.NEG, operand)
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.at("**"):
            self.position += 1
            return Binary(Op.POW, base, self.unary())
        return base

    def postfix(self) -> Node:
        node = self.atom()
        while self.at("%") and not self.operand_follows(1):
            self.position += 1
            node = Unary(Op.PERCENT, node)
        return node

    def atom(self) -> Node:
        token = self.peek()
        if token is None:
            raise ExecutionError("unparseable", "expression ends where a number was expected")
        kind, text, start, end = token
        self.position += 1
        if kind == "number":
            return Num(_number_value(text), start, end)
        if kind == "var":
            return Var(text)
        if text == "(":
            node = self.expr()
            if not self.at(")"):
                raise ExecutionError("unparseable", "missing ')'")
            self.position += 1
            return node
        raise ExecutionError("unparseable", f"unexpected {text!r} at char {start}")


def parse_expression(text: str, variable: str | None = None) -> Node:
    """Parse arithmetic text into an expression tree; ExecutionError('unparseable') otherwise.

    With `variable` (one letter), that letter is an unknown and juxtaposition multiplies.
    """
    return _Parser(text, variable).parse()


def evaluate(node: Node) -> Fraction:
    """Exact value of an expression tree (size-bounded through the executor's `apply`)."""
    match node:
        case Num(value=value):
            return value
        case Unary(op, operand):
            return apply(op, [evaluate(operand)])
        case Binary(op, left, right):
            return apply(op, [evaluate(left), evaluate(right)])
        case Var(name):
            raise ExecutionError("unknown_variable", name)
    raise TypeError(f"not an expression node: {node!r}")


def leaves(node: Node) -> list[Num]:
    """The numbers of an expression, left to right."""
    match node:
        case Num():
            return [node]
        case Unary(operand=operand):
            return leaves(operand)
        case Binary(left=left, right=right):
            return leaves(left) + leaves(right)
    raise TypeError(f"not an expression node: {node!r}")


def _operands(node: Binary) -> list[Node]:
    """Children of an ADD/MUL chain flattened into one n-ary step: 5+8+0 -> ADD(5, 8, 0)."""
    if node.op not in (Op.ADD, Op.MUL):
        return [node.left, node.right]
    flat: list[Node] = []
    for child in (node.left, node.right):
        if isinstance(child, Binary) and child.op is node.op:
            flat.extend(_operands(child))
        else:
            flat.append(child)
    return flat


def to_steps(node: Node, link_leaf: Callable[[Num], Arg], steps: list[Step],
             origin: str = "") -> Arg:
    """Append the steps computing `node` to `steps` (post-order) and return the argument that
    stands for its value: a linked leaf for a bare number, else a StepRef to its last step.

    `link_leaf` turns each number into an argument (problem quantity, constant, earlier step).
    """
    if isinstance(node, Num):
        return link_leaf(node)
    children = [node.operand] if isinstance(node, Unary) else _operands(node)
    args = tuple(to_steps(child, link_leaf, steps, origin) for child in children)
    steps.append(Step(node.op, args, origin))
    return StepRef(len(steps) - 1)
