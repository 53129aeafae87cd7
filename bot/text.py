"""Splitting model output into Discord messages.

Discord caps a message at 2,000 characters. Output is cut on paragraph, then
line boundaries; a cut inside a fenced code block closes the fence at the end
of one message and reopens it (with its language) at the start of the next,
so every message renders as the model meant.
"""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000
_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")


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
    fence = ""  # the opening fence line while inside a code block
    reserve = 8  # room for the closing fence a cut may need

    def flush(reopen: bool) -> None:
        nonlocal current, size
        body = "\n".join(current)
        if fence and reopen:
            body += "\n```"
        if body.strip():
            chunks.append(body)
        current = [fence] if fence and reopen else []
        size = len(fence) + 1 if current else 0

    lines = text.split("\n")
    for line in lines:
        for piece in _hard_wrap(line, limit - reserve - len(fence) - 2):
            if size + len(piece) + 1 > limit - reserve:
                cut = _paragraph_cut(current) if not fence else None
                if cut is not None:
                    tail = current[cut:]
                    current = current[:cut]
                    flush(reopen=False)
                    current, size = tail, sum(len(x) + 1 for x in tail)
                else:
                    flush(reopen=True)
            current.append(piece)
            size += len(piece) + 1
        m = _FENCE.match(line)
        if m:
            fence = "" if fence else line.strip()
    flush(reopen=False)
    return chunks


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


def thread_name(prompt: str, limit: int = 90) -> str:
    """A thread title from the prompt: first line, trimmed, never empty."""
    first = " ".join(prompt.strip().split("\n", 1)[0].split())
    if not first:
        return "Agent run"
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
