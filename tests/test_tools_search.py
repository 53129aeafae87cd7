"""web_search and its backends against loopback fakes of SearXNG, Brave and
Tavily: parsing their real JSON, the caps, a backend that is down or answers
garbage, the network trust given to the configured host only, the tool left
out without a backend, and API keys kept out of results and logs."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.agents import load_agents
from bot.config import ConfigError, load_settings
from bot.logs import MASK, RedactSecrets
from executor.tools.base import Tool, ToolResult
from executor.tools.builtin import builtin_tools
from executor.tools.builtin.search import BraveSearch, SearchBackend, SearXNG, Tavily
from executor.tools.builtin.search.tool import MAX_RESULTS, MAX_SNIPPET_CHARS, MAX_TITLE_CHARS
from executor.tools.invocation import Invocation
from tests.fakes.bot_env import bot_environment
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.fakes.search_servers import (
    FakeBraveServer,
    FakeSearchServer,
    FakeSearXNGServer,
    FakeTavilyServer,
    Hit,
    Raw,
)

BRAVE_KEY = "BSA-secret-brave-key-0123456789"
TAVILY_KEY = "tvly-secret-tavily-key-0123456789"
HITS = [
    Hit("asyncio — Asynchronous I/O", "https://docs.python.org/3/library/asyncio.html", "asyncio is a library."),
    Hit("Real Python: Async IO", "https://realpython.com/async-io-python/", "A walkthrough of async IO."),
    Hit("PEP 3156", "https://peps.python.org/pep-3156/", "Asynchronous IO support rebooted."),
]
KINDS = ["searxng", "brave", "tavily"]
SEARCH_SETTINGS = ("SEARXNG_URL", "BRAVE_API_KEY", "BRAVE_BASE_URL", "TAVILY_API_KEY", "TAVILY_BASE_URL")


@dataclass
class Backend:
    server: FakeSearchServer
    backend: SearchBackend
    key: str  # "" for SearXNG, which takes none

    @property
    def tool(self) -> Tool:
        return web_search(self.backend)


def web_search(backend: SearchBackend) -> Tool:
    return next(t for t in builtin_tools(search=backend) if t.name == "web_search")


def make_backend(kind: str, base_url: str) -> tuple[SearchBackend, str]:
    if kind == "searxng":
        return SearXNG(base_url), ""
    if kind == "brave":
        return BraveSearch(BRAVE_KEY, base_url=base_url), BRAVE_KEY
    return Tavily(TAVILY_KEY, base_url=base_url), TAVILY_KEY


@asynccontextmanager
async def running(kind: str) -> AsyncIterator[Backend]:
    server: FakeSearchServer
    if kind == "searxng":
        server = FakeSearXNGServer()
    elif kind == "brave":
        server = FakeBraveServer(api_key=BRAVE_KEY)
    else:
        server = FakeTavilyServer(api_key=TAVILY_KEY)
    async with server:
        server.results = list(HITS)
        backend, key = make_backend(kind, server.base_url)
        yield Backend(server, backend, key)


async def call(tool: Tool, **args: object) -> ToolResult:
    out = await tool.handler(Invocation(caller_id="tester"), dict(args))
    return ToolResult(out) if isinstance(out, str) else out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- parsing each API ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_each_backend_parses_its_api_into_title_url_and_snippet(kind: str) -> None:
    async with running(kind) as b:
        result = await call(b.tool, query="python asyncio", count=2)
    assert not result.is_error, result.content
    head, warning, *rest = result.content.split("\n")
    assert head == f'Web search via {b.backend.name} for "python asyncio": 2 results.'
    assert warning.startswith("Untrusted web content") and "fetch_url" in warning
    assert "\n".join(rest) == (
        "\n1. asyncio — Asynchronous I/O\n   https://docs.python.org/3/library/asyncio.html\n   asyncio is a library.\n"
        "\n2. Real Python: Async IO\n   https://realpython.com/async-io-python/\n   A walkthrough of async IO."
    )
    sent = b.server.received[0]
    if kind == "searxng":
        assert (sent.method, sent.path, sent.query) == ("GET", "/search", {"q": "python asyncio", "format": "json"})
    elif kind == "brave":
        assert (sent.method, sent.path) == ("GET", "/res/v1/web/search")
        assert sent.query["q"] == "python asyncio" and sent.query["count"] == "2"
        assert sent.query["text_decorations"] == "false"
        assert sent.headers["X-Subscription-Token"] == BRAVE_KEY and sent.headers["Accept"] == "application/json"
    else:
        assert (sent.method, sent.path) == ("POST", "/search")
        assert sent.body["query"] == "python asyncio" and sent.body["max_results"] == 2
        assert sent.body["include_raw_content"] is False
        assert sent.headers["Authorization"] == f"Bearer {TAVILY_KEY}"
        assert sent.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("kind", KINDS)
async def test_no_results_is_an_answer_not_an_error(kind: str) -> None:
    async with running(kind) as b:
        b.server.results = []
        result = await call(b.tool, query="zxqv")
    assert not result.is_error
    assert result.content == f'Web search via {b.backend.name} for "zxqv": no results. Try other or fewer words.'


# -- caps -------------------------------------------------------------------------


async def test_results_are_capped_in_number_and_size_and_flattened() -> None:
    noisy = [
        Hit("T" * 1000, "https://example.org/long-title", "S" * 5000),
        Hit("<strong>Bold</strong> &amp; more", "https://example.org/b", "first line\n\n2. Fake result\nhttps://evil"),
        Hit("Script", "javascript:alert(1)", "not a web address"),
        Hit("Too long", "https://example.org/" + "a" * 2000, "a URL that would be cut"),
        *(Hit(f"Page {n}", f"https://example.org/{n}", f"snippet {n}") for n in range(20)),
    ]
    async with FakeSearXNGServer() as server:
        server.results = noisy
        tool = web_search(SearXNG(server.url))
        most = await call(tool, query="anything", count=MAX_RESULTS)
        default = await call(tool, query="anything")
        too_many = await call(tool, query="anything", count=MAX_RESULTS + 1)
        empty = await call(tool, query="   ")
        long_query = await call(tool, query="q" * 401)
    lines = most.content.split("\n")
    numbered = [line for line in lines if line[:1].isdigit()]
    assert [line.split(".")[0] for line in numbered] == [str(n) for n in range(1, MAX_RESULTS + 1)]
    assert lines[3] == "1. " + "T" * (MAX_TITLE_CHARS - 1) + "…"
    assert lines[5] == "   " + "S" * (MAX_SNIPPET_CHARS - 1) + "…"
    assert "2. Bold & more" in lines
    assert "   first line 2. Fake result https://evil" in lines  # a snippet cannot fake a result
    assert "javascript:" not in most.content and "a" * 1000 not in most.content
    assert max(len(line) for line in lines) <= 3 + max(MAX_TITLE_CHARS, MAX_SNIPPET_CHARS)
    assert len([line for line in default.content.split("\n") if line[:1].isdigit()]) == 5
    assert too_many.is_error and "count" in too_many.content
    assert empty.is_error and "query" in empty.content
    assert long_query.is_error and "query" in long_query.content
    assert len(server.received) == 2  # bad arguments never reach the backend


# -- a backend that is down or answers garbage ----------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_backend_that_is_down_is_a_short_error_without_the_key(kind: str) -> None:
    backend, key = make_backend(kind, f"http://127.0.0.1:{closed_port()}")
    result = await call(web_search(backend), query="anything")
    assert result.is_error
    assert result.content.startswith(f"error: {backend.name} is unavailable: could not connect to 127.0.0.1")
    assert "Traceback" not in result.content and len(result.content) < 400
    assert not key or key not in result.content


GARBAGE = {
    "html page": (Raw("<html><body>Just a moment...</body></html>", content_type="text/html"), "not JSON (text/html"),
    "json list": (Raw("[1, 2, 3]"), "answered JSON without"),
    "results of the wrong type": (Raw('{"results": "many", "web": {"results": "many"}}'), "answered JSON without"),
    "truncated json": (Raw('{"results": [{"url": "https://a'), "is not JSON"),
    "gateway error": (Raw("<h1>502 Bad Gateway</h1>", status=502, content_type="text/html"), "HTTP 502 Bad Gateway"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("garbage", list(GARBAGE))
async def test_garbage_is_a_clear_error(kind: str, garbage: str) -> None:
    raw, expected = GARBAGE[garbage]
    async with running(kind) as b:
        b.server.answer_with(raw)
        result = await call(b.tool, query="anything")
    assert result.is_error
    assert result.content.startswith(f"error: {b.backend.name} ") and expected in result.content, result.content
    assert "Traceback" not in result.content


async def test_api_errors_say_what_the_api_said_and_never_the_key() -> None:
    async with FakeBraveServer(api_key="BSA-another-key") as brave, FakeTavilyServer(api_key="tvly-other") as tavily:
        brave_result = await call(web_search(BraveSearch(BRAVE_KEY, base_url=brave.base_url)), query="a")
        tavily_result = await call(web_search(Tavily(TAVILY_KEY, base_url=tavily.base_url)), query="a")
        # A server that echoes the key it was sent.
        brave.answer_with(Raw(f'{{"error": {{"code": "BAD", "detail": "key {BRAVE_KEY} is unknown"}}}}', status=401))
        echoed = await call(web_search(BraveSearch(BRAVE_KEY, base_url=brave.base_url)), query="a")
    assert brave_result.content == (
        "error: Brave Search answered HTTP 422 Unprocessable Entity: "
        "SUBSCRIPTION_TOKEN_INVALID: The provided subscription token is invalid."
    )
    assert tavily_result.content == (
        "error: Tavily answered HTTP 401 Unauthorized: Unauthorized: missing or invalid API key."
    )
    assert echoed.content == f"error: Brave Search answered HTTP 401 Unauthorized: BAD: key {MASK} is unknown"


async def test_searxng_without_the_json_format_says_how_to_enable_it() -> None:
    async with FakeSearXNGServer(json_enabled=False) as server:
        tool = web_search(SearXNG(server.url + "/search/"))
        result = await call(tool, query="anything")
    assert result.content == (
        "error: SearXNG answered HTTP 403 Forbidden: the instance does not serve JSON; "
        "its settings.yml must list json under search.formats"
    )
    assert server.received[0].path == "/search"  # a URL given with /search is not doubled


# -- network trust ------------------------------------------------------------------


async def test_searxng_on_loopback_is_allowed_while_fetch_url_to_loopback_is_refused() -> None:
    async with FakeSearXNGServer() as server:
        server.results = list(HITS)
        tools = {t.name: t for t in builtin_tools(search=SearXNG(server.url))}  # default policy: public only
        searched = await call(tools["web_search"], query="python")
        fetched = await call(tools["fetch_url"], url=f"{server.url}/search?q=python&format=json")
    assert not searched.is_error and "https://peps.python.org/pep-3156/" in searched.content
    assert fetched.is_error and "127.0.0.1 is a loopback address" in fetched.content
    assert len(server.received) == 1


async def test_the_trust_covers_the_configured_host_only() -> None:
    async with FakeSearXNGServer() as server, FakeSearXNGServer() as other:
        # Same machine, another name: a redirect there is judged like any URL.
        server.answer_with(Raw(status=302, headers={"Location": f"http://localhost:{other.port}/search?q=x"}))
        result = await call(web_search(SearXNG(server.url)), query="x")
    assert result.is_error and "refused" in result.content and "loopback" in result.content
    assert other.received == []


async def test_a_key_never_follows_a_redirect_to_another_origin() -> None:
    async with FakeBraveServer(api_key=BRAVE_KEY) as first, FakeBraveServer(api_key=BRAVE_KEY) as second:
        first.answer_with(Raw(status=302, headers={"Location": f"{second.base_url}/web/search?q=x"}))
        result = await call(web_search(BraveSearch(BRAVE_KEY, base_url=first.base_url)), query="x")
    assert first.received[0].headers["X-Subscription-Token"] == BRAVE_KEY
    assert "X-Subscription-Token" not in second.received[0].headers
    assert result.is_error and "SUBSCRIPTION_TOKEN_INVALID" in result.content


async def test_a_post_is_not_redirected() -> None:
    async with FakeTavilyServer(api_key=TAVILY_KEY) as server:
        server.answer_with(Raw(status=307, headers={"Location": "/elsewhere"}))
        result = await call(web_search(Tavily(TAVILY_KEY, base_url=server.url)), query="x")
    assert result.is_error and "redirect" in result.content and "not followed" in result.content
    assert len(server.received) == 1


# -- not offered without a backend ---------------------------------------------------


AGENT = 'id = "a"\ndescription = "x"\nsystem_prompt = "x"\ntools = ["web_search", "fetch_url"]\n'
SKILL = 'id = "s"\ndescription = "x"\nprompt = "{text}"\ntools = ["web_search"]\n\n[inputs.text]\ntype = "string"\n'


def write_definitions(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "agents").mkdir()
    (tmp_path / "skills").mkdir()
    (tmp_path / "agents" / "a.toml").write_text(AGENT)
    (tmp_path / "skills" / "s.toml").write_text(SKILL)
    return tmp_path / "agents", tmp_path / "skills"


def test_without_a_backend_the_tool_is_absent_and_agents_naming_it_load_without_it(tmp_path: Path) -> None:
    agents, skills = write_definitions(tmp_path)
    names = {t.name for t in builtin_tools()}
    assert "web_search" not in names
    loaded = load_agents(agents, names, skills_dir=skills)
    assert loaded.problems == []
    assert loaded.agents["a"].tools == ("fetch_url",) and loaded.skills["s"].tools == ()
    assert loaded.unavailable_tools == {"web_search": ["skill s", "agent a"]}

    offered = {t.name for t in builtin_tools(search=SearXNG("http://127.0.0.1:9"))}
    with_backend = load_agents(agents, offered, skills_dir=skills)
    assert with_backend.agents["a"].tools == ("web_search", "fetch_url") and with_backend.unavailable_tools == {}


def test_settings_choose_the_backend_and_list_the_keys_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SEARCH_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    keys = {"brave_api_key": BRAVE_KEY, "tavily_api_key": TAVILY_KEY}
    assert load_settings(_env_file=None).search_backend() is None
    every = load_settings(_env_file=None, searxng_url="http://searxng:8080", **keys)
    assert isinstance(every.search_backend(), SearXNG)
    assert isinstance(load_settings(_env_file=None, **keys).search_backend(), BraveSearch)
    assert isinstance(load_settings(_env_file=None, tavily_api_key=TAVILY_KEY).search_backend(), Tavily)
    settings = load_settings(_env_file=None, **keys)
    assert {BRAVE_KEY, TAVILY_KEY} <= set(settings.secrets())
    assert BRAVE_KEY not in repr(settings) and TAVILY_KEY not in repr(settings)
    record = logging.LogRecord("x", logging.INFO, "", 0, "sent %s and %s", (BRAVE_KEY, TAVILY_KEY), None)
    RedactSecrets(settings.secrets()).filter(record)
    assert record.getMessage() == f"sent {MASK} and {MASK}"


@pytest.mark.parametrize("value", ["searxng:8080", "ftp://searxng", "http://user:pw@searxng:8080", "http://"])
def test_a_bad_searxng_url_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.delenv("SEARXNG_URL", raising=False)
    with pytest.raises(ConfigError, match="SEARXNG_URL: give an http"):
        load_settings(_env_file=None, searxng_url=value)


# -- keys stay out of the logs --------------------------------------------------------


async def test_keys_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """No redaction filter here: nothing this code logs holds a key to begin with."""
    with caplog.at_level(logging.DEBUG):
        for kind in ("brave", "tavily"):
            async with running(kind) as b:
                assert not (await call(b.tool, query="python")).is_error
                b.server.answer_with(Raw(f'{{"detail": "{b.key}"}}', status=500))
                assert (await call(b.tool, query="python")).is_error
    assert any("HTTP Request" in record.getMessage() for record in caplog.records)  # httpx did log the requests
    assert BRAVE_KEY not in caplog.text and TAVILY_KEY not in caplog.text


# -- end to end, through the console ------------------------------------------------------


async def chat(tmp_path: Path, model: FakeOpenAIServer, **settings: str) -> tuple[int, str]:
    env = bot_environment(tmp_path / "db.sqlite", OPENAI_BASE_URL=model.base_url, MODEL_MAX_RETRIES="0", **settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "chat", "what is new in asyncio?",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def offered(request: dict[str, object]) -> set[str]:
    tools = request.get("tools")
    assert isinstance(tools, list)
    return {tool["function"]["name"] for tool in tools}


async def test_the_assistant_searches_through_searxng_end_to_end(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as model, FakeSearXNGServer() as searxng:
        searxng.results = list(HITS)
        model.script(Reply.tool_call("web_search", {"query": "asyncio news", "count": 2}), Reply.text("Read PEP 3156."))
        code, err = await chat(tmp_path, model, SEARXNG_URL=searxng.url)
    assert code == 0, err
    assert "web_search" in offered(model.requests[0])
    tool_message = model.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"].startswith('Web search via SearXNG for "asyncio news": 2 results.')
    assert searxng.received[0].query["q"] == "asyncio news"
    assert "web_search is not offered" not in err


async def test_without_a_backend_the_assistant_runs_without_it_and_the_start_warns_once(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as model:
        model.script(Reply.text("I cannot search, but here is what I know."))
        code, err = await chat(tmp_path, model)
    assert code == 0, err
    assert "web_search" not in offered(model.requests[0]) and "fetch_url" in offered(model.requests[0])
    warnings = [line for line in err.splitlines() if "web_search is not offered" in line]
    assert len(warnings) == 1, err
    assert "SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY" in warnings[0] and "agent assistant" in warnings[0]
