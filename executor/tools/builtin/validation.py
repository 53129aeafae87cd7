"""Pydantic models as the single source of a tool's arguments: the JSON schema
the model sees is generated from the model that validates its call, and a
validation failure reads as one line per problem, field first."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from executor.tools.builtin.errors import ToolError

M = TypeVar("M", bound=BaseModel)


def describe_errors(exc: ValidationError) -> list[str]:
    """``field.path: what is wrong`` for each error (no pydantic boilerplate)."""
    out = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in err["loc"])
        out.append(f"{where}: {msg}" if where else msg)
    return out


def parse_args(model: type[M], args: dict[str, Any]) -> M:
    """The validated arguments, or a ToolError listing every problem."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise ToolError("invalid arguments: " + "; ".join(describe_errors(exc))) from None


@functools.cache
def tool_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as providers accept it: nested definitions
    inlined (some providers reject ``$ref``) and generated titles dropped.

    Cached: session tools are built for every run, and generating a schema
    costs far more than the rest of a run's set-up. Callers must not mutate it."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return clean(defs[ref.rsplit("/", 1)[-1]])
            return {k: clean(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    cleaned: dict[str, Any] = clean(schema)
    return cleaned
