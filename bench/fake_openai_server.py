"""A minimal, fast chat-completions server on loopback, for the loop benchmark.

Why not ``tests.fakes.model_servers``: that server is built to check what
clients send (it parses and validates every body, records every request, and
calls the tool with the same arguments every turn, which the executor's
repeated-call guard rightly stops). Here the server must cost next to
nothing, so that the frameworks, not the fake, are what gets measured: it is
a raw asyncio protocol (on uvloop when installed), it decides each reply
from a regex count over the request bytes, and every reply is pre-rendered.

Each request is answered from its own messages: with ``k`` tool messages in
the conversation, turn ``k < tool_steps`` calls ``add(a=k, b=1)`` (arguments
differ per turn) and turn ``tool_steps`` returns the final answer. No state
is shared between conversations, so any number of concurrent runs work.
``latency_ms`` delays every reply (a timer, not a sleeping task).

    python -m bench.fake_openai_server --port 0 --latency-ms 20 --tool-steps 10

prints ``listening <base_url>`` once bound. Control endpoints, beside the
``/v1`` base URL:

* ``GET /stats`` returns ``{"completions": N}``, the chat completions served
  so far, so a benchmark can count calls and check that every framework made
  exactly the calls it was scripted to;
* ``POST /drain`` makes every completion the final answer, so runs in flight
  end at their next call instead of being cancelled; ``POST /resume`` goes
  back to the script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from typing import cast

#: A chat-completions message with role "tool", however the client spaces its JSON.
TOOL_ROLE = re.compile(rb'"role"\s*:\s*"tool"')
FINAL_TEXT = "All additions are done."
TOOL_NAME = "add"


def _http(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _completion(turn: int, tool_steps: int) -> bytes:
    """The full HTTP response for ``turn`` (0-based) of a conversation."""
    message: dict[str, object] = {"role": "assistant", "content": None, "refusal": None}
    if turn < tool_steps:
        arguments = json.dumps({"a": turn, "b": 1})
        message["tool_calls"] = [
            {"id": f"call_{turn}", "type": "function", "function": {"name": TOOL_NAME, "arguments": arguments}}
        ]
        finish = "tool_calls"
    else:
        message["content"] = FINAL_TEXT
        finish = "stop"
    body = {
        "id": f"chatcmpl-bench{turn}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 40 + 20 * turn, "completion_tokens": 12, "total_tokens": 52 + 20 * turn},
    }
    return _http("200 OK", json.dumps(body).encode())


class Script:
    """The pre-rendered replies and the served-completions counter."""

    def __init__(self, tool_steps: int, latency_ms: float) -> None:
        self.replies = [_completion(turn, tool_steps) for turn in range(tool_steps + 1)]
        self.delay = latency_ms / 1000
        self.completions = 0
        self.draining = False

    def reply(self, request_line: bytes, body: bytes) -> bytes:
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            self.completions += 1
            turn = len(self.replies) - 1 if self.draining else len(TOOL_ROLE.findall(body))
            return self.replies[min(turn, len(self.replies) - 1)]
        if method == b"GET" and path == b"/stats":
            return _http("200 OK", json.dumps({"completions": self.completions}).encode())
        if method == b"POST" and path in (b"/drain", b"/resume"):
            self.draining = path == b"/drain"
            return _http("200 OK", b"{}")
        return _http("404 Not Found", b'{"error": {"message": "not found"}}')


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: Content-Length bodies only (what
    the HTTP clients under test send)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            total = end + 4 + _content_length(head)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            response = self.script.reply(head.split(b"\r\n", 1)[0], body)
            if self.script.delay > 0:
                asyncio.get_running_loop().call_later(self.script.delay, self._send, response)
            else:
                self._send(response)

    def _send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def serve(host: str, port: int, tool_steps: int, latency_ms: float) -> None:
    """Serve until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    script = Script(tool_steps, latency_ms)
    server = await loop.create_server(lambda: Connection(script), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"listening http://{host}:{bound}/v1", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_openai_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before every answer")
    parser.add_argument("--tool-steps", type=int, default=10, help="tool-call turns before the final answer")
    args = parser.parse_args(argv)
    try:
        import uvloop  # the server's own speed is not under test: use the fastest loop there is
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    runner(serve(args.host, args.port, args.tool_steps, args.latency_ms))


if __name__ == "__main__":
    main()
