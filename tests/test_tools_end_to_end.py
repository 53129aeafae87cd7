"""The shipped agents, loaded from their files, run through the real Executor
with the builtin tools, the workspace session factory and the palette."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.agents import LoadedAgents, load_agents
from executor import Config, Executor
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import ToolResultMessage, UserMessage
from executor.ports import Ports
from executor.tools.builtin import NetPolicy, builtin_tools, workspace_session_factory
from executor.tools.invocation import Invocation
from executor.tools.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def image_server() -> AsyncIterator[TestServer]:
    async def png(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/cat.png", png)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


def setup(model: ScriptedModel) -> tuple[Executor, LoadedAgents]:
    registry = Registry(builtin_tools(NetPolicy(allow_loopback=True)))
    loaded = load_agents(ROOT / "agents", set(registry.names()), skills_dir=ROOT / "skills")
    assert loaded.problems == []
    return Executor(Config(registry=registry, models=lambda tier: model, ports=Ports(palette=loaded))), loaded


async def test_assistant_uses_every_tool_and_hands_back_its_files(image_server: TestServer) -> None:
    chart: dict[str, Any] = {"type": "bar", "labels": ["a", "b"], "series": [{"values": [1, 2]}], "filename": "ab.png"}
    model = ScriptedModel(
        [
            call("calculator", expression="6 * 7"),
            call("current_time", timezone="Europe/Paris"),
            call("view_image", url=str(image_server.make_url("/cat.png"))),
            call("render_chart", **chart),
            call("write_file", filename="notes.md", content="# Notes"),
            call("run_status"),
            text("done"),
        ]
    )
    executor, loaded = setup(model)
    definition = loaded.agents["assistant"]
    session_tools = workspace_session_factory(only=definition.session_tools)
    result = await executor.run(definition.runnable(), Invocation(caller_id="member"), "help me", session_tools)
    assert result.ok, result.err
    assert result.output == "done"
    offered = {spec.name for spec in model.requests[0].tools}
    assert offered == set(definition.tools) | {"render_chart", "write_file"}
    assert {"calculator", "current_time", "fetch_url", "view_image", "run_status"} == set(definition.tools)
    tool_results = [m for m in result.transcript if isinstance(m, ToolResultMessage)]
    assert [m.is_error for m in tool_results] == [False] * 6, [m.content for m in tool_results]
    assert tool_results[0].content == "6 * 7 = 42"
    assert "step " in tool_results[-1].content and "of at most 12" in tool_results[-1].content
    images = [img for m in model.requests[3].messages if isinstance(m, UserMessage) for img in m.images]
    assert [(i.data, i.media_type) for i in images] == [(PNG, "image/png")]
    assert result.post_run_result is not None
    files = {a.name: a for a in result.post_run_result.artifacts}
    assert set(files) == {"ab.png", "notes.md"}
    assert files["ab.png"].data.startswith(b"\x89PNG\r\n\x1a\n") and files["notes.md"].data == b"# Notes"


async def test_researcher_delegates_to_the_summarize_skill() -> None:
    model = ScriptedModel(
        [
            call("skill__summarize", text="A long text about tides.", focus="causes", max_words=20),
            text("- tides come from the moon"),
            text("Tides are caused by the moon."),
        ]
    )
    executor, loaded = setup(model)
    result = await executor.run(loaded.agents["researcher"].runnable(), Invocation(caller_id="member"), "tides?")
    assert result.ok, result.err
    assert result.output == "Tides are caused by the moon."
    offered = {spec.name for spec in model.requests[0].tools}
    assert {"skill__summarize", "agent__assistant", "fetch_url"} <= offered
    sub_run_task = model.requests[1].messages[-1]
    assert isinstance(sub_run_task, UserMessage)
    assert "at most 20 words, focusing on: causes" in sub_run_task.content
    assert "A long text about tides." in sub_run_task.content
