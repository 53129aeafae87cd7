"""Size bounds for audit text: a runaway tool result must not bloat the database."""

from __future__ import annotations

import json
from typing import Any

#: Bound on a tool call's arguments or result, and on a step's text.
TEXT_LIMIT = 8 * 1024
#: Bound on a run's input, output and error.
RUN_TEXT_LIMIT = 64 * 1024


def bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending in a marker that
    gives the full size. Text within the limit comes back unchanged."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    marker = f"\n...[truncated: {len(raw)} bytes in all]"
    keep = max(0, limit - len(marker))
    return raw[:keep].decode("utf-8", errors="ignore") + marker


def bounded_json(data: Any, limit: int = TEXT_LIMIT) -> str:
    """``data`` as JSON text of at most ``limit`` bytes that is still valid
    JSON: an oversized value becomes ``{"truncated": true, "preview": ...}``.
    Values JSON cannot encode are written with ``str``."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    if len(text.encode("utf-8")) <= limit:
        return text
    # Escaping can grow the preview again, so shrink until the wrapper fits.
    budget = limit // 2
    while True:
        wrapped = json.dumps({"truncated": True, "preview": bounded(text, budget)}, ensure_ascii=False)
        if len(wrapped.encode("utf-8")) <= limit or budget == 0:
            return wrapped
        budget //= 2
