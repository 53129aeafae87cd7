"""The one owner of conversations in agent threads.

It starts a conversation (/ask, a mention of the bot), continues it (a
member's message in the thread) and catches up after downtime (runs a dead
process left, resumed or reported cut off, and messages posted while the
bot was down). It holds the
rules: who may continue a thread, which agent runs, and that each message is
taken up once. Every run goes one way: pick the agent, read the images, open
the thread, register it, ask the thread runner, which answers in the thread.

Cogs parse and check, then hand over here; they hold no conversation rules.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import discord

from bot.agents import AgentDefinition
from bot.discord_host.attachments import ReadImages, read_images
from bot.discord_host.channel_agents import bound_agent
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import interaction_is_admin, member_is_admin, member_roles
from bot.discord_host.progress import announce_interrupted
from bot.discord_host.thread_runner import ThreadRunner
from bot.discord_host.turns import member_turn
from bot.messages.conversation import (
    ALREADY_AN_AGENT_THREAD,
    EMPTY_MENTION,
    NO_THREADS,
    agent_gone,
    agent_not_allowed,
    answering_in,
    asked_by,
    only_the_starter,
    thread_title,
    to_member,
    unknown_agent,
)
from bot.run_service import RunRequest
from bot.services import Services
from bot.splitting import quoted
from bot.store import AgentThread, ResumableRun
from bot.store.scopes import PERSONAL_SCOPE

log = logging.getLogger(__name__)

#: At start-up, agent threads active this recently are checked for messages
#: posted while the bot was down, at most CATCH_UP_LIMIT per thread.
CATCH_UP_WINDOW = timedelta(days=1)
CATCH_UP_LIMIT = 20
#: Threads archive after a day without messages; a follow-up reopens them.
ARCHIVE_MINUTES: Literal[1440] = 1440


@dataclass(frozen=True, slots=True)
class Opening:
    """A new conversation, as /ask or a mention brings it. The two differ in
    where a refusal goes (``reply``), how their thread is made
    (``open_thread``, given its title) and whether the prompt still has to be
    shown in it (``quote_prompt``: a slash command's prompt is in no message)."""

    member: discord.abc.User
    is_admin: bool
    prompt: str
    attachments: Sequence[discord.Attachment]
    agent: str | None
    reply: Callable[[str], Awaitable[Any]]
    open_thread: Callable[[str], Awaitable[discord.Thread]]
    quote_prompt: bool = False
    #: Bytes a message may upload, when the interaction said so.
    upload_limit: int | None = None
    #: The conversation takes over a thread that was there before (a forum
    #: post, a member's thread): what was said in it until now, ``message_id``
    #: (a mention) included, is no prompt to catch up on after a restart.
    in_place: bool = False
    message_id: int | None = None


class ThreadConversations:
    def __init__(self, client: discord.Client, services: Services, runner: ThreadRunner) -> None:
        self._client = client
        self._services = services
        self._threads = services.store.threads
        self._runner = runner
        #: Runs resumed after a restart, while they go (a task needs an owner).
        self._resumed: set[asyncio.Task[object]] = set()

    # -- starting -------------------------------------------------------------

    async def ask(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel | discord.Thread,
        prompt: str,
        agent: str | None,
        image: discord.Attachment | None,
    ) -> None:
        """/ask, deferred: a new thread in ``channel`` answers ``prompt``; in a
        thread or forum post that is no agent thread yet, that thread does.
        Without ``agent``, the one bound to the channel runs, else the default."""
        in_place = isinstance(channel, discord.Thread)
        if in_place and await self._threads.get(str(channel.id)) is not None:
            await interaction.followup.send(ALREADY_AN_AGENT_THREAD)
            return
        await self._start(
            Opening(
                member=interaction.user,
                is_admin=interaction_is_admin(interaction),
                prompt=prompt,
                attachments=[image] if image else [],
                agent=agent or await bound_agent(self._services.store.channel_agents, channel),
                reply=lambda text: interaction.followup.send(text, allowed_mentions=NO_PINGS),
                open_thread=lambda title: (
                    _same(channel)
                    if isinstance(channel, discord.Thread)
                    else channel.create_thread(
                        name=title, type=discord.ChannelType.public_thread, auto_archive_duration=ARCHIVE_MINUTES
                    )
                ),
                quote_prompt=True,
                upload_limit=interaction.filesize_limit,
                in_place=in_place,
            )
        )

    async def take(self, message: discord.Message) -> None:
        """A message the bot sees: a follow-up in an agent thread, or a mention
        of the bot in a text channel (a new thread answers) or in another
        thread or forum post (that thread answers), which starts a conversation."""
        if not is_prompt(message):
            return
        channel = message.channel
        if isinstance(channel, discord.Thread):
            record = await self._threads.get(str(channel.id))
            if record is not None:
                await self._follow_up(message, channel, record)
                return
        me = self._client.user
        if me is not None and me in message.mentions and isinstance(channel, discord.TextChannel | discord.Thread):
            await self._mention(message, channel)

    async def _mention(self, message: discord.Message, channel: discord.TextChannel | discord.Thread) -> None:
        prompt = strip_mentions(message.content, self._client.user.id if self._client.user else 0)
        if not prompt and not message.attachments:
            await reply_to(message, EMPTY_MENTION)
            return
        await self._start(
            Opening(
                member=message.author,
                is_admin=member_is_admin(message.author, channel),
                prompt=prompt,
                attachments=message.attachments,
                agent=await bound_agent(self._services.store.channel_agents, channel),
                reply=lambda text: reply_to(message, text),
                open_thread=lambda title: (
                    _same(channel)
                    if isinstance(channel, discord.Thread)
                    else message.create_thread(name=title, auto_archive_duration=ARCHIVE_MINUTES)
                ),
                in_place=isinstance(channel, discord.Thread),
                message_id=message.id,
            )
        )

    async def _start(self, opening: Opening) -> None:
        agent = self.pick_agent(opening.agent, opening.member, opening.is_admin)
        if isinstance(agent, str):
            await opening.reply(agent)
            return
        images = await read_images(opening.attachments)
        try:
            thread = await opening.open_thread(thread_title(opening.prompt))
        except discord.Forbidden:
            await opening.reply(NO_THREADS)
            return
        await self._threads.set(
            AgentThread(
                thread_id=str(thread.id),
                guild_id=str(thread.guild.id),
                channel_id=str(thread.parent_id),
                agent_id=agent.id,
                starter_id=str(opening.member.id),
            )
        )
        newest = opening.message_id
        if opening.quote_prompt:
            await opening.reply(answering_in(agent.name, thread.mention))
            # The quote may take several messages: /ask takes twice what one holds.
            for part in quoted(asked_by(opening.member.display_name), opening.prompt):
                newest = (await thread.send(part, allowed_mentions=NO_PINGS)).id
        if opening.in_place and newest is not None:
            await self._threads.mark_handled(str(thread.id), newest)
        await self._converse(thread, agent, opening.member, opening.prompt, opening.attachments, images, opening.upload_limit)

    def pick_agent(self, requested: str | None, member: discord.abc.User, is_admin: bool) -> AgentDefinition | str:
        """The agent to run for ``member``, or the refusal to show them."""
        loaded, roles = self._services.agents, member_roles(member)
        name = requested or self._services.settings.default_agent
        agent = loaded.agents.get(name)
        if agent is None:
            return unknown_agent(name, (a.id for a in loaded.available_to(roles, is_admin)))
        if not agent.may_run(roles, is_admin):
            return agent_not_allowed(agent.id)
        return agent

    # -- continuing -------------------------------------------------------------

    async def _follow_up(self, message: discord.Message, thread: discord.Thread, record: AgentThread) -> None:
        # Claimed first: a message is taken up once, answered or refused, by
        # one caller of any process sharing this database (and bot token).
        # The claim is one transaction, so it also settles a message that
        # arrives live and through the start-up catch-up in this process.
        if not await self._threads.mark_handled(record.thread_id, message.id):
            return
        author = message.author
        if str(author.id) != record.starter_id and not record.open_to_all and not member_is_admin(author, thread):
            await reply_to(message, only_the_starter(record.starter_id))
            return
        agent = self._services.agents.agents.get(record.agent_id)
        if agent is None:
            await reply_to(message, agent_gone(record.agent_id))
            return
        images = await read_images(message.attachments)
        prompt = strip_mentions(message.content, self._client.user.id if self._client.user else 0)
        await self._converse(thread, agent, author, prompt, message.attachments, images, None)

    async def set_open(self, thread_id: int | None, open_to_all: bool) -> bool:
        """Let everyone continue an agent thread, or only its starter again;
        False when it is not an agent thread."""
        return await self._threads.set_open_to_all(str(thread_id), open_to_all)

    async def _converse(
        self,
        thread: discord.Thread,
        agent: AgentDefinition,
        member: discord.abc.User,
        prompt: str,
        attachments: Sequence[discord.Attachment],
        images: ReadImages,
        upload_limit: int | None,
    ) -> None:
        request = await member_turn(thread, agent, member, str(thread.guild.id), prompt, attachments, images)
        await self._runner.run(thread, request, upload_limit)

    # -- catching up ---------------------------------------------------------------

    async def catch_up(self) -> None:
        """Once per process, when connected: resume the runs this process took
        over from a dead one (durable runs), tell the threads of runs a dead
        process cut off, and take up the messages posted in recently active
        agent threads while the bot was down (Discord does not replay them).
        Threads are caught up side by side, each one's messages in order,
        after the run resumed in it; only those of guilds this process's
        shards own (another shard process catches up the rest: REST would
        reach them from here too)."""
        try:
            await self._resume_runs()
        except Exception:  # what is not resumed is still this process's: the next start takes it up
            log.exception("resuming runs after a restart failed")
        since = datetime.now(UTC) - CATCH_UP_WINDOW
        shards = self._services.settings.shards()
        jobs: list[Awaitable[object]] = [announce_interrupted(self._client, self._services.store.runs)]
        # DM conversations are DirectConversations' to catch up.
        threads = [
            record
            for record in await self._threads.active_since(since)
            if record.guild_id != PERSONAL_SCOPE and shards.owns(record.guild_id)
        ]
        jobs += [self._catch_up(record) for record in threads]
        for outcome in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(outcome, Exception):  # best effort: what is not claimed yet waits for the next start
                log.error("catching up after downtime failed", exc_info=outcome)

    async def _resume_runs(self) -> None:
        """Resume each run taken over at start in its thread; one whose agent
        or thread is gone is interrupted instead (and its thread told)."""
        runs = self._services.store.runs
        for run in await runs.resumable(self._services.store.recovery.resumed):
            if not await self._resume(run):
                await runs.interrupt(run.run_id)
        # Each resumed run takes its thread's turn now, before a follow-up caught up below.
        await asyncio.sleep(0)

    async def _resume(self, run: ResumableRun) -> bool:
        asked = run.request
        agent = self._services.agents.agents.get(asked.agent_id)
        try:
            thread = self._client.get_channel(int(asked.thread_id)) or await self._client.fetch_channel(
                int(asked.thread_id)
            )
        except (discord.HTTPException, ValueError) as exc:
            log.warning("run %s cannot be resumed: its thread %s is gone (%s)", run.run_id, asked.thread_id, exc)
            return False
        conversation = thread if isinstance(thread, discord.Thread | discord.DMChannel) else None
        if agent is None or conversation is None or not run.progress_message_id.isdigit():
            log.warning("run %s cannot be resumed: its agent %r or its thread is gone", run.run_id, asked.agent_id)
            return False
        request = RunRequest(
            agent=agent.runnable(),
            caller_id=asked.caller_id,
            caller_roles=asked.caller_roles,
            guild_id=asked.guild_id,
            thread_id=asked.thread_id,
            prompt=asked.prompt,
            run_id=run.run_id,
            images=asked.images,
            attachments=asked.attachments,
            session_tools=asked.session_tools,
            stream=agent.stream,
            cheaper_tier=agent.cheaper_tier,
        )
        log.info("resuming run %s in thread %s after a restart", run.run_id, asked.thread_id)
        task = asyncio.create_task(
            self._runner.resume(conversation, request, int(run.progress_message_id), run.record, run.drafts),
            name=f"resume {run.run_id}",
        )
        self._resumed.add(task)
        task.add_done_callback(self._resumed.discard)
        return True

    async def _catch_up(self, record: AgentThread) -> None:
        try:
            thread = self._client.get_channel(int(record.thread_id)) or await self._client.fetch_channel(
                int(record.thread_id)
            )
        except discord.HTTPException as exc:
            log.info("catch-up: thread %s is gone (%s)", record.thread_id, exc.status)
            return
        if not isinstance(thread, discord.Thread):
            return
        after = discord.Object(record.last_message_id) if record.last_message_id else None
        missed = [m async for m in thread.history(after=after, oldest_first=True, limit=CATCH_UP_LIMIT) if is_prompt(m)]
        if missed:
            log.info("catch-up: %d message(s) posted in thread %s while the bot was down", len(missed), thread.id)
        for message in missed:
            await self._follow_up(message, thread, record)


async def _same(thread: discord.Thread) -> discord.Thread:
    """A thread that answers where it is (an Opening's ``open_thread``)."""
    return thread


def is_prompt(message: discord.Message) -> bool:
    """A member's ordinary message in a server (not the bot's, not a system message)."""
    return (
        not message.author.bot
        and message.guild is not None
        and message.type in (discord.MessageType.default, discord.MessageType.reply)
    )


async def reply_to(message: discord.Message, text: str) -> None:
    """Answer a member's message in its channel, naming them without a ping.
    (Not a reply: discord.py sends message_reference ids as integers, which
    Discord's published schema does not allow.)"""
    await message.channel.send(to_member(message.author.mention, text), allowed_mentions=NO_PINGS)


def strip_mentions(content: str, bot_id: int) -> str:
    """The prompt without the bot's own mention."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()
