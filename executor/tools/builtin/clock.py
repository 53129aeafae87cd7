"""``current_time``: models do not know what time it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from executor.tools.base import Tool
from executor.tools.builtin.errors import ToolError, reports_errors
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.invocation import Invocation

DESCRIPTION = (
    "The current date and time in a time zone (IANA name such as Europe/Paris, America/New_York, "
    "Asia/Tokyo; UTC by default), with the weekday, UTC offset and Unix timestamp."
)


class TimeArgs(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    timezone: str = Field("UTC", description="IANA time zone name, e.g. Europe/Berlin. Default UTC.")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {name!r}; use an IANA name such as UTC, Europe/Paris, America/New_York or Asia/Tokyo"
        ) from None


def current_time_tool(now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Tool:
    """``now`` is the clock (tests pass a fixed one)."""

    @reports_errors
    async def current_time(invocation: Invocation, args: dict[str, Any]) -> str:
        a = parse_args(TimeArgs, args)
        name = a.timezone or "UTC"
        local = now().astimezone(zone(name))
        return (
            f"{local:%A %d %B %Y, %H:%M:%S} in {name} (UTC{local:%z}, {local.tzname()}); "
            f"ISO 8601 {local.isoformat(timespec='seconds')}; Unix time {int(local.timestamp())}"
        )

    return Tool("current_time", DESCRIPTION, current_time, tool_schema(TimeArgs), timeout=5.0)
