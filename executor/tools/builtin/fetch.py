"""``fetch_url``: read a web page or JSON document as text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from executor.tools.base import Tool
from executor.tools.builtin.errors import ToolError, reports_errors
from executor.tools.builtin.htmltext import html_to_text
from executor.tools.builtin.safefetch import Fetched, SafeFetcher
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.invocation import Invocation

MAX_DOWNLOAD_BYTES = 2_000_000
FETCH_TIMEOUT = 20.0
DEFAULT_CHARS = 20_000
MAX_CHARS = 50_000
_ACCEPT = "text/html,application/xhtml+xml,application/json,text/plain;q=0.9,*/*;q=0.5"
_TEXTUAL = ("application/xml", "application/javascript", "application/x-javascript", "application/rss+xml")

DESCRIPTION = (
    "Read a public web page or JSON document. Returns the page title, its readable text "
    "(HTML reduced to text, JSON pretty-printed) and, for HTML, the links it contains. "
    "Long pages are returned in parts: pass the offset the answer gives to read on. "
    "Only public http(s) addresses can be read. For images use view_image."
)


class FetchArgs(BaseModel):
    url: str = Field(description="The http:// or https:// URL to read.")
    offset: int = Field(0, ge=0, description="Character offset to continue a long page from; 0 for the start.")
    max_chars: int = Field(
        DEFAULT_CHARS, ge=500, le=MAX_CHARS, description="How many characters of text to return at most."
    )


def fetch_url_tool(fetcher: SafeFetcher) -> Tool:
    @reports_errors
    async def fetch_url(invocation: Invocation, args: dict[str, Any]) -> str:
        a = parse_args(FetchArgs, args)
        page = await fetcher.get(a.url, max_bytes=MAX_DOWNLOAD_BYTES, timeout=FETCH_TIMEOUT, accept=_ACCEPT)
        return readable(page, a.offset, a.max_chars)

    return Tool("fetch_url", DESCRIPTION, fetch_url, tool_schema(FetchArgs), timeout=FETCH_TIMEOUT + 5)


def readable(page: Fetched, offset: int = 0, max_chars: int = DEFAULT_CHARS) -> str:
    """The answer the model reads: a header line, the title, one window of the
    text, a note on how to read on, and (first window only) the links."""
    if not page.ok:
        snippet = " ".join(_content(page)[1].split())[:300] if _is_text(page) else ""
        raise ToolError(f"{page.url} answered HTTP {page.status} {page.reason}" + (f": {snippet}" if snippet else ""))
    if not _is_text(page):
        kind = page.media_type or "binary data"
        raise ToolError(f"{page.url} is {kind} ({len(page.data)} bytes), not text; use view_image for images")
    title, body, links = _content(page)
    if offset and offset >= len(body):
        raise ToolError(f"offset {offset} is past the end of the text ({len(body)} characters)")
    parts = [f"{page.url} (HTTP {page.status}, {page.media_type or 'no content type'})"]
    if title:
        parts.append(f"Title: {title}")
    end = min(len(body), offset + max_chars)
    parts.append(body[offset:end] if body else "(no text)")
    if offset or end < len(body):
        more = f"; call fetch_url again with offset={end} for more" if end < len(body) else ""
        parts.append(f"[characters {offset}-{end} of {len(body)}{more}]")
    if links and offset == 0:
        parts.append("Links:\n" + "\n".join(f"- {label or '(no text)'}: {url}" for label, url in links))
    return "\n\n".join(parts)


def _content(page: Fetched) -> tuple[str, str, list[tuple[str, str]]]:
    text = page.text()
    if page.media_type in ("text/html", "application/xhtml+xml"):
        html = html_to_text(text, page.url)
        return html.title, html.text, html.links
    if page.media_type == "application/json" or page.media_type.endswith("+json"):
        try:
            return "", json.dumps(json.loads(text), indent=2, ensure_ascii=False), []
        except ValueError:
            return "", text, []
    return "", text, []


def _is_text(page: Fetched) -> bool:
    """By content type; a response without one counts as text unless it has NUL bytes."""
    media_type = page.media_type
    if not media_type:
        return b"\x00" not in page.data[:4096]
    return (
        media_type.startswith("text/")
        or media_type in ("application/json", "application/xhtml+xml", *_TEXTUAL)
        or media_type.endswith(("+json", "+xml"))
    )
