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

from bot.messages.conversation import download_failed, file_refused
from executor.llm import Image
from executor.tools import AttachedFile
from executor.tools.builtin import NotAnImage, checked_image, size_problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


@dataclass(slots=True)
class ReadImages:
    """The images to send to the model, and a line for each one refused."""

    images: list[Image] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


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
        problem = size_problem(a.size)  # before downloading: a 500 MB file is refused unread
        if problem is not None:
            out.refused.append(file_refused(a.filename, problem))
            continue
        try:
            data = await a.read()
        except discord.HTTPException as exc:
            out.refused.append(file_refused(a.filename, download_failed(exc.status)))
            continue
        try:
            out.images.append(checked_image(data, a.url))
        except NotAnImage as exc:
            out.refused.append(file_refused(a.filename, str(exc)))
    return out
