"""The text members read, written in one place: this package.

- ``conversation``: threads and follow-ups, attachments, the progress
  message and the answer, cancelling, command refusals;
- ``runs``: one icon per run status, /runs and /run;
- ``failures``: a failed run as one line a member can act on;
- ``budget``: budget refusals, limits, usage and top spenders.

Values come in as plain data (names, ids, mentions already made, the store's
``Refusal`` and ``Limits``); the sentences are written here. A limit's own
name, unit and noun are the budget vocabulary's (``bot/store/limits.py``).
Fitting text into Discord messages is mechanics, not wording
(``bot/splitting.py``); slash commands' names and descriptions are declared
with the commands, in ``cogs/``. Nothing here imports discord.
"""
