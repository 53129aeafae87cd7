"""view_image: fetches under the same network rules, checks the bytes really
are an image, and attaches it to the running conversation."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from executor.llm.types import Image
from executor.tools.base import Tool, ToolResult
from executor.tools.builtin import NetPolicy, builtin_tools
from executor.tools.builtin.images import MAX_IMAGE_BYTES, image_type
from executor.tools.invocation import AttachedFile, Invocation

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
LOOPBACK = NetPolicy(allow_loopback=True)


class Attached:
    """Stands in for the executor's attach seam."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Image], str]] = []

    def __call__(self, images: Sequence[Image], note: str) -> None:
        self.calls.append((list(images), note))


def view_image(policy: NetPolicy | None = None) -> Tool:
    return next(t for t in builtin_tools(policy) if t.name == "view_image")


async def call(tool: Tool, invocation: Invocation, **args: Any) -> ToolResult:
    out = await tool.handler(invocation, dict(args))
    return ToolResult(out) if isinstance(out, str) else out


def invocation(attached: Attached | None, attachments: Sequence[AttachedFile] = ()) -> Invocation:
    return Invocation(caller_id="member", attach_images=attached, attachments=tuple(attachments))


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def png(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def mislabelled(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="application/octet-stream")

    async def html_as_png(_: web.Request) -> web.Response:
        return web.Response(body=b"<html>not an image</html>", content_type="image/png")

    async def empty(_: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="image/png")

    async def huge(_: web.Request) -> web.Response:
        return web.Response(body=PNG + b"\0" * MAX_IMAGE_BYTES, content_type="image/png")

    async def to_private(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.1/cat.png")

    async def to_metadata(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def gone(_: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    app = web.Application()
    for path, handler in {
        "/gone.png": gone,
        "/cat.png": png,
        "/mislabelled": mislabelled,
        "/fake.png": html_as_png,
        "/huge.png": huge,
        "/empty.png": empty,
        "/to-private": to_private,
        "/to-metadata": to_metadata,
    }.items():
        app.router.add_get(path, handler)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def test_attaches_the_image_bytes_with_their_media_type(server: TestServer) -> None:
    attached = Attached()
    image_url = str(server.make_url("/cat.png"))
    result = await call(view_image(LOOPBACK), invocation(attached), url=image_url)
    assert not result.is_error, result.content
    assert "Attached" in result.content and "image/png" in result.content
    [(images, note)] = attached.calls
    assert images == [Image(PNG, "image/png", source=image_url)]
    assert image_url in note


async def test_media_type_comes_from_the_bytes_not_the_header(server: TestServer) -> None:
    attached = Attached()
    result = await call(view_image(LOOPBACK), invocation(attached), url=str(server.make_url("/mislabelled")))
    assert not result.is_error
    assert attached.calls[0][0][0].media_type == "image/png"


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("/fake.png", "is not a PNG, JPEG, GIF or WebP image (the server sent image/png)"),
        ("/empty.png", "is empty (the server sent image/png)"),
        ("/huge.png", "larger than the 5 MB limit"),
        ("/gone.png", "answered HTTP 404 Not Found"),
    ],
)
async def test_non_images_and_oversized_images_are_refused(server: TestServer, path: str, complaint: str) -> None:
    attached = Attached()
    result = await call(view_image(LOOPBACK), invocation(attached), url=str(server.make_url(path)))
    assert result.is_error
    assert complaint in result.content
    assert attached.calls == []


async def test_default_policy_refuses_the_loopback_server(server: TestServer) -> None:
    attached = Attached()
    result = await call(view_image(), invocation(attached), url=str(server.make_url("/cat.png")))
    assert result.is_error and "loopback" in result.content
    assert attached.calls == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/cat.png",
        "http://[::1]/cat.png",
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://cats.example/cat.png",
    ],
)
async def test_forbidden_addresses_are_refused(target: str) -> None:
    async def to_private(host: str, port: int) -> list[str]:
        return ["192.168.0.7"]

    attached = Attached()
    result = await call(view_image(NetPolicy(resolver=to_private)), invocation(attached), url=target)
    assert result.is_error and result.content.startswith("error: refused to fetch")
    assert attached.calls == []


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata"])
async def test_redirects_to_forbidden_addresses_are_refused(server: TestServer, path: str) -> None:
    attached = Attached()
    result = await call(view_image(LOOPBACK), invocation(attached), url=str(server.make_url(path)))
    assert result.is_error and "refused to fetch" in result.content
    assert attached.calls == []


async def test_member_attachment_by_name_and_by_position(server: TestServer) -> None:
    attachments = [
        AttachedFile("notes.txt", str(server.make_url("/fake.png")), "text/plain", 120),
        AttachedFile("Cat.PNG", str(server.make_url("/cat.png")), "image/png", len(PNG)),
    ]
    for ref in ("cat.png", "2"):
        attached = Attached()
        result = await call(view_image(LOOPBACK), invocation(attached, attachments), attachment=ref)
        assert not result.is_error, result.content
        assert "Cat.PNG" in result.content
        assert attached.calls[0][0][0].data == PNG


async def test_unknown_attachment_lists_what_there_is() -> None:
    attachments = [AttachedFile("a.png", "https://cdn.example/a.png", "image/png")]
    result = await call(view_image(), invocation(Attached(), attachments), attachment="b.png")
    assert result.is_error and "1: a.png" in result.content
    none = await call(view_image(), invocation(Attached(), []), attachment="1")
    assert none.is_error and "no files" in none.content


@pytest.mark.parametrize("args", [{}, {"url": "https://a.example/x.png", "attachment": "1"}])
async def test_exactly_one_source_is_required(args: dict[str, str]) -> None:
    result = await call(view_image(), invocation(Attached()), **args)
    assert result.is_error and "exactly one of url or attachment" in result.content


async def test_without_the_attach_seam_the_tool_says_so() -> None:
    result = await call(view_image(), invocation(None), url="https://a.example/x.png")
    assert result.is_error and "cannot show you images" in result.content


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\0\x01\0", "image/gif"),
        (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\0\0\0WAVEfmt ", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_image_type_by_magic_bytes(data: bytes, media_type: str | None) -> None:
    assert image_type(data) == media_type
