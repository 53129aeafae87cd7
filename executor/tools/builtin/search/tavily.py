"""Tavily: ``POST <base>/search`` with a JSON body and ``Authorization: Bearer <key>``.

The answer holds ``results``, each with ``title``, ``url`` and ``content``
(the extract Tavily chose). Errors come as ``{"detail": {"error": ...}}``.
"""

from __future__ import annotations

from typing import Any

from executor.tools.builtin.search.backend import SearchHit, member
from executor.tools.builtin.search.endpoint import HostedAPI

DEFAULT_BASE_URL = "https://api.tavily.com"
#: The API's own limit for ``max_results``.
MAX_COUNT = 20


class Tavily(HostedAPI):
    name = "Tavily"
    default_base_url = DEFAULT_BASE_URL
    route = "/search"
    auth = ("Authorization", "Bearer {key}")

    async def search(self, query: str, count: int) -> list[SearchHit]:
        payload = {
            "query": query,
            "max_results": min(count, MAX_COUNT),
            "search_depth": "basic",  # one credit a search; "advanced" costs two
            "include_answer": False,
            "include_raw_content": False,
            "include_images": False,
        }
        data = await self._endpoint.post_json(payload, self._headers, _explain)
        return self._endpoint.hits(member(data, "results"), snippet="content", what="a results list")


def _explain(status: int, body: Any) -> str:
    detail = member(body, "detail")
    error = member(detail, "error")
    if isinstance(error, str):
        return error
    return detail if isinstance(detail, str) else ""
