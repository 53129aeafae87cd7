"""What members see when the model provider fails: the provider's name and
what went wrong, never its address (it can be a LAN host); that stays in the log."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.bot_harness import running_bot


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_provider_is_named_but_its_url_stays_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/lan-gpu-box-7f3a/v1"
    with caplog.at_level("WARNING"):
        async with running_bot(tmp_path, openai_base_url=url) as h:
            inter = await h.emu.send_slash_command("ask", {"prompt": "hello?"}, user=h.emu.member)
            thread = await h.thread_of()
            await h.idle()
            texts = [m.content for m in h.emu.messages_in(thread)] + [m.content for m in h.emu.messages]
            [run] = await h.store.runs.recent(str(h.emu.guild.id))
            detail = await h.emu.send_slash_command("run", {"run_id": run.run_id}, user=h.emu.member)
            await h.emu.wait_for(lambda: detail.acknowledged)
            shown = detail.callbacks[0].body["data"]["content"]
            assert inter.acknowledged and h.emu.violations == []
    error = next(t for t in texts if run.run_id in t and "📡" in t)
    assert "(openai) is not answering" in error
    assert run.status == "error" and "could not reach openai" in shown
    for text in [*texts, shown, run.error or ""]:
        assert "lan-gpu-box-7f3a" not in text and "127.0.0.1" not in text, text
    assert any(url in r.getMessage() for r in caplog.records if r.name == "executor.llm.http")
