"""``calculator``: exact arithmetic for the model, which is bad at it.

Expressions are parsed with ``ast`` and walked node by node; only numbers,
arithmetic operators and a short list of math functions are evaluated, so no
input can run code. Integer results are kept below ``MAX_BITS`` so that
``9**9**9`` is refused instead of freezing the event loop.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from executor.tools.base import Tool
from executor.tools.builtin.errors import ToolError, reports_errors
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.invocation import Invocation

MAX_BITS = 10_000
MAX_LENGTH = 500

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

DESCRIPTION = (
    "Evaluate an arithmetic expression exactly, e.g. `(1250 * 0.07) / 12` or `sqrt(2) * pi`. "
    "Supports numbers, + - * / // % ** and parentheses, the constants pi, e, tau and the functions "
    f"{', '.join(_FUNCTIONS)}. log(x) is natural; log(x, base) takes a base. Trigonometry is in radians."
)


class CalculatorArgs(BaseModel):
    expression: str = Field(description=f"The expression to evaluate, at most {MAX_LENGTH} characters.")


def evaluate(expression: str) -> Number:
    """The value of ``expression``; ToolError for anything that is not plain arithmetic.

    At most MAX_LENGTH characters, which also keeps parsing and evaluation
    far from the interpreter's recursion limit.
    """
    if len(expression) > MAX_LENGTH:
        raise ToolError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not an arithmetic expression: {exc.msg}") from None
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    except (ValueError, TypeError) as exc:
        raise ToolError(f"cannot evaluate: {exc}") from None


def _eval(node: ast.expr) -> Number:
    match node:
        case ast.Constant(value=bool()):
            pass  # True/False are ints to Python, not numbers to a member
        case ast.Constant(value=int() | float() as value):
            return value
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _checked(_UNARY[type(op)](_eval(operand)))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            a, b = _eval(left), _eval(right)
            if isinstance(op, ast.Pow):
                _check_power(a, b)
            return _checked(_BINARY[type(op)](a, b))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            return _checked(_FUNCTIONS[name](*(_eval(arg) for arg in args)))
    raise ToolError(
        f"`{ast.unparse(node)}` is not allowed: only numbers, + - * / // % **, parentheses, "
        f"the constants {', '.join(_CONSTANTS)} and the functions {', '.join(_FUNCTIONS)}"
    )


def _check_power(base: Number, exponent: Number) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if base.bit_length() * exponent > MAX_BITS:
            raise ToolError(f"{base} ** {exponent} is too large to compute")


def _checked(value: Any) -> Number:
    if isinstance(value, complex):
        raise ToolError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise ToolError("the result is too large to compute")
    return value


def format_number(value: Number) -> str:
    return str(value) if isinstance(value, int) else format(value, ".15g")


@reports_errors
async def _calculator(invocation: Invocation, args: dict[str, Any]) -> str:
    a = parse_args(CalculatorArgs, args)
    return f"{a.expression.strip()} = {format_number(evaluate(a.expression))}"


CALCULATOR = Tool("calculator", DESCRIPTION, _calculator, tool_schema(CalculatorArgs), timeout=5.0)
