"""The shipped researcher delegates to the summarize skill on the fake model
server; the sub-run is audited under its parent in the real store."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.http import http_client
from bot.run_service import RunRequest
from bot.services import build_services
from bot.store import Store
from executor import RunStatus
from tests.fakes.model_servers import FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parent.parent


async def test_researcher_delegates_to_a_skill_and_the_sub_run_is_audited(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as srv, http_client() as http:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
            agents_dir=ROOT / "agents",
            skills_dir=ROOT / "skills",
            openai_api_key="sk-test",
            openai_base_url=srv.base_url,
            model_tiers="fast=openai/fast-model,smart=openai/smart-model",
        )
        srv.script(
            Reply.tool_call("skill__summarize", {"text": "A long report about cats.", "focus": "cats", "max_words": 20}),
            Reply.text("- Cats are covered."),  # the skill's own run
            Reply.text("The report is about cats."),
        )
        async with Store(settings.database_url) as store:
            services = build_services(settings, http, store)
            assert services.agents.problems == []
            agent = services.agents.agents["researcher"]
            request = RunRequest(agent.runnable(), "member-1", "guild-1", "thread-1", "Summarise the cat report")
            result = await services.runs.run(request)
            assert result.status is RunStatus.OK and result.output == "The report is about cats."
            runs = await store.runs.recent("guild-1")
            parent = next(r for r in runs if r.run_id == request.run_id)
            child = next(r for r in runs if r.parent_run_id == request.run_id)
            assert (parent.agent_id, child.agent_id, child.status) == ("researcher", "summarize", "ok")
            detail = await store.runs.detail(request.run_id)
            assert detail is not None and [c.name for c in detail.tool_calls] == ["skill__summarize"]
        assert [r["model"] for r in srv.requests] == ["smart-model", "fast-model", "smart-model"]
        skill_prompt = srv.requests[1]["messages"][-1]["content"]
        assert "at most 20 words" in skill_prompt and "A long report about cats." in skill_prompt
