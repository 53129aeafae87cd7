"""SearXNG, self-hosted: ``GET <instance>/search?q=...&format=json``.

The answer holds ``results``, each with ``url``, ``title`` and ``content``
(the snippet), among other keys. An instance serves JSON only when its
settings.yml lists ``json`` under ``search.formats``; otherwise it answers 403.
SearXNG takes no result count: it returns a page (about 20) and the tool keeps
the first ones.
"""

from __future__ import annotations

from typing import Any

import httpx

from executor.tools.builtin.netsafe import NetPolicy
from executor.tools.builtin.search.backend import SearchHit, member
from executor.tools.builtin.search.endpoint import Endpoint


class SearXNG:
    name = "SearXNG"

    def __init__(self, url: str, *, policy: NetPolicy | None = None, http: httpx.AsyncClient | None = None) -> None:
        """``url`` is the instance's base URL (``http://searxng:8080``); a
        trailing ``/search`` is accepted too. Its host may be on loopback or the LAN."""
        base = url.rstrip("/").removesuffix("/search")
        self._endpoint = Endpoint(self.name, base + "/search", policy=policy, http=http)

    async def search(self, query: str, count: int) -> list[SearchHit]:
        data = await self._endpoint.get_json({"q": query, "format": "json"}, {}, _explain)
        return self._endpoint.hits(member(data, "results"), snippet="content", what="a results list")


def _explain(status: int, body: Any) -> str:
    if status == 403:
        return "the instance does not serve JSON; its settings.yml must list json under search.formats"
    if status == 429:
        return "the instance's limiter refused the request; exempt this bot's address in its limiter.toml"
    return ""
