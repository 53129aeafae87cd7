"""What every search backend gives the ``web_search`` tool, whatever its API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from executor.tools.builtin.errors import ToolError


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result as the backend sent it (not yet cleaned or capped: the tool does that)."""

    title: str
    url: str
    snippet: str


class SearchError(ToolError):
    """The backend could not answer; the message is for the model and never holds an API key."""


class SearchBackend(Protocol):
    """A web search API. ``name`` is shown to the model and in logs, so it never holds a secret."""

    @property
    def name(self) -> str: ...

    async def search(self, query: str, count: int) -> list[SearchHit]:
        """About ``count`` hits, best first (the tool trims any extra).

        Raises SearchError when the backend is unreachable, refuses, or
        answers something that is not its JSON.
        """
        ...


def member(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is a JSON object, else None (answers are untrusted JSON)."""
    return value.get(key) if isinstance(value, dict) else None
