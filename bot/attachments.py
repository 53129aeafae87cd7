"""Members' image attachments: checked, read and turned into model images.

An attachment is meant as an image when Discord says its type is ``image/*``
or its name ends like one; those are checked by their bytes (the one check
``view_image`` uses too), and one that fails is named with its reason so the
member can see it, while the run goes on with the rest. Other files are left
to tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import discord

from bot.text import fit
from executor.llm import Image
from executor.tools import AttachedFile
from executor.tools.builtin import MAX_IMAGE_BYTES, NotAnImage, checked_image, size_problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
#: What members may attach, as the bot tells them.
IMAGES_ACCEPTED = f"PNG, JPEG, GIF or WebP images up to {MAX_IMAGE_BYTES // 1_000_000} MB"
#: File names are quoted in Discord messages; a long one is shortened there.
NAME_WIDTH = 80


@dataclass(slots=True)
class ReadImages:
    """The images to send to the model, and a line for each one refused."""

    images: list[Image] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def notice(self) -> str | None:
        """The message that tells the member which files the agent will not see, and why."""
        if not self.refused:
            return None
        lines = "\n".join(f"- {r}" for r in self.refused)
        return (
            f"⚠️ Not passed to the agent:\n{lines}\n"
            f"The agent takes {IMAGES_ACCEPTED}; it answers without these."
        )


def describe(attachments: Sequence[discord.Attachment]) -> tuple[AttachedFile, ...]:
    """The member's attachments as the run carries them (view_image reads them)."""
    return tuple(AttachedFile(a.filename, a.url, a.content_type or "", a.size) for a in attachments)


def meant_as_image(attachment: discord.Attachment) -> bool:
    media_type = (attachment.content_type or "").split(";")[0].strip().lower()
    return media_type.startswith("image/") or attachment.filename.lower().endswith(IMAGE_SUFFIXES)


async def read_images(attachments: Sequence[discord.Attachment]) -> ReadImages:
    """The image attachments as Images, and the ones refused with their reason.
    Never raises: a bad attachment must not stop the run."""
    out = ReadImages()
    for a in attachments:
        if not meant_as_image(a):
            continue
        name = f"`{fit(a.filename, NAME_WIDTH)}`"
        problem = size_problem(a.size)  # before downloading: a 500 MB file is refused unread
        if problem is not None:
            out.refused.append(f"{name} {problem}")
            continue
        try:
            data = await a.read()
        except discord.HTTPException as exc:
            out.refused.append(f"{name} could not be downloaded (HTTP {exc.status}); attach it again")
            continue
        try:
            out.images.append(checked_image(data, a.url))
        except NotAnImage as exc:
            out.refused.append(f"{name} {exc}")
    return out
