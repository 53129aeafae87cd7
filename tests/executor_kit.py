"""Shared builders for executor tests: an Executor around a ScriptedModel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from executor import Config, Defaults, Executor
from executor.llm.scripted import ScriptedModel
from executor.ports import Ports
from executor.tools.base import Tool, ToolResult
from executor.tools.invocation import Invocation

T = TypeVar("T")


async def echo(_inv: Invocation, args: dict[str, Any]) -> str:
    return f"echo:{args.get('text', '')}"


async def boom(_inv: Invocation, _args: dict[str, Any]) -> str:
    raise RuntimeError("tool exploded")


async def slow(_inv: Invocation, args: dict[str, Any]) -> str:
    await asyncio.sleep(float(args.get("seconds", 10)))
    return "slept"


async def fails(_inv: Invocation, args: dict[str, Any]) -> ToolResult:
    return ToolResult(f"nope {args.get('n', '')}", is_error=True)


ECHO = Tool("echo", "Echo text back.", echo, {"type": "object", "properties": {"text": {"type": "string"}}})
BOOM = Tool("boom", "Always raises.", boom)
SLOW = Tool("slow", "Sleeps.", slow, {"type": "object", "properties": {"seconds": {"type": "number"}}})
FAILS = Tool("fails", "Always returns an error.", fails)


def make_executor(
    model: ScriptedModel | None,
    *,
    tools: tuple[Tool, ...] = (ECHO, BOOM, SLOW, FAILS),
    ports: Ports | None = None,
    defaults: Defaults | None = None,
    **config: Any,
) -> Executor:
    from executor.tools.registry import Registry

    return Executor(
        Config(
            registry=Registry(tools),
            models=lambda tier: model,
            defaults=defaults or Defaults(),
            ports=ports or Ports(),
            **config,
        )
    )


async def finishes(aw: Awaitable[T], within: float = 10.0) -> T:
    """Await ``aw``, failing instead of hanging when something holds it.

    For tests of bounds far shorter than ``within``: the generous limit only
    turns a hang (the bug under test) into a failure, and the awaited work is
    not cancelled, so a handler that swallows cancellation cannot hang the
    test itself.
    """
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait((task,), timeout=within)
    assert task in done, f"still running after {within:g}s: something held it past its bound"
    return task.result()
