"""The Discord emulator, driven by the unmodified discord.py client.

These tests are what lets end-to-end tests trust the emulator: a real
``commands.Bot`` logs in, receives READY and the guild, syncs commands, answers
slash commands and buttons, opens a thread and uploads into it, and every body
it sends passes Discord's published schemas. One test proves the schema check
can fail.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import PUBLIC_THREAD
from tests.fakes.discord_specs import content_problems


class StopView(discord.ui.View):
    """A persistent view, so a click reaches the bot whatever message carries it."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Stop", style=discord.ButtonStyle.danger, custom_id="probe:stop")
    async def stop_run(self, interaction: discord.Interaction, button: discord.ui.Button[StopView]) -> None:
        await interaction.response.edit_message(content="stopped", view=None)


class NoteModal(discord.ui.Modal, title="Add a note"):
    note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(label="Note", custom_id="probe:note")
    tag: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(custom_id="probe:tag", required=False)
    labelled = discord.ui.Label(text="Tag", component=tag)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.note.value} [{self.tag.value}]")
        followup = await interaction.followup.send("attached", file=discord.File(io.BytesIO(b"n"), "note.txt"),
                                                   wait=True)
        await followup.edit(content="attached (edited)")


class Config(app_commands.Group):
    """A command group, so subcommand options and resolved objects are exercised."""

    @app_commands.command(name="grant", description="Grant a role to a member in a channel")
    async def grant(
        self, interaction: discord.Interaction, role: discord.Role, who: discord.Member, where: discord.TextChannel
    ) -> None:
        await interaction.response.send_message(
            f"{role.name} for {who.name} in {where.name}", allowed_mentions=discord.AllowedMentions.none()
        )


class Probe(commands.Cog):
    """A small cog exercising what the real bot does: defer, edit, thread, upload, button."""

    config = Config(name="config", description="Configure the agent")

    def __init__(self) -> None:
        self.messages: list[discord.Message] = []

    @app_commands.command(name="ask", description="Ask the agent something")
    @app_commands.describe(prompt="What to ask", file="A file to read")
    async def ask(self, interaction: discord.Interaction, prompt: str, file: discord.Attachment | None = None) -> None:
        await interaction.response.defer(thinking=True)
        size = len(await file.read()) if file is not None else 0
        await interaction.edit_original_response(content=f"working on {prompt} ({size} bytes)", view=StopView())
        assert isinstance(interaction.channel, discord.TextChannel)
        thread = await interaction.channel.create_thread(
            name=f"ask: {prompt}", type=discord.ChannelType.public_thread, auto_archive_duration=60
        )
        await thread.send("here is the result", file=discord.File(io.BytesIO(b"result bytes"), filename="result.txt"))

    @app_commands.command(name="whoami", description="Show what Discord says about you")
    async def whoami(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(f"manage_guild={interaction.permissions.manage_guild}")

    @app_commands.command(name="note", description="Write a note")
    async def note(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NoteModal())

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.messages.append(message)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        with emulator.patch_discord():
            yield emulator


@asynccontextmanager
async def running_bot(emu: DiscordEmulator, intents: discord.Intents) -> AsyncIterator[tuple[commands.Bot, Probe]]:
    """A logged-in, connected bot with the probe cog, closed on exit."""
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.01)
    probe = Probe()
    await bot.add_cog(probe)
    bot.add_view(StopView())
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect(reconnect=False))
    try:
        await emu.wait_until_ready()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        yield bot, probe
    finally:
        await bot.close()
        await task


def all_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents


async def test_bot_connects_syncs_and_handles_a_command_thread_upload_and_button(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, probe):
        guild = bot.get_guild(emu.guild.id)
        assert bot.user is not None and bot.user.id == emu.bot_user.id
        assert guild is not None and guild.owner_id == emu.owner.id
        assert guild.get_member(emu.admin.id) is not None
        assert {role.name for role in guild.roles} >= {"@everyone", "Admin"}

        bot.tree.copy_global_to(guild=discord.Object(emu.guild.id))
        synced = await bot.tree.sync(guild=discord.Object(emu.guild.id))
        assert {command.name for command in synced} == {"ask", "whoami", "note", "config"}
        ask = next(c for c in emu.guild_commands[emu.guild.id] if c["name"] == "ask")
        assert [(o["name"], o["type"]) for o in ask["options"]] == [("prompt", 3), ("file", 11)]

        interaction = await emu.send_slash_command(
            "ask", {"prompt": "hello", "file": emu.upload("notes.txt", b"abc")}, user=emu.member
        )
        thread = await emu.wait_for(lambda: next((t for t in emu.threads if emu.messages_in(t)), None))

        assert [callback.type for callback in interaction.callbacks] == [5]
        assert interaction.ack_latency is not None
        assert interaction.original_message_id is not None
        original = emu.message(interaction.original_message_id)
        assert original.content == "working on hello (3 bytes)"
        assert not original.loading and len(original.edits) == 1
        assert original.custom_ids == ["probe:stop"]

        assert (thread.type, thread.name, thread.parent_id) == (PUBLIC_THREAD, "ask: hello", emu.general.id)
        assert thread.auto_archive_duration == 60
        [result] = emu.messages_in(thread)
        assert result.content == "here is the result"
        assert [(a.filename, a.data) for a in result.attachments] == [("result.txt", b"result bytes")]
        assert result.allowed_mentions is None

        posted = await emu.post_message(
            f"{emu.bot_user.mention} thanks", user=emu.member, channel=thread,
            attachments=[emu.upload("answer.md", b"# notes")],
        )
        seen = await emu.wait_for(lambda: next((m for m in probe.messages if m.id == posted.id), None))
        assert seen.channel.id == thread.id and bot.user in seen.mentions
        assert await seen.attachments[0].read() == b"# notes"

        click = await emu.click_button(original, "probe:stop", user=emu.admin)
        await emu.wait_for(lambda: original.content == "stopped")
        assert [callback.type for callback in click.callbacks] == [7]
        assert original.components == []

    assert emu.violations == []
    assert emu.unknown_routes == []


async def test_interactions_carry_member_permissions(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, _):
        await bot.tree.sync()
        assert {command["name"] for command in emu.global_commands} == {"ask", "whoami", "note", "config"}
        answers = []
        for user in (emu.admin, emu.member):
            interaction = await emu.send_slash_command("whoami", user=user)
            await emu.wait_for(lambda: interaction.followup_message_ids)
            assert interaction.followup_message_ids == [interaction.original_message_id]
            answers.append(emu.message(interaction.followup_message_ids[0]))
        async with aiohttp.ClientSession() as session:
            url = f"{emu.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
            async with session.post(url, json={"type": 4, "data": {"content": "again"}}) as again:
                assert (again.status, (await again.json())["code"]) == (400, 40060)
    assert [callback.status for callback in interaction.callbacks] == [200, 400]
    assert [answer.content for answer in answers] == ["manage_guild=True", "manage_guild=False"]
    assert all(answer.ephemeral and not answer.loading for answer in answers)
    assert len(emu.messages_in(emu.general)) == 2
    assert emu.violations == []


async def test_subcommand_options_resolve_roles_members_and_channels(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, _):
        await bot.tree.sync()
        interaction = await emu.send_slash_command(
            "config grant", {"role": emu.admin_role, "who": emu.member, "where": emu.random}, user=emu.owner
        )
        await emu.wait_for(lambda: interaction.original_message_id)
        with pytest.raises(LookupError):
            await emu.send_slash_command("config grant", {"colour": "red"})
    assert interaction.original_message_id is not None
    answer = emu.message(interaction.original_message_id)
    assert answer.content == "Admin for bob in random"
    assert answer.allowed_mentions == {"parse": []}
    assert emu.violations == []


async def test_modal_submission_and_followups(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, _):
        await bot.tree.sync()
        opened = await emu.send_slash_command("note", user=emu.admin)
        modal = await emu.wait_for(lambda: opened.modal)
        assert modal["title"] == "Add a note"
        submitted = await emu.submit_modal(opened, {"probe:note": "buy milk", "probe:tag": "home"})
        await emu.wait_for(lambda: any(emu.message(i).edits for i in submitted.followup_message_ids))
    assert submitted.original_message_id is not None
    assert emu.message(submitted.original_message_id).content == "noted: buy milk [home]"
    followup = emu.message(submitted.followup_message_ids[0])
    assert followup.content == "attached (edited)"
    assert [a.data for a in followup.attachments] == [b"n"]
    assert emu.violations == []


async def test_gateway_is_compressed_and_resumes(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (_, probe):
        expected = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
        assert emu.gateway_queries[0] == {"v": "10", "encoding": "json", "compress": expected}
        await emu.send_reconnect()
        await emu.wait_for(lambda: any(payload.get("op") == 6 for payload in emu.gateway_received))
        posted = await emu.post_message("after the resume")
        await emu.wait_for(lambda: any(m.id == posted.id for m in probe.messages))
    assert len(emu.gateway_queries) == 2


async def test_without_message_content_intent_the_bot_sees_only_mentions(emu: DiscordEmulator) -> None:
    async with running_bot(emu, discord.Intents.default()) as (bot, probe):
        plain = await emu.post_message("not for the bot")
        mention = await emu.post_message(f"{emu.bot_user.mention} for the bot")
        await emu.wait_for(lambda: len(probe.messages) == 2)
        guild = bot.get_guild(emu.guild.id)
        assert guild is not None and [m.id for m in guild.members] == [emu.bot_user.id]
    assert [(m.id, m.content) for m in probe.messages] == [(plain.id, ""), (mention.id, mention.content)]


async def test_invalid_bodies_and_unknown_routes_are_recorded(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, _):
        channel = bot.get_channel(emu.general.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        with pytest.raises(discord.HTTPException) as bad_embed:
            await channel.send(embed=discord.Embed(title="t" * 300))
        with pytest.raises(discord.NotFound):
            await bot.http.request(discord.http.Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=emu.guild.id))
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert (bad_embed.value.status, bad_embed.value.code) == (400, 50035)
    assert [(v.operation, v.problems) for v in emu.violations] == [
        ("create_message", ["content: 2001 characters, Discord allows a bot 2000"]),
        ("create_message", ["embeds/0/title: '" + "t" * 300 + "' is too long"]),
    ]
    assert [(r.method, r.path) for r in emu.unknown_routes] == [("GET", f"/api/v10/guilds/{emu.guild.id}/audit-logs")]
    assert emu.messages_in(emu.general) == []


async def test_the_content_limit_holds_without_schema_checks() -> None:
    """Discord refuses more than 2000 characters from a bot whatever else is
    checked, in messages and in interaction responses."""
    async with DiscordEmulator(check_schemas=False) as emu:
        with emu.patch_discord():
            async with running_bot(emu, all_intents()) as (bot, _):
                channel = bot.get_channel(emu.general.id)
                assert isinstance(channel, discord.TextChannel)
                with pytest.raises(discord.HTTPException) as too_long:
                    await channel.send("x" * 2001)
                await channel.send("x" * 2000)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert [len(m.content) for m in emu.messages_in(emu.general)] == [2000]
    assert [(v.operation, v.problems) for v in emu.violations] == [
        ("create_message", ["content: 2001 characters, Discord allows a bot 2000"]),
    ]
    callback = {"type": 4, "data": {"content": "x" * 2001}}
    assert content_problems("create_interaction_response", callback) == [
        "data/content: 2001 characters, Discord allows a bot 2000"
    ]
    assert content_problems("create_interaction_response", {"type": 5}) == []


async def test_channel_message_and_thread_routes(emu: DiscordEmulator) -> None:
    async with running_bot(emu, all_intents()) as (bot, _):
        channel = bot.get_channel(emu.general.id)
        assert isinstance(channel, discord.TextChannel)
        async with channel.typing():
            sent = await channel.send(
                f"hi {emu.member.mention} and @everyone",
                allowed_mentions=discord.AllowedMentions(everyone=False, users=True, roles=False),
            )
        pinged = emu.message(sent.id)
        assert [user.id for user in pinged.mentions] == [emu.member.id] and not pinged.mention_everyone
        await sent.edit(content="edited")
        await sent.add_reaction("\N{THUMBS UP SIGN}")
        history = [message.id async for message in channel.history(limit=10)]
        thread = await sent.create_thread(name="from a message")
        await thread.add_user(discord.Object(emu.member.id))
        fetched = await bot.fetch_channel(thread.id)
        guild = await bot.fetch_guild(emu.guild.id)
        member = await guild.fetch_member(emu.admin.id)
        roles = await guild.fetch_roles()
        cached = bot.get_guild(emu.guild.id)
        assert cached is not None
        queried = await cached.query_members("ali")
        await sent.delete()

    stored = emu.message(sent.id)
    assert stored.allowed_mentions == {"parse": ["users"], "replied_user": True}
    assert [edit.content for edit in stored.edits] == ["edited"]
    assert stored.deleted and stored.reactions == [("\N{THUMBS UP SIGN}", emu.bot_user.id)]
    assert history == [sent.id] and len(emu.typing) == 1
    assert (thread.id, thread.type) == (sent.id, discord.ChannelType.public_thread)
    assert isinstance(fetched, discord.Thread) and fetched.parent_id == emu.general.id
    assert emu.threads[0].member_ids == {emu.bot_user.id, emu.member.id}
    assert member.guild_permissions.administrator and guild.owner_id == emu.owner.id
    assert [m.id for m in queried] == [emu.admin.id]
    assert {role.name for role in roles} >= {"@everyone", "Admin", "Server Manager"}
    assert emu.violations == [] and emu.unknown_routes == []
