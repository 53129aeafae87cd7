"""The Discord side of the host: every module of the bot that imports discord.

- ``app``: the composition root of ``python -m bot``;
- ``client``: the discord.py client, its command tree and its error handler;
- ``api``: pointing discord.py at DISCORD_API_BASE;
- ``conversations``: the one owner of agent-thread conversations (start,
  follow-up, catch-up after downtime);
- ``thread_runner``: one run in a thread, from the progress message to the
  delivered answer;
- ``progress``: the live progress message and its Cancel button;
- ``delivery``: the answer and its files, sent into the thread;
- ``attachments``: members' image attachments read for the model;
- ``permissions``: who is an admin;
- ``health``: the gateway's health check for ``/healthz``.

Everything else under ``bot/`` (services, run service, store, messages) needs
no Discord and is shared with the terminal console.
"""
