"""Splitting and fitting text into Discord messages (bot/splitting.py)."""

from __future__ import annotations

import pytest

from bot.splitting import DISCORD_LIMIT, fit, quoted, split_message, split_unfinished


def code_block(opening: str, closing: str, lines: int) -> str:
    body = "\n".join(f"line {i:04d} = {i} * 2  # padding padding" for i in range(lines))
    return f"Intro.\n\n{opening}\n{body}\n{closing}\n\nOutro."


@pytest.mark.parametrize(("opening", "closing"), [("```python", "```"), ("~~~python", "~~~"), ("````md", "````")])
def test_a_split_code_block_is_closed_and_reopened_with_its_own_fence(opening: str, closing: str) -> None:
    chunks = split_message(code_block(opening, closing, 200))
    assert len(chunks) >= 3 and all(len(c) <= DISCORD_LIMIT for c in chunks)
    for chunk in chunks[:-1]:
        assert chunk.endswith("\n" + closing)  # closed with the marker it was opened with
    for chunk in chunks[1:]:
        assert chunk.startswith(opening + "\n")
    fences = {"```", "~~~"} - {closing[:3]}
    assert not any(f in c for c in chunks for f in fences)  # no other kind of fence made up


def test_a_shorter_fence_inside_a_longer_one_is_content() -> None:
    """CommonMark: ```` is closed only by ```` (or longer); a ``` line inside is text."""
    inner = "\n".join(["```python", *(f"print({i})  # an example shown inside markdown" for i in range(60)), "```"])
    text = "````md\n" + "\n".join([inner] * 3) + "\n````\nafter"
    chunks = split_message(text, limit=1000)
    assert len(chunks) >= 3 and all(len(c) <= 1000 for c in chunks)
    for chunk in chunks[:-1]:
        assert chunk.endswith("\n````")
    for chunk in chunks[1:]:
        assert chunk.startswith("````md\n")


def test_long_fence_markers_still_fit() -> None:
    text = "~~~~~~~~~~~~\n" + "\n".join("x" * 90 for _ in range(100)) + "\n~~~~~~~~~~~~"
    chunks = split_message(text, limit=500)
    assert all(len(c) <= 500 for c in chunks) and all(c.rstrip().endswith("~~~~~~~~~~~~") for c in chunks)


def test_fit_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert fit("short") == "short"
    cut = fit("word " * 1000)
    assert len(cut) <= DISCORD_LIMIT and cut.endswith("word…")


def test_quoted_starts_a_quote_in_every_message_and_keeps_every_word() -> None:
    text = " ".join(f"w{i}" for i in range(900))
    parts = quoted("**Ann** asked:", text)
    assert len(parts) >= 2 and all(len(p) <= DISCORD_LIMIT for p in parts)
    assert parts[0].startswith("**Ann** asked:\n>>> ") and all(p.startswith(">>> ") for p in parts[1:])
    assert " ".join(p.split(">>> ", 1)[1] for p in parts).split() == text.split()
    assert quoted("**Ann** asked:", "hi") == ["**Ann** asked:\n>>> hi"]


def test_text_still_being_written_shows_its_open_code_block_closed() -> None:
    whole = code_block("~~~python", "~~~", 80)
    partial = whole[: whole.index("line 0070")]  # the block is still open here
    chunks = split_unfinished(partial)
    assert len(chunks) == 2 and all(len(c) <= DISCORD_LIMIT for c in chunks)
    assert chunks[0] == split_message(partial)[0]  # cut as the final answer will be
    assert chunks[1].endswith("\n~~~") and chunks[1].startswith("~~~python\n")
    assert split_unfinished(whole) == split_message(whole)  # nothing open: nothing added
    full = split_unfinished("```\n" + "x" * (DISCORD_LIMIT - 6))
    assert len(full[0]) <= DISCORD_LIMIT and full[0].endswith("x\n```")  # the close fits, the text gives way
