"""Brave Search API: ``GET <base>/web/search?q=...&count=N`` with the key in
``X-Subscription-Token``.

Web results are under ``web.results``, each with ``title``, ``url`` and
``description``; ``web`` is absent when nothing was found. Errors come as
``{"type": "ErrorResponse", "error": {"code": ..., "detail": ...}}``.
"""

from __future__ import annotations

from typing import Any

from executor.tools.builtin.search.backend import SearchHit, member
from executor.tools.builtin.search.endpoint import HostedAPI

DEFAULT_BASE_URL = "https://api.search.brave.com/res/v1"
#: The API's own limit for ``count``.
MAX_COUNT = 20


class BraveSearch(HostedAPI):
    name = "Brave Search"
    default_base_url = DEFAULT_BASE_URL
    route = "/web/search"
    auth = ("X-Subscription-Token", "{key}")

    async def search(self, query: str, count: int) -> list[SearchHit]:
        params: dict[str, str | int] = {
            "q": query,
            "count": min(count, MAX_COUNT),
            "result_filter": "web",  # no news, videos or discussions: a smaller answer
            "text_decorations": "false",  # no highlighting markup in snippets
        }
        data = await self._endpoint.get_json(params, self._headers, _explain)
        web = member(data, "web")
        if web is None and member(data, "type") == "search":
            return []  # a search that found nothing has no web section
        return self._endpoint.hits(member(web, "results"), snippet="description", what="web results")


def _explain(status: int, body: Any) -> str:
    error = member(body, "error")
    parts = (member(error, "code"), member(error, "detail"))
    return ": ".join(part for part in parts if isinstance(part, str) and part)
