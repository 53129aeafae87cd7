"""Fitting text into Discord messages: splitting model output, fitting and
quoting the bot's own. Mechanics only; the wording is ``bot/messages/``.

Discord caps a message at 2,000 characters. Output is cut on paragraph, then
line boundaries; a cut inside a fenced code block closes the fence (with the
same marker it was opened with, ``` or ~~~ of any length) at the end of one
message and reopens it (with its language) at the start of the next, so every
message renders as the model meant.
"""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
#: A reopened fence keeps at most this much of its opening line (marker and language).
_REOPEN_MAX = 40


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters.

    Never returns an empty list for non-blank text; blank text gives [].
    """
    if not text.strip():
        return []
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    opening = ""  # inside a code block: the line that reopens it in the next message
    closing = ""  # inside a code block: the marker that closes it

    def flush(reopen: bool) -> None:
        nonlocal current, size
        body = "\n".join(current)
        if closing and reopen:
            body += "\n" + closing
        if body.strip():
            chunks.append(body)
        current = [opening] if closing and reopen else []
        size = len(opening) + 1 if current else 0

    for line in text.split("\n"):
        fence = _FENCE.match(line)
        # Room for the closing marker a cut may need, inside this block or the one this line opens.
        reserve = len(closing or (fence.group(1) if fence else "")) + 1
        for piece in _hard_wrap(line, limit - reserve - len(opening) - 2):
            if size + len(piece) + 1 > limit - reserve:
                cut = _paragraph_cut(current) if not closing else None
                if cut is not None:
                    tail = current[cut:]
                    current = current[:cut]
                    flush(reopen=False)
                    current, size = tail, sum(len(x) + 1 for x in tail)
                else:
                    flush(reopen=True)
            current.append(piece)
            size += len(piece) + 1
        opening, closing = _track_fence(line, opening, closing)
    flush(reopen=False)
    return chunks


def split_unfinished(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """``text`` that is still being written (a streamed answer), split as
    :func:`split_message` splits it, with a code block still open at its end
    closed, so the growing message renders as the model means it. The close
    is only for show: when it does not fit, the end of the last chunk gives
    way to it, and the whole text comes once it is written."""
    chunks = split_message(text, limit)
    opening = closing = ""
    for line in chunks[-1].split("\n") if chunks else ():
        opening, closing = _track_fence(line, opening, closing)
    if closing:
        chunks[-1] = chunks[-1][: limit - len(closing) - 1] + "\n" + closing
    return chunks


def _track_fence(line: str, opening: str, closing: str) -> tuple[str, str]:
    """The code block state after ``line``: ``opening`` is the line that
    reopens the block, ``closing`` the marker that closes it; both empty
    outside a block."""
    fence = _FENCE.match(line)
    if fence is None:
        return opening, closing
    marker, rest = fence.groups()
    if not closing:
        return line.strip()[:_REOPEN_MAX], marker
    if _closes(marker, rest, closing):
        return "", ""
    return opening, closing


def _closes(marker: str, rest: str, closing: str) -> bool:
    """Whether a fence line ends the block opened with ``closing`` (CommonMark:
    the same character, at least as many of it, nothing after it)."""
    return marker[0] == closing[0] and len(marker) >= len(closing) and not rest.strip()


def _paragraph_cut(lines: list[str]) -> int | None:
    """Index after the last blank line in the second half of ``lines``, if
    any: prefer ending a message at a paragraph break. Only used outside
    code blocks; a break inside one would need the fence logic."""
    for i in range(len(lines) - 1, len(lines) // 2, -1):
        if not lines[i].strip() and not any(_FENCE.match(x) for x in lines[i:]):
            return i + 1
    return None


def _hard_wrap(line: str, width: int) -> list[str]:
    """A single line longer than a message is cut at spaces, else anywhere."""
    width = max(width, 1)
    if len(line) <= width:
        return [line]
    out: list[str] = []
    while len(line) > width:
        at = line.rfind(" ", width // 2, width)
        at = at if at > 0 else width
        out.append(line[:at])
        line = line[at:].lstrip(" ")
    out.append(line)
    return out


def fit(text: str, limit: int = DISCORD_LIMIT) -> str:
    """``text`` cut to one message, marked with … where it was cut. For the
    bot's own short messages, which can quote what a member typed."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted(header: str, text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """``header`` and then ``text`` as a block quote, in as many messages as it
    takes (each one opens its own quote): a member's prompt may be twice
    what one message holds."""
    quote = ">>> "
    chunks = split_message(text, limit - len(header) - 1 - len(quote))
    if not chunks:
        return [header]
    return [f"{header}\n{quote}{chunks[0]}", *(quote + c for c in chunks[1:])]
