"""Scale-out by Discord shards: SHARD_COUNT and SHARD_IDS, the emulator's
routing of guilds to shards (as Discord does it), and the store's rule that
a process takes over only the runs of the guilds its shards own."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.shards import Shards, shard_of
from bot.store import Store
from bot.store.scopes import PERSONAL_SCOPE
from executor.tools.invocation import Invocation
from tests.bot_harness import bot_on, running_bot
from tests.databases import DatabaseUnderTest
from tests.fakes.bot_env import START, start_bot, terminate
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Channel, Guild, Message
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.store_helpers import run_info

GUILDS_AND_MESSAGES = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        (None, None, Shards(None, None)),
        ("4", None, Shards(4, None)),
        ("4", "0-3", Shards(4, (0, 1, 2, 3))),
        ("4", "2, 0", Shards(4, (0, 2))),
        ("8", "0-1,4,4-5", Shards(8, (0, 1, 4, 5))),
    ],
)
def test_shard_settings_are_parsed(count: str | None, ids: str | None, expected: Shards) -> None:
    settings = load_settings(_env_file=None, shard_count=count, shard_ids=ids)
    assert settings.shards() == expected


@pytest.mark.parametrize(
    ("count", "ids", "message"),
    [
        (None, "0-1", "SHARD_IDS: set SHARD_COUNT too"),
        ("2", "0-2", "SHARD_IDS: shard 2 does not exist with SHARD_COUNT=2 (ids run from 0 to 1)"),
        ("2", "one", "SHARD_IDS: 'one' is not a shard id or a range like 0-3"),
        ("4", "3-1", "SHARD_IDS: the range '3-1' runs backwards (write 1-3)"),
        ("4", "-1", "SHARD_IDS: '-1' is not a shard id"),
        ("4", ",", "SHARD_IDS: names no shard"),
        ("0", None, "SHARD_COUNT: Input should be greater than or equal to 1"),
    ],
)
def test_bad_shard_settings_say_what_to_do(count: str | None, ids: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, shard_count=count, shard_ids=ids)
    assert message in str(info.value)


def test_a_process_owns_the_guilds_of_its_shards_and_shard_0_the_dms() -> None:
    on = {shard: [(n << 22) | 7 for n in range(1000, 1012) if n % 3 == shard] for shard in range(3)}
    for shard, guilds in on.items():
        assert {shard_of(g, 3) for g in guilds} == {shard}
        assert all(Shards(3, (shard,)).owns(str(g)) for g in guilds)
        assert not any(Shards(3, (shard,)).owns(g) for other in on if other != shard for g in on[other])
    assert Shards(3, (0,)).owns(None) and Shards(3, (0,)).owns("") and Shards(3, (0,)).owns("console")
    assert not Shards(3, (1, 2)).owns("") and not Shards(3, (1, 2)).owns("console")
    for everything in (Shards(), Shards(3), Shards(3, (2, 0, 1))):
        assert everything.everything and everything.owns(on[1][0]) and everything.owns(None)


# ---------------------------------------------------------- emulator routing


@dataclass
class RawShard:
    """One gateway connection as a sharded bot makes it, recording the events it is sent."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: int | None = None

    def names(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == event]


@contextlib.asynccontextmanager
async def raw_shards(emu: DiscordEmulator, *shards: list[Any]) -> AsyncIterator[list[RawShard]]:
    """Connect and IDENTIFY once per ``[shard_id, shard_count]``; each waits for READY (or its close)."""
    async with aiohttp.ClientSession() as session:
        recorders = [RawShard() for _ in shards]
        tasks = []
        ready = [asyncio.Event() for _ in shards]

        async def run(shard: list[Any], recorder: RawShard, is_ready: asyncio.Event) -> None:
            async with session.ws_connect(f"{emu.gateway_url}?v=10&encoding=json") as ws:
                await ws.receive_json()  # HELLO
                identify = {"token": emu.token, "intents": GUILDS_AND_MESSAGES, "shard": shard,
                            "properties": {"os": "linux", "browser": "test", "device": "test"}}
                await ws.send_json({"op": 2, "d": identify})
                async for frame in ws:
                    payload = json.loads(frame.data)
                    recorder.events.append((payload["t"], payload["d"]))
                    if payload["t"] == "READY":
                        is_ready.set()
                recorder.closed = ws.close_code
                is_ready.set()

        for shard, recorder, is_ready in zip(shards, recorders, ready, strict=True):
            tasks.append(asyncio.create_task(run(shard, recorder, is_ready)))
            await asyncio.wait_for(is_ready.wait(), 10)
        try:
            yield recorders
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_emulator_routes_each_guild_to_its_shard_and_dms_to_shard_0() -> None:
    async with DiscordEmulator(recommended_shards=2) as emu:
        here = shard_of(emu.guild.id, 2)
        other = emu.add_guild("Other Guild", shard=(1 - here, 2))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{emu.api_base}/gateway/bot", headers={"Authorization": f"Bot {emu.token}"}) as got:
                assert (await got.json())["shards"] == 2
        async with raw_shards(emu, [0, 2], [1, 2]) as shards:
            mine, theirs = shards[here], shards[1 - here]
            for shard, guild in ((mine, emu.guild), (theirs, other)):
                [ready] = shard.names("READY")
                assert [g["id"] for g in ready["guilds"]] == [str(guild.id)]
                assert [g["id"] for g in shard.names("GUILD_CREATE")] == [str(guild.id)]
            await emu.post_message("in the first guild", user=emu.member)
            await emu.post_message("in the other guild", user=emu.member, channel=emu.channel("general", other))
            await emu.post_direct_message("a DM", user=emu.member)
            await emu.wait_for(lambda: len(shards[0].names("MESSAGE_CREATE")) == 2 or None)
            await emu.wait_for(lambda: len(shards[1].names("MESSAGE_CREATE")) == 1 or None)
            assert [m["content"] for m in mine.names("MESSAGE_CREATE") if "guild_id" in m] == ["in the first guild"]
            assert [m["content"] for m in theirs.names("MESSAGE_CREATE") if "guild_id" in m] == ["in the other guild"]
            assert [m["content"] for m in shards[0].names("MESSAGE_CREATE") if "guild_id" not in m] == ["a DM"]


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [0], "0,2", [-1, 2]])
async def test_the_emulator_refuses_an_invalid_shard_like_discord(shard: Any) -> None:
    async with DiscordEmulator() as emu, raw_shards(emu, shard) as [refused]:
        assert refused.closed == 4010 and refused.names("READY") == []


# ------------------------------------------------------------ store recovery


def guild_on(shard: int, count: int, n: int = 0) -> str:
    """A 19-digit guild id that Discord routes to ``shard`` of ``count``."""
    base = 300_000_000_000 + n * count
    return str(((base - base % count + shard) << 22) | 4242)


async def test_a_process_takes_over_only_the_runs_of_guilds_its_shards_own(database: DatabaseUnderTest) -> None:
    """A gone process left runs in guilds of both shards, a DM ('' guild) and
    a console run: the process of shard 1 takes over only its guilds' runs
    and reservations, the process of shard 0 the rest, DMs and console included."""
    guilds = {
        "s0-a": guild_on(0, 2), "s0-b": guild_on(0, 2, 7), "s1-a": guild_on(1, 2), "s1-b": guild_on(1, 2, 9),
        "dm": "", "console": "console",
    }
    async with Store(database.url, executor_id="gone") as gone:
        for run_id, guild in guilds.items():
            await gone.budget.check(Invocation("u1", run_id=run_id, guild_id=guild), "helper")
            await gone.audit.start_run(run_info(run_id, guild=guild))
    # The process closed with its runs still running: it is gone.
    async with Store(database.url, executor_id="shard-1", shards=Shards(2, (1,))) as one:
        assert (one.recovery.interrupted_runs, one.recovery.released_reservations) == (2, 2)
    assert statuses(database) == {
        "s0-a": "running", "s0-b": "running", "s1-a": "interrupted", "s1-b": "interrupted",
        "dm": "running", "console": "running",
    }
    assert reserved(database) == {"s0-a", "s0-b", "dm", "console"}
    async with Store(database.url, executor_id="shard-0", shards=Shards(2, (0,))) as zero:
        assert (zero.recovery.interrupted_runs, zero.recovery.released_reservations) == (4, 4)
    assert set(statuses(database).values()) == {"interrupted"} and reserved(database) == set()
    ledger = database.rows("SELECT run_id, status FROM budget_ledger")
    assert sorted(ledger) == sorted((run_id, "interrupted") for run_id in guilds)


def statuses(database: DatabaseUnderTest) -> dict[str, str]:
    return dict(database.rows("SELECT run_id, status FROM runs"))  # type: ignore[arg-type]


def reserved(database: DatabaseUnderTest) -> set[str]:
    return {r[0] for r in database.rows("SELECT run_id FROM budget_reservations")}


# ------------------------------------------------------ two shard processes


async def test_two_shard_processes_on_postgresql_each_answer_only_their_own_guilds(
    tmp_path: Path, postgresql_database: DatabaseUnderTest
) -> None:
    """``python -m bot`` twice, SHARD_COUNT=2 with SHARD_IDS 0 and 1, on one
    PostgreSQL database, against the emulator with a guild on each shard:
    each guild's slash command, thread follow-up and Cancel click reach the
    process of its shard only, and its runs execute (and are cancelled)
    there; a DM reaches the process of shard 0 only; each syncs the commands
    of its own guild only. After both were stopped, each restarted process
    catches up the messages missed in its own guild's threads only, though
    REST would let it read the other's."""
    db = postgresql_database
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        first = shard_of(emu.guild.id, 2)
        guilds = {first: emu.guild, 1 - first: emu.add_guild("Second Guild", shard=(1 - first, 2))}
        common = {
            "DATABASE_URL": db.url,
            "SHARD_COUNT": "2",
            "DISCORD_GUILD_IDS": ",".join(str(g.id) for g in guilds.values()),
        }
        processes: dict[int, asyncio.subprocess.Process] = {}
        logs: list[str] = []

        async def start(shard: int) -> None:
            processes[shard] = await start_bot(
                tmp_path, tmp_path / "unused.db", emu, model, SHARD_IDS=str(shard), EXECUTOR_ID=f"shard-{shard}",
                **common,
            )

        async def stop(shard: int) -> None:
            logs.append(await terminate(processes[shard]))
            assert processes[shard].returncode == 0, logs[-1]

        try:
            for shard in (0, 1):
                await start(shard)
            threads: dict[int, Channel] = {}
            for shard, guild in guilds.items():
                model.script(Reply.text(f"answer in shard {shard}"))
                threads[shard] = await ask(emu, guild, f"question for shard {shard}")
                await said(emu, threads[shard], f"answer in shard {shard}")
            for shard, thread in threads.items():
                model.script(Reply.text(f"follow-up answer in shard {shard}"))
                await emu.post_message("and then?", user=emu.member, channel=thread)
                await said(emu, thread, f"follow-up answer in shard {shard}")
            model.script(Reply.text("answer in a DM"))
            await emu.post_direct_message("hello in a DM", user=emu.member)
            await said(emu, emu.dm_channel(emu.member), "answer in a DM")
            model.script(Reply.text("never arrives", delay=60))
            asked = len(model.requests)
            slow = await ask(emu, guilds[1], "a slow question")
            # Mid-run: its model call is made (and its slow reply taken) before the click.
            await emu.wait_for(lambda: len(model.requests) > asked or None, timeout=START)
            progress = await emu.wait_for(
                lambda: next((m for m in bot_said(emu, slow) if m.custom_ids), None), timeout=START
            )
            [button] = progress.custom_ids
            click = await emu.click_button(progress, button, user=emu.member)
            await said(emu, slow, "cancelled")
            for shard in (0, 1):
                await stop(shard)
            # While both are down, a message in each guild's thread; shard 0 comes back first.
            for thread in threads.values():
                await emu.post_message("anything new?", user=emu.member, channel=thread)
            model.script(Reply.text("caught up"), Reply.text("caught up"))
            for shard in (0, 1):
                await start(shard)
                await said(emu, threads[shard], "caught up")
            for shard in (0, 1):
                await stop(shard)
        finally:
            for shard, proc in processes.items():
                if proc.returncode is None:  # the test failed: show what the process said
                    proc.kill()
                    print(f"--- shard {shard}:", (await proc.communicate())[0].decode()[-20000:])
        assert click.acknowledged and len(click.callbacks) == 1
        assert len(model.requests) == 8  # each prompt answered once, by one process
        # Each guild's commands were synced by its own shard's process only, once a start.
        assert sorted(sync.guild_id for sync in emu.command_syncs) == sorted([g.id for g in guilds.values()] * 2)
        assert emu.violations == []
        # What each shard's gateway sessions were sent: their own guild's events only.
        for session in emu.sessions:
            assert session.shard is not None
            seen = {event.data.get("guild_id") for event in session.sent if event.name != "READY"} - {None}
            assert seen == {str(guilds[session.shard[0]].id)}, (session.shard, seen)
            dms = [e for e in session.sent if e.name == "MESSAGE_CREATE" and "guild_id" not in e.data]
            assert bool(dms) == (session.shard == (0, 2) and session is emu.sessions[0])
        runs = db.rows("SELECT guild_id, owner_id, status FROM runs ORDER BY started_at")
        for shard, guild in guilds.items():
            mine = [(owner, status) for guild_id, owner, status in runs if guild_id == str(guild.id)]
            cancelled = [("shard-1", "cancelled")] if shard == 1 else []
            assert mine == [(f"shard-{shard}", "ok")] * 2 + cancelled + [(f"shard-{shard}", "ok")]
        assert [(owner, status) for guild_id, owner, status in runs if guild_id == PERSONAL_SCOPE] == [("shard-0", "ok")]
        for log in logs:
            assert "sk-test" not in log and emu.token not in log


async def test_without_shard_settings_one_process_runs_the_shards_discord_recommends(tmp_path: Path) -> None:
    async with DiscordEmulator(recommended_shards=2) as emu, FakeOpenAIServer() as model:
        other = emu.add_guild("Second Guild", shard=(1 - shard_of(emu.guild.id, 2), 2))
        with emu.patch_discord():
            async with bot_on(tmp_path, emu, model, discord_guild_ids=f"{emu.guild.id},{other.id}") as h:
                assert sorted(s.shard for s in emu.sessions if s.shard is not None) == [(0, 2), (1, 2)]
                assert h.bot.shard_count == 2 and sorted(h.bot.shards) == [0, 1]
                for guild in (emu.guild, other):
                    model.script(Reply.text(f"answer in {guild.name}"))
                    await said(emu, await ask(emu, guild, "hello"), f"answer in {guild.name}")
        assert emu.violations == []


async def test_a_429_from_discord_or_a_shared_proxy_is_waited_out_and_retried(tmp_path: Path) -> None:
    """Several processes share one token's REST limits, so 429s come (from
    Discord, or a proxy in front of it): discord.py waits ``retry_after``
    and retries, and the bot leaves that to it."""
    async with running_bot(tmp_path) as h:
        h.emu.rate_limit("create_message", times=2)
        h.model.script(Reply.text("Paris."))
        await h.emu.send_slash_command("ask", {"prompt": "Capital of France?"}, user=h.emu.member)
        await said(h.emu, await h.thread_of(), "Paris.")
        await h.idle()
        statuses = [r.status for r in h.emu.requests if r.operation == "create_message"]
        assert statuses[:3] == [429, 429, 200] and 429 not in statuses[3:]
        assert (await h.store.runs.recent(str(h.emu.guild.id)))[0].status == "ok"
        assert h.emu.violations == []


async def ask(emu: DiscordEmulator, guild: Guild, prompt: str) -> Channel:
    """/ask in ``guild``'s general channel; the agent thread it opens."""
    before = len(emu.threads)
    await emu.send_slash_command("ask", {"prompt": prompt}, user=emu.member, channel=emu.channel("general", guild))
    return await emu.wait_for(lambda: len(emu.threads) > before and emu.threads[-1], timeout=START)


def bot_said(emu: DiscordEmulator, thread: Channel) -> list[Message]:
    return [m for m in emu.messages_in(thread) if m.author.id == emu.bot_user.id]


async def said(emu: DiscordEmulator, thread: Channel, text: str) -> Message:
    return await emu.wait_for(
        lambda: next((m for m in bot_said(emu, thread) if text in m.content), None), timeout=START
    )
