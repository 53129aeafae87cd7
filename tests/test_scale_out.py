"""Scale-out by Discord shards: SHARD_COUNT and SHARD_IDS, the emulator's
routing of guilds to shards (as Discord does it), and the store's rule that
a process takes over only the runs of the guilds its shards own."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.shards import Shards, shard_of
from bot.store import Store
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest
from tests.fakes.discord_emulator import DiscordEmulator
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
    assert Shards(3, (0,)).owns(None) and Shards(3, (0,)).owns("")
    assert not Shards(3, (1, 2)).owns("")
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
