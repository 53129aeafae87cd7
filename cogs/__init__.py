"""discord.py cogs: parse, check permissions, hand off to bot/ services, render."""
