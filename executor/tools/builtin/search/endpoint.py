"""The HTTP side of a search backend: one API URL the operator configured,
JSON in and out, and error messages safe to show the model.

The URL comes from the operator's settings, not from a model, so its host is
trusted even on loopback or the LAN (a self-hosted SearXNG); that trust is
given to this host only, in a NetPolicy of the endpoint's own, and fetch_url
keeps refusing private addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar

import httpx

from executor.tools.builtin.netsafe import FetchError, NetPolicy, host_name
from executor.tools.builtin.safefetch import Fetched, SafeFetcher
from executor.tools.builtin.search.backend import SearchError, SearchHit

#: Search answers are a few kB to a few hundred; past this something is wrong.
MAX_RESPONSE_BYTES = 2_000_000
SEARCH_TIMEOUT = 20.0
MASK = "********"
_TAGS = re.compile(r"<[^>]*>")

Explain = Callable[[int, Any], str]
"""``(status, decoded JSON body or None)`` -> what an error answer says, or ""."""


def _no_explanation(status: int, body: Any) -> str:
    return ""


class Endpoint:
    """One search API URL, fetched under ``policy`` plus trust in its own host.

    ``secret`` (an API key) is masked in every error message this raises,
    including text the server echoes back.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str = "",
        policy: NetPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = SEARCH_TIMEOUT,
    ) -> None:
        base = policy or NetPolicy()
        self.name = name
        self.url = base.parse(url)
        self.timeout = timeout
        self._fetcher = SafeFetcher(replace(base, trusted_hosts=base.trusted_hosts | {host_name(self.url)}), http)
        self._secret = secret

    async def get_json(
        self, params: Mapping[str, str | int], headers: Mapping[str, str], explain: Explain = _no_explanation
    ) -> Any:
        """GET the URL with ``params``; the decoded JSON of a 2xx answer.

        Raises SearchError for anything else: unreachable, an error status
        (described by ``explain`` when it can), a body that is not JSON.
        """
        url = str(self.url.copy_merge_params(dict(params)))
        try:
            page = await self._fetcher.get(
                url, max_bytes=MAX_RESPONSE_BYTES, timeout=self.timeout, accept="application/json", headers=headers
            )
        except FetchError as exc:
            raise self.error(f"is unavailable: {exc}") from None
        return self._decode(page, explain)

    async def post_json(
        self, payload: Mapping[str, Any], headers: Mapping[str, str], explain: Explain = _no_explanation
    ) -> Any:
        """POST ``payload`` as JSON; otherwise as :meth:`get_json`."""
        try:
            page = await self._fetcher.post(
                str(self.url),
                json.dumps(payload).encode(),
                max_bytes=MAX_RESPONSE_BYTES,
                timeout=self.timeout,
                accept="application/json",
                headers={**headers, "Content-Type": "application/json"},
            )
        except FetchError as exc:
            raise self.error(f"is unavailable: {exc}") from None
        return self._decode(page, explain)

    def hits(self, items: Any, *, snippet: str, what: str) -> list[SearchHit]:
        """Hits from a JSON list of result objects with ``title``, ``url`` and
        the ``snippet`` key. Raises SearchError ("answered JSON without
        ``what``") when ``items`` is not a list: the answer is not the API's
        shape. Items without a string URL are skipped."""
        if not isinstance(items, list):
            raise self.error(f"answered JSON without {what}")
        return [
            SearchHit(_string(item.get("title")), item["url"], _string(item.get(snippet)))
            for item in items
            if isinstance(item, dict) and isinstance(item.get("url"), str)
        ]

    def error(self, problem: str) -> SearchError:
        """``<name> <problem>``, with the secret masked, as the error to raise."""
        text = f"{self.name} {problem}"
        return SearchError(text.replace(self._secret, MASK) if self._secret else text)

    def _decode(self, page: Fetched, explain: Explain) -> Any:
        try:
            body: Any = json.loads(page.text())
        except ValueError:
            body = None
        if not page.ok:
            detail = explain(page.status, body) or _snippet(page.text())
            raise self.error(f"answered HTTP {page.status} {page.reason}" + (f": {detail}" if detail else ""))
        if body is None:
            kind = page.media_type or "no content type"
            raise self.error(f"answered something that is not JSON ({kind}, {len(page.data)} bytes)")
        return body


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _snippet(text: str, limit: int = 200) -> str:
    """The start of an error page, as one line of text."""
    flat = " ".join(_TAGS.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class HostedAPI:
    """A hosted search API reached with a key. ``base_url`` is overridable for
    a proxy or a loopback fake; subclasses name the route and how the key is
    sent: ``auth`` is a header name and its value, ``{key}`` standing for the key."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    route: ClassVar[str]
    auth: ClassVar[tuple[str, str]]

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        policy: NetPolicy | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        url = (base_url or self.default_base_url).rstrip("/") + self.route
        self._endpoint = Endpoint(self.name, url, secret=api_key, policy=policy, http=http)
        header, value = self.auth
        self._headers = {header: value.format(key=api_key)}
