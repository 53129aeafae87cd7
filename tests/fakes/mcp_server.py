"""A real MCP server (the SDK's MCPServer, formerly FastMCP) to run as a process.

Tests start it the way an operator's server file would, so the whole path
is real: process spawn, the stdio or streamable HTTP transport, the SDK on
both sides. It imports nothing from the project, so it runs from any folder.

    python tests/fakes/mcp_server.py stdio
    python tests/fakes/mcp_server.py http [PORT]   # prints "PORT <n>" once listening on 127.0.0.1

Tools:

- ``echo(text)``: the text back. Its description is read at start-up from
  the file named by ``FAKE_MCP_DESCRIPTION_FILE`` when that is set, so a test
  can restart the server with a changed description (tool poisoning).
- ``environment()``: the names of the process's environment variables, as JSON.
- ``pid()``: the process id, so a test can kill it.
- ``hang()``: never answers.
- ``huge(size)``: ``size`` characters of text.
- ``fail()``: a tool error (``is_error`` result).
"""

from __future__ import annotations

import json
import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

DEFAULT_DESCRIPTION = "Echo the text back."


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
