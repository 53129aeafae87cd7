"""Tavily: ``POST <base>/search`` with a JSON body and ``Authorization: Bearer <key>``.

The answer holds ``results``, each with ``title``, ``url`` and ``content``
(the extract Tavily chose). Errors come as ``{"detail": {"error": ...}}``.
"""

from __future__ import annotations

from typing import Any

import httpx

from executor.tools.builtin.netsafe import NetPolicy
from executor.tools.builtin.search.backend import SearchHit, member
from executor.tools.builtin.search.endpoint import Endpoint

DEFAULT_BASE_URL = "https://api.tavily.com"
#: The API's own limit for ``max_results``.
MAX_COUNT = 20


class Tavily:
    name = "Tavily"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        policy: NetPolicy | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._endpoint = Endpoint(self.name, base_url.rstrip("/") + "/search", secret=api_key, policy=policy, http=http)
        self._headers = {"Authorization": f"Bearer {api_key}"}

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
