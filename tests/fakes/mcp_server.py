"""A real MCP server (the SDK's MCPServer, formerly FastMCP) to run as a process.

Tests start it the way an operator's server file would, so the whole path
is real: process spawn, the stdio or streamable HTTP transport, the SDK on
both sides. It imports nothing from the project, so it runs from any folder.

    python tests/fakes/mcp_server.py stdio
    python tests/fakes/mcp_server.py http [PORT]   # prints "PORT <n>" once listening on 127.0.0.1

In a test: ``StdioServer("fake", stdio_command())`` for a server the code
under test starts, and ``async with HttpMcpServer() as srv:`` (``srv.url``,
``await srv.kill()``, ``await srv.start()`` again on the same port) for one
the test runs.

Tools:

- ``echo(text)``: the text back. Its description is read at start-up from
  the file named by ``FAKE_MCP_DESCRIPTION_FILE`` when that is set, so a test
  can restart the server with a changed description (tool poisoning).
- ``environment()``: the names of the process's environment variables, as JSON.
- ``pid()``: the process id, so a test can kill it.
- ``hang()``: never answers.
- ``huge(size)``: ``size`` characters of text.
- ``fail()``: a tool error (``is_error`` result).
- ``crash()``: the process exits before answering.
- ``header(name)``: that header of the HTTP request that carried the call
  (empty over stdio).
- ``media()``: an image, an embedded text resource and a resource link.
- ``refuse()``: a JSON-RPC error instead of a result.
- ``dotted.name``: a tool whose name model APIs do not accept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import ContentBlock, EmbeddedResource, ImageContent, ResourceLink, TextResourceContents

DEFAULT_DESCRIPTION = "Echo the text back."
SCRIPT = Path(__file__).resolve()


def stdio_command() -> tuple[str, ...]:
    """The command line of this server over stdio."""
    return (sys.executable, str(SCRIPT), "stdio")


class HttpMcpServer:
    """This server over streamable HTTP, as a child process on 127.0.0.1
    (a random port, kept across ``kill``/``start``)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = 0
        self._env = env
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def start(self) -> None:
        """Start the process and return once it listens."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), "http", str(self.port), stdout=asyncio.subprocess.PIPE, env=self._env
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"the fake MCP server did not start: {line!r}")
        self.port = int(line.split()[1])

    async def kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def __aenter__(self) -> HttpMcpServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.kill()


def _echo_description() -> str:
    path = os.environ.get("FAKE_MCP_DESCRIPTION_FILE")
    if not path:
        return DEFAULT_DESCRIPTION
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def build() -> MCPServer:
    server = MCPServer("fake")

    @server.tool(description=_echo_description())
    def echo(text: str) -> str:
        return text

    @server.tool(description="The names of this server's environment variables.")
    def environment() -> str:
        return json.dumps(sorted(os.environ))

    @server.tool(description="This server's process id.")
    def pid() -> str:
        return str(os.getpid())

    @server.tool(description="Never answers.")
    async def hang() -> str:
        await anyio.sleep_forever()
        return ""  # pragma: no cover

    @server.tool(description="Returns size characters of text.")
    def huge(size: int) -> str:
        return "x" * size

    @server.tool(description="Always fails.")
    def fail() -> str:
        raise ValueError("this tool always fails")

    @server.tool(description="A header of the HTTP request carrying this call.")
    def header(name: str, ctx: Context) -> str:
        request = ctx.request_context.request
        return str(request.headers.get(name, "")) if request is not None else ""

    @server.tool(description="Content that is not text.")
    def media() -> list[ContentBlock]:
        return [
            ImageContent(type="image", data=base64.b64encode(b"\x89PNG fake").decode(), mime_type="image/png"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="file:///notes.txt", mime_type="text/plain", text="the notes"),
            ),
            ResourceLink(type="resource_link", uri="file:///big.bin", name="big"),
        ]

    @server.tool(description="Answers with a protocol error.")
    def refuse() -> str:
        raise MCPError(code=-32602, message="refused: the arguments are not acceptable")

    @server.tool(name="dotted.name", description="A name with a dot.")
    def dotted() -> str:
        return "dotted"

    @server.tool(description="Exits the process before answering.")
    def crash() -> str:
        os._exit(3)

    return server


async def _serve_http(server: MCPServer, port: int) -> None:
    # The socket is bound here so the port is known before uvicorn starts and
    # a restarted server can take the same port again.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uv.serve(sockets=[sock])


def main(argv: list[str]) -> None:
    server = build()
    if argv[:1] == ["stdio"]:
        server.run("stdio")
    elif argv[:1] == ["http"]:
        anyio.run(_serve_http, server, int(argv[1]) if len(argv) > 1 else 0)
    else:
        sys.exit("usage: mcp_server.py stdio | http [PORT]")


if __name__ == "__main__":
    main(sys.argv[1:])
