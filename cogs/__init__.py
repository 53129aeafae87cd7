"""discord.py cogs: parse, check permissions, hand off, render.

``ask`` hands conversations to ``bot/discord_host/conversations.py``; ``runs``
and ``budget`` call the run service and the store. The rules live in
``bot/``, the words in ``bot/messages/``.
"""
