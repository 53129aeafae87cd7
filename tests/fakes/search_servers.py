"""Loopback fake search APIs that speak SearXNG's, Brave's and Tavily's real JSON.

They let tests run the real ``web_search`` backends (executor/tools/builtin/search)
over a real socket with no key and no network::

    async with FakeBraveServer(api_key="BSA-test-key") as srv:
        srv.results = [Hit("Title", "https://example.org/", "A snippet")]
        backend = BraveSearch("BSA-test-key", base_url=srv.base_url)
        ...
        assert srv.received[0].query["q"] == "cats"

Each server answers its API's search route with ``results`` rendered into the
API's JSON (honouring its count parameter where the API has one), answers a
wrong or missing key with the API's own error JSON, and records every request
in ``received``. ``answer_with(Raw(...))`` replaces the next answers with any
status, body and content type (garbage, an outage page, a redirect);
``FakeSearXNGServer(json_enabled=False)`` answers 403 like an instance whose
settings.yml does not list the json format. All bind 127.0.0.1 on a random port
(they are aiohttp TestServers: ``async with``, or ``start_server()`` and ``close()``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlparse, urlsplit

from aiohttp import web
from aiohttp.test_utils import TestServer

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result, rendered into each API's field names."""

    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Raw:
    """An answer sent verbatim."""

    body: str | bytes = ""
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any


class FakeSearchServer(TestServer):
    """The shared machinery (an aiohttp TestServer on 127.0.0.1); use one of the subclasses."""

    method: ClassVar[str]
    route: ClassVar[str]

    def __init__(self, *, api_key: str | None = None) -> None:
        app = web.Application()
        app.router.add_route(self.method, self.route, self._handle)
        super().__init__(app, host="127.0.0.1")
        self.api_key = api_key
        self.results: list[Hit] = []
        self.received: list[Received] = []
        self._raw: Raw | None = None

    @property
    def url(self) -> str:
        """Scheme, host and port."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the backend's base URL setting should be."""
        return self.url

    def answer_with(self, raw: Raw | None) -> None:
        """Answer every request with ``raw`` from now on (None: the API's normal answers)."""
        self._raw = raw

    async def _handle(self, request: web.Request) -> web.Response:
        data = await request.read()
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = data.decode(errors="replace")
        received = Received(request.method, request.path, dict(request.query), dict(request.headers), body)
        self.received.append(received)
        if self._raw is not None:
            raw = self._raw
            headers = {"Content-Type": raw.content_type, **raw.headers}
            return web.Response(body=raw.body, status=raw.status, headers=headers)
        return self._answer(received)

    def _answer(self, received: Received) -> web.Response:
        raise NotImplementedError


class FakeSearXNGServer(FakeSearchServer):
    """``GET /search?q=...&format=json``. SearXNG has no count parameter: it
    answers with every result (a real instance sends about 20)."""

    method = "GET"
    route = "/search"

    def __init__(self, *, json_enabled: bool = True) -> None:
        super().__init__()
        self.json_enabled = json_enabled

    def _answer(self, received: Received) -> web.Response:
        if received.query.get("format") != "json" or not self.json_enabled:
            # What Flask's abort(403) sends when the format is not enabled.
            page = "<!doctype html>\n<html lang=en>\n<title>403 Forbidden</title>\n<h1>Forbidden</h1>\n"
            return web.Response(text=page, status=403, content_type="text/html")
        query = received.query.get("q", "")
        results = [
            {
                "url": hit.url,
                "title": hit.title,
                "content": hit.snippet,
                "engine": "duckduckgo",
                "parsed_url": list(urlparse(hit.url)),
                "template": "default.html",
                "engines": ["duckduckgo", "brave"],
                "positions": [n],
                "score": 2.0 / n,
                "category": "general",
                "publishedDate": None,
                "thumbnail": "",
            }
            for n, hit in enumerate(self.results, 1)
        ]
        return web.json_response(
            {
                "query": query,
                "number_of_results": 0,
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        )


class FakeBraveServer(FakeSearchServer):
    """``GET /res/v1/web/search`` with ``X-Subscription-Token``; honours ``count``
    (at most 20, like the API); no ``web`` section when nothing matched."""

    method = "GET"
    route = "/res/v1/web/search"

    @property
    def base_url(self) -> str:
        return f"{self.url}/res/v1"

    def _answer(self, received: Received) -> web.Response:
        if self.api_key is not None and received.headers.get("X-Subscription-Token") != self.api_key:
            error = {
                "id": "c5e6f6a2-0000-4000-8000-000000000000",
                "status": 422,
                "code": "SUBSCRIPTION_TOKEN_INVALID",
                "detail": "The provided subscription token is invalid.",
                "meta": {"component": "authentication"},
            }
            return web.json_response({"type": "ErrorResponse", "error": error, "time": 1700000000}, status=422)
        count = min(int(received.query.get("count", "20")), 20)
        query = received.query.get("q", "")
        answer: JSON = {
            "type": "search",
            "query": {"original": query, "show_strict_warning": False, "is_navigational": False, "country": "us"},
            "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False} for i in range(count)]},
        }
        if self.results:
            answer["web"] = {
                "type": "search",
                "family_friendly": True,
                "results": [
                    {
                        "type": "search_result",
                        "subtype": "generic",
                        "title": hit.title,
                        "url": hit.url,
                        "description": hit.snippet,
                        "is_source_local": False,
                        "is_source_both": False,
                        "family_friendly": True,
                        "language": "en",
                        "meta_url": {"scheme": urlsplit(hit.url).scheme, "netloc": urlsplit(hit.url).netloc},
                    }
                    for hit in self.results[:count]
                ],
            }
        return web.json_response(answer)


class FakeTavilyServer(FakeSearchServer):
    """``POST /search`` with ``Authorization: Bearer <key>``; honours ``max_results``."""

    method = "POST"
    route = "/search"

    def _answer(self, received: Received) -> web.Response:
        if self.api_key is not None and received.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
        body = received.body if isinstance(received.body, dict) else {}
        if not isinstance(body.get("query"), str):
            return web.json_response({"detail": {"error": "Query is missing."}}, status=400)
        count = int(body.get("max_results", 5))
        results = [
            {"title": hit.title, "url": hit.url, "content": hit.snippet, "score": 0.9 - n / 100, "raw_content": None}
            for n, hit in enumerate(self.results[:count])
        ]
        return web.json_response(
            {
                "query": body["query"],
                "follow_up_questions": None,
                "answer": None,
                "images": [],
                "results": results,
                "response_time": 0.42,
                "request_id": "123e4567-e89b-12d3-a456-426614174111",
            }
        )
