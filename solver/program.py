"""Program IR: ordered steps, each an operation over typed arguments.

An argument is one of
  - `Quantity`: a number written in the problem text (value + char span + the text itself),
  - `Constant`: a named world constant (60 minutes in an hour, 7 days in a week, 100 percent),
  - `StepRef`: the result of an earlier step,
  - `Literal`: a number that could not be linked to any of the above (counted as unlinked).

Rendering is one line per step, e.g. `s2 = MUL(48 [chars 24-26], s1)`. Programs round-trip
through JSON (`to_json` / `Program.from_json`), which is how they are stored in trace files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any


class Op(StrEnum):
    """Operations. ADD and MUL take two or more arguments; NEG, PERCENT, CEIL, FLOOR one; the rest
    two."""

    ADD = "ADD"
    SUB = "SUB"
    MUL = "MUL"
    DIV = "DIV"
    POW = "POW"
    MOD = "MOD"
    FLOOR_DIV = "FLOOR_DIV"
    NEG = "NEG"
    PERCENT = "PERCENT"  # x% -> x / 100
    CEIL = "CEIL"  # "she cannot buy half a can": 7.5 -> 8
    FLOOR = "FLOOR"  # "how many whole boxes": 15.36 -> 15


_ASSOCIATIVE = frozenset({Op.ADD, Op.MUL})  # argument order and grouping do not matter
ARITY: dict[Op, tuple[int, int | None]] = {
    Op.ADD: (2, None), Op.MUL: (2, None),
    Op.SUB: (2, 2), Op.DIV: (2, 2), Op.POW: (2, 2), Op.MOD: (2, 2), Op.FLOOR_DIV: (2, 2),
    Op.NEG: (1, 1), Op.PERCENT: (1, 1), Op.CEIL: (1, 1), Op.FLOOR: (1, 1),
}


def format_number(value: Fraction) -> str:
    """Exact, readable: integers as integers, terminating decimals as decimals, else a/b."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        # Terminating decimal: scale to an integer with enough digits, then place the point.
        digits = 0
        while (value * 10**digits).denominator != 1:
            digits += 1
        scaled = abs(value * 10**digits).numerator
        text = str(scaled).rjust(digits + 1, "0")
        sign = "-" if value < 0 else ""
        return f"{sign}{text[:-digits]}.{text[-digits:]}"
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class Quantity:
    """A number in the problem text: `text[start:end]` is where it is written."""

    value: Fraction
    start: int
    end: int
    text: str

    def render(self) -> str:
        return f"{format_number(self.value)} [chars {self.start}-{self.end}]"


@dataclass(frozen=True)
class Constant:
    """A named world constant such as minutes_per_hour = 60."""

    name: str
    value: Fraction

    def render(self) -> str:
        return f"{format_number(self.value)} [{self.name}]"


@dataclass(frozen=True)
class StepRef:
    """The result of step `index` (0-based; rendered as s1, s2, ...)."""

    index: int

    def render(self) -> str:
        return f"s{self.index + 1}"


@dataclass(frozen=True)
class Literal:
    """A number used by a program that nothing in the problem or the constant table explains."""

    value: Fraction

    def render(self) -> str:
        return f"{format_number(self.value)} [unlinked]"


Arg = Quantity | Constant | StepRef | Literal
LEAF_KINDS = {Quantity: "problem", StepRef: "step", Constant: "constant", Literal: "unlinked"}


@dataclass(frozen=True)
class Step:
    op: Op
    args: tuple[Arg, ...]
    # Where the step came from (e.g. "annotation 2" of a worked solution); provenance only.
    origin: str = ""

    def render(self, index: int) -> str:
        return f"s{index + 1} = {self.op.value}({', '.join(arg.render() for arg in self.args)})"


@dataclass(frozen=True)
class Program:
    """Ordered steps; the answer is the last step's value."""

    steps: tuple[Step, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def render(self) -> str:
        return "\n".join(step.render(index) for index, step in enumerate(self.steps))

    def leaves(self) -> list[Arg]:
        return [arg for step in self.steps for arg in step.args]

    def expression_key(self) -> str:
        """The answer's expression tree as text, the same for programs that differ only in the
        order of their steps, the order of ADD's or MUL's arguments, how an ADD or MUL chain
        is grouped, or steps the answer does not use: `MUL(2, 16) + MUL(8, 2)` and
        `MUL(2, 8) + MUL(16, 2)` over the same mentions share one key. Problem numbers are
        named by their span, so two mentions of one value stay apart."""
        operands: list[list[str]] = []  # per step: its argument keys, same-op chains flattened

        def key(arg: Arg) -> str:
            match arg:
                case Quantity(start=start, end=end):
                    return f"q{start}:{end}"
                case Constant(name=name):
                    return f"c:{name}"
                case Literal(value=value):
                    return f"l:{value}"
                case StepRef(index=index):
                    return node(index)
            raise TypeError(f"not a program argument: {arg!r}")

        def node(index: int) -> str:
            step = self.steps[index]
            return f"{step.op.value}({','.join(operands[index])})"

        for step in self.steps:
            keys: list[str] = []
            for arg in step.args:
                if (step.op in _ASSOCIATIVE and isinstance(arg, StepRef)
                        and self.steps[arg.index].op == step.op):
                    keys += operands[arg.index]
                else:
                    keys.append(key(arg))
            operands.append(sorted(keys) if step.op in _ASSOCIATIVE else keys)
        return node(len(self.steps) - 1) if self.steps else ""

    def to_json(self) -> dict[str, Any]:
        return {"steps": [
            {"op": step.op.value, "origin": step.origin,
             "args": [_arg_to_json(arg) for arg in step.args]} for step in self.steps]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Program:
        return cls(steps=tuple(
            Step(op=Op(step["op"]), origin=step.get("origin", ""),
                 args=tuple(_arg_from_json(arg) for arg in step["args"]))
            for step in data["steps"]))


def _arg_to_json(arg: Arg) -> dict[str, Any]:
    match arg:
        case Quantity(value, start, end, text):
            return {"kind": "problem", "value": str(value), "start": start, "end": end,
                    "text": text}
        case Constant(name, value):
            return {"kind": "constant", "name": name, "value": str(value)}
        case StepRef(index):
            return {"kind": "step", "index": index}
        case Literal(value):
            return {"kind": "unlinked", "value": str(value)}
    raise TypeError(f"not a program argument: {arg!r}")


def _arg_from_json(data: dict[str, Any]) -> Arg:
    kind = data["kind"]
    if kind == "problem":
        return Quantity(Fraction(data["value"]), data["start"], data["end"], data["text"])
    if kind == "constant":
        return Constant(data["name"], Fraction(data["value"]))
    if kind == "step":
        return StepRef(int(data["index"]))
    if kind == "unlinked":
        return Literal(Fraction(data["value"]))
    raise ValueError(f"unknown argument kind {kind!r}")
