"""Shared builders for executor tests: an Executor around a ScriptedModel."""

from __future__ import annotations

import asyncio
from typing import Any

from executor.llm.scripted import ScriptedModel
from executor.ports import Ports
from executor.run import Config, Defaults, Executor
from executor.tools.base import Tool, ToolResult
from executor.tools.invocation import Invocation


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
