"""Members' image attachments: checked, read and turned into model images."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from executor.llm.types import Image

#: Larger images cost a lot of tokens for little gain and may exceed provider limits.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class AttachmentError(ValueError):
    """An attachment the bot cannot pass on; the message says what to do."""


def describe(attachments: Sequence[discord.Attachment]) -> list[dict[str, str]]:
    """Attachment references for the view_image tool (filename, url, type)."""
    return [{"filename": a.filename, "url": a.url, "content_type": a.content_type or ""} for a in attachments]


async def read_images(attachments: Sequence[discord.Attachment]) -> list[Image]:
    """The image attachments as Images; other files are left for tools.

    Raises AttachmentError for an image that is too large or unreadable.
    """
    images: list[Image] = []
    for a in attachments:
        media_type = (a.content_type or "").split(";")[0].strip()
        if media_type not in IMAGE_TYPES:
            continue
        if a.size > MAX_IMAGE_BYTES:
            raise AttachmentError(
                f"`{a.filename}` is {a.size / 1_048_576:.1f} MiB; images can be at most "
                f"{MAX_IMAGE_BYTES // 1_048_576} MiB. Send a smaller one."
            )
        try:
            data = await a.read()
        except discord.HTTPException as exc:
            raise AttachmentError(f"could not download `{a.filename}` ({exc.status}); try attaching it again") from exc
        images.append(Image(data, media_type, a.url))
    return images
