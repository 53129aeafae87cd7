"""``view_image``: put an image from the web or from the member's message in
front of the model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from executor.llm.types import Image
from executor.tools.base import Tool
from executor.tools.builtin.errors import ToolError, reports_errors
from executor.tools.builtin.safefetch import SafeFetcher
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.invocation import AttachedFile, Invocation

#: Below every provider's per-image limit (the smallest is 5 MB), so an
#: attached image cannot make the next model call fail.
MAX_IMAGE_BYTES = 5_000_000
IMAGE_TIMEOUT = 20.0

DESCRIPTION = (
    "Look at an image. Give either the public http(s) URL of a PNG, JPEG, GIF or WebP image, "
    "or `attachment`: the file name (or position, 1 for the first) of an image the member attached "
    "to their message. The image is added to the conversation and you see it on your next turn."
)


class ViewImageArgs(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    url: str = Field("", description="The image's http(s) URL. Leave empty when using attachment.")
    attachment: str = Field(
        "", description="File name or position (1, 2, ...) of an image the member attached. Leave empty for url."
    )


class NotAnImage(ValueError):
    """Bytes a model cannot be shown; the message says why, after the file's name."""


def size_problem(size: int) -> str | None:
    """Why an image of ``size`` bytes cannot be sent, or None when it can.
    Apart from ``checked_image`` so a host can refuse a file before downloading it."""
    if size == 0:
        return "is empty"
    if size > MAX_IMAGE_BYTES:
        return f"is {size / 1_000_000:.1f} MB; images can be at most {MAX_IMAGE_BYTES // 1_000_000} MB"
    return None


def checked_image(data: bytes, source: str = "") -> Image:
    """``data`` as an Image a model accepts: not empty, at most MAX_IMAGE_BYTES,
    and PNG, JPEG, GIF or WebP by its magic bytes (a file's name and declared
    type are not trusted). The one check for members' attachments and view_image.

    Raises NotAnImage saying why not.
    """
    problem = size_problem(len(data))
    if problem is not None:
        raise NotAnImage(problem)
    media_type = image_type(data)
    if media_type is None:
        raise NotAnImage("is not a PNG, JPEG, GIF or WebP image")
    return Image(data, media_type, source)


def image_type(data: bytes) -> str | None:
    """The media type from the file's magic bytes, or None if not a supported image.
    The server's Content-Type is not trusted: it is often wrong."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def view_image_tool(fetcher: SafeFetcher) -> Tool:
    @reports_errors
    async def view_image(invocation: Invocation, args: dict[str, Any]) -> str:
        a = parse_args(ViewImageArgs, args)
        if bool(a.url) == bool(a.attachment):
            raise ToolError("give exactly one of url or attachment")
        if invocation.attach_images is None:
            raise ToolError("this run cannot show you images")
        label, url = (a.url, a.url) if a.url else _attachment(invocation, a.attachment)
        page = await fetcher.get(url, max_bytes=MAX_IMAGE_BYTES, timeout=IMAGE_TIMEOUT, accept="image/*")
        if not page.ok:
            raise ToolError(f"{label} answered HTTP {page.status} {page.reason}")
        try:
            image = checked_image(page.data, source=url)
        except NotAnImage as exc:
            raise ToolError(f"{label} {exc} (the server sent {page.media_type or 'unknown content'})") from None
        invocation.attach_images([image], f"The image you asked for with view_image: {label}")
        return f"Attached {label} ({image.media_type}, {len(page.data):,} bytes); you will see it on your next turn."

    return Tool("view_image", DESCRIPTION, view_image, tool_schema(ViewImageArgs), timeout=IMAGE_TIMEOUT + 5)


def _attachment(invocation: Invocation, ref: str) -> tuple[str, str]:
    """(label, url) of the member's attachment (``invocation.attachments``)
    named or numbered ``ref``."""
    listed = [a for a in invocation.attachments if a.url]
    if not listed:
        raise ToolError("the member attached no files to this message")
    found: AttachedFile | None
    if ref.isdigit() and 1 <= int(ref) <= len(listed):
        found = listed[int(ref) - 1]
    else:
        found = next((a for a in listed if a.name.casefold() == ref.casefold()), None)
    if found is None:
        names = ", ".join(f"{i}: {a.name or '(unnamed)'}" for i, a in enumerate(listed, 1))
        raise ToolError(f"no attachment {ref!r}; the member attached {names}")
    return f"the attachment {found.name or ref}", found.url
