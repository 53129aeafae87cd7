"""calculator, current_time and run_status; a run's toolbox offering them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from executor.llm.types import Usage
from executor.state import RunState
from executor.tools.base import Tool, ToolResult
from executor.tools.builtin import builtin_tools
from executor.tools.builtin.calc import CALCULATOR
from executor.tools.builtin.clock import current_time_tool
from executor.tools.invocation import Invocation
from executor.tools.registry import Toolbox


async def call(tool: Tool, invocation: Invocation | None = None, **args: Any) -> ToolResult:
    out = await tool.handler(invocation or Invocation(caller_id="member"), dict(args))
    return ToolResult(out) if isinstance(out, str) else out


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("2 ** 10", "1024"),
        ("2 ** -1", "0.5"),
        ("-(3 - 5)", "2"),
        ("0.1 + 0.2", "0.3"),
        ("sqrt(16) + abs(-2)", "6"),
        ("round(pi, 3)", "3.142"),
        ("log(e)", "1"),
        ("log(8, 2)", "3"),
        ("min(3, 1, 2) + max(4, 5)", "6"),
        ("sin(0) + cos(0) + tan(0)", "1"),
        ("1250 * 0.07 / 12", "7.29166666666667"),
        ("10 ** 20", "100000000000000000000"),
    ],
)
async def test_calculator_results(expression: str, value: str) -> None:
    result = await call(CALCULATOR, expression=expression)
    assert not result.is_error, result.content
    assert result.content == f"{expression} = {value}"


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("__import__('os')", "`__import__('os')` is not allowed"),
        ("__import__('os').system('true')", "not allowed"),
        ("(1).__class__", "`1 .__class__` is not allowed"),
        ("math.pi", "not allowed"),
        ("open('/etc/passwd')", "not allowed"),
        ("[1, 2]", "not allowed"),
        ("'a' * 3", "not allowed"),
        ("True + 1", "`True` is not allowed"),
        ("lambda: 1", "not allowed"),
        ("x", "`x` is not allowed"),
        ("sqrt(x=4)", "not allowed"),
        ("9 ** 9 ** 9", "too large"),
        ("(10 ** 2000) * (10 ** 2000)", "too large"),
        ("10.0 ** 400", "too large"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "not an arithmetic expression"),
        ("import os", "not an arithmetic expression"),
    ],
)
async def test_calculator_refuses_everything_but_arithmetic(expression: str, complaint: str) -> None:
    result = await call(CALCULATOR, expression=expression)
    assert result.is_error
    assert complaint in result.content


async def test_calculator_bounds_the_expression_length() -> None:
    result = await call(CALCULATOR, expression="1+" * 300 + "1")
    assert result.is_error and "longer than 500 characters" in result.content


FIXED = datetime(2024, 7, 1, 12, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "Monday 01 July 2024, 12:30:00 in UTC (UTC+0000"),
        ("Asia/Tokyo", "Monday 01 July 2024, 21:30:00 in Asia/Tokyo (UTC+0900, JST)"),
        ("America/New_York", "Monday 01 July 2024, 08:30:00 in America/New_York (UTC-0400, EDT)"),
    ],
)
async def test_current_time_in_a_zone(zone: str, expected: str) -> None:
    result = await call(current_time_tool(lambda: FIXED), timezone=zone)
    assert result.content.startswith(expected)
    assert f"Unix time {int(FIXED.timestamp())}" in result.content


async def test_current_time_defaults_to_utc_and_explains_unknown_zones() -> None:
    tool = current_time_tool(lambda: FIXED)
    assert "in UTC" in (await call(tool)).content
    for bad in ("Mars/Olympus", "../../etc/passwd"):
        result = await call(tool, timezone=bad)
        assert result.is_error and "unknown time zone" in result.content and "Europe/Paris" in result.content


async def test_run_status_reads_the_run_state() -> None:
    state = RunState("run1", max_steps=12, max_runtime_seconds=60.0, started=time.monotonic() - 15)
    state.iteration = 3
    state.tool_calls = 5
    state.tool_errors = 1
    state.last_tool = "fetch_url"
    state.usage = Usage(input_tokens=1200, output_tokens=340, requests=3)
    tool = next(t for t in builtin_tools() if t.name == "run_status")
    result = await call(tool, Invocation(caller_id="member", run_state=state))
    assert not result.is_error
    assert "step 3 of at most 12 (9 left)" in result.content
    assert "tool calls: 5 (1 failed), last: fetch_url" in result.content
    assert "tokens: 1,200 in, 340 out over 3 model calls" in result.content
    assert "of 60 s" in result.content


async def test_run_status_without_a_run_state_is_an_error() -> None:
    tool = next(t for t in builtin_tools() if t.name == "run_status")
    result = await call(tool)
    assert result.is_error


def test_builtin_registry_tools_have_distinct_names_and_descriptions() -> None:
    tools = builtin_tools()
    assert [t.name for t in tools] == ["fetch_url", "view_image", "calculator", "current_time", "run_status"]
    assert all(t.description and t.parameters["type"] == "object" for t in tools)
    assert all(0 < t.timeout <= 30 for t in tools)


def test_a_toolbox_offers_a_tool_added_after_its_tools_were_listed() -> None:
    box = Toolbox(Invocation(caller_id="member"))
    box.add(CALCULATOR)
    assert [s.name for s in box.specs()] == [CALCULATOR.name]
    assert box.specs() is box.specs()  # built once, not on every model call
    box.add(current_time_tool())
    assert [s.name for s in box.specs()] == [CALCULATOR.name, current_time_tool().name]
