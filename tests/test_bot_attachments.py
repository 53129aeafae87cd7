"""Members' attachments through the emulator: images are checked by their
bytes, a refused one is named in the thread while the run goes on, and an
image a provider refuses is dropped from the thread's history."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import Harness, running_bot
from tests.fakes.model_servers import Reply

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path) as harness:
        yield harness
        assert harness.emu.violations == [], harness.emu.violations


def image_urls(request: dict[str, Any]) -> list[str]:
    return [
        part["image_url"]["url"]
        for m in request["messages"]
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if part.get("type") == "image_url"
    ]


def bot_texts(h: Harness, thread: Any) -> list[str]:
    return [m.content for m in h.emu.messages_in(thread) if m.author.id == h.emu.bot_user.id]


async def test_bad_attachments_are_named_and_the_run_goes_on_with_the_good_one(h: Harness) -> None:
    h.model.script(Reply.text("One pixel."))
    files = [
        h.emu.upload("empty.png", b"", "image/png"),
        h.emu.upload("notes.png", b"just some text, renamed", "image/png"),
        h.emu.upload("huge.png", PNG + b"\0" * 5_000_000, "image/png"),
        h.emu.upload("pixel.png", PNG, "image/png"),
        h.emu.upload("data.csv", b"a,b\n1,2\n", "text/csv"),  # not an image: left for tools, not refused
    ]
    await h.emu.post_message(f"<@{h.emu.bot_user.id}> what are these?", user=h.emu.member, attachments=files)
    thread = await h.thread_of()
    await h.idle()
    [notice] = [t for t in bot_texts(h, thread) if "Not passed to the agent" in t]
    assert "`empty.png` is empty" in notice
    assert "`notes.png` is not a PNG, JPEG, GIF or WebP image" in notice
    assert "`huge.png` is 5.0 MB; images can be at most 5 MB" in notice
    assert "pixel.png" not in notice and "data.csv" not in notice
    [request] = h.model.requests
    assert image_urls(request) == [PNG_URL]
    assert bot_texts(h, thread)[-1] == "One pixel."


async def test_ask_with_a_refused_image_still_runs_on_the_text(h: Harness) -> None:
    h.model.script(Reply.text("No image reached me."))
    fake = h.emu.upload("cat.png", b"<html>not a cat</html>", "image/png")
    await h.emu.send_slash_command("ask", {"prompt": "What is in this image?", "image": fake}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    texts = bot_texts(h, thread)
    assert any("`cat.png` is not a PNG, JPEG, GIF or WebP image" in t for t in texts)
    assert texts[-1] == "No image reached me."
    [request] = h.model.requests
    assert image_urls(request) == [] and request["messages"][-1]["content"] == "What is in this image?"


async def test_an_image_the_provider_refuses_is_dropped_from_the_thread(h: Harness) -> None:
    h.model.script(Reply.error(400, "You uploaded an unsupported image.", code="invalid_image_format"), Reply.text("Sure."))
    pixel = h.emu.upload("pixel.png", PNG, "image/png")
    await h.emu.send_slash_command("ask", {"prompt": "Describe this", "image": pixel}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    assert image_urls(h.model.requests[0]) == [PNG_URL]
    assert any("refused an image in this conversation" in t for t in bot_texts(h, thread))
    await h.emu.post_message("Then just say hello", user=h.emu.member, channel=thread)
    await h.idle(2)
    follow_up = h.model.requests[1]
    assert image_urls(follow_up) == []  # not sent again, so the thread can go on
    assert any("Describe this" in m["content"] and "[image removed" in m["content"] for m in follow_up["messages"])
    assert bot_texts(h, thread)[-1] == "Sure."
    runs = await h.store.runs.recent(str(h.emu.guild.id))
    assert [r.status for r in runs] == ["ok", "error"]


async def test_view_image_finds_the_members_attachment_by_name(h: Harness) -> None:
    """The member's attachments travel with the run (Invocation.attachments):
    the tool finds one by name and fetches its URL, here refused because the
    emulator's CDN is on loopback, which the bot's tools may not reach."""
    h.model.script(Reply.tool_call("view_image", {"attachment": "Chart.PNG"}), Reply.text("Could not open it."))
    files = [h.emu.upload("data.csv", b"a,b\n1,2\n", "text/csv"), h.emu.upload("chart.png", PNG, "image/png")]
    message = await h.emu.post_message(f"<@{h.emu.bot_user.id}> look at chart.png", user=h.emu.member, attachments=files)
    thread = await h.thread_of()
    await h.idle()
    _, second = h.model.requests
    [result] = [m for m in second["messages"] if m["role"] == "tool"]
    assert result["content"].startswith("error: refused to fetch ")
    assert message.attachments[1].url in result["content"]
    assert bot_texts(h, thread)[-1] == "Could not open it."
