"""Server files: one TOML file per MCP server in ``MCP_DIR``, written by the operator.

Only operators declare servers; nothing about them can be set from Discord.
The file's name is the server's id, and the id prefixes its tools' names
(``github__search_issues``). A broken file is reported as ``file: field:
problem`` and skipped; the other servers still load and the bot keeps running.

A stdio server is a program the bot starts::

    command = ["uvx", "mcp-server-git", "--repository", "/srv/repo"]
    env = { GIT_AUTHOR_NAME = "executus" }   # the only variables it gets, besides PATH, HOME and the like
    cwd = "/srv/repo"
    timeout = 30                              # seconds per call

A streamable HTTP server is a URL the bot connects to, under the same
network rules as ``fetch_url``; ``allow_private = true`` lets this one
server's host be on loopback or the LAN::

    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ..." }
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.tomlfile import read_toml, whole_seconds
from executor.tools.builtin import NetPolicy, describe_errors

#: Ids become the ``<server>__`` prefix of tool names: no ``__`` inside and no
#: ``_`` at either end, so the first ``__`` of a tool name always ends the id.
_SERVER_ID = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_MAX_ID = 32
#: Prefixes of the delegation tools (skill__NAME, agent__NAME): a server so
#: named would have tool names that clash with them.
_RESERVED_IDS = frozenset({"skill", "agent"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class StdioServer:
    """A server the bot runs as a child process and talks to over stdin/stdout.

    The process gets ``env`` and nothing of the bot's environment but what the
    SDK needs to find and run programs (see ``bot/mcp/session.py``)."""

    id: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    source: str = ""

    @property
    def transport(self) -> str:
        return "stdio"

    def secrets(self) -> list[str]:
        return list(self.env.values())


@dataclass(frozen=True, slots=True)
class HttpServer:
    """A streamable HTTP server. Requests go only to addresses the server's
    NetPolicy allows (public ones, plus loopback and LAN with ``allow_private``)."""

    id: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    allow_private: bool = False
    timeout: float = DEFAULT_TIMEOUT
    source: str = ""

    @property
    def transport(self) -> str:
        return "http"

    def policy(self) -> NetPolicy:
        return NetPolicy(allow_loopback=self.allow_private, allow_private=self.allow_private)

    def secrets(self) -> list[str]:
        return list(self.headers.values())


ServerConfig = StdioServer | HttpServer


class ServerFile(BaseModel):
    """The TOML of a server file. Unknown keys are errors (a misspelt
    ``timout`` must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = Field(None, min_length=1)
    url: str | None = Field(None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    allow_private: bool = False
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, le=600)

    _seconds = field_validator("timeout", mode="before")(whole_seconds)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value[0]:
            raise ValueError("the first item must name the program to run")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _ENV_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"not valid variable names: {', '.join(bad)}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = httpx.URL(value)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("use an http:// or https:// URL with a host, e.g. https://mcp.example.com/mcp")
        if parsed.userinfo:
            raise ValueError("the URL carries a user name or password; put credentials in headers instead")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> ServerFile:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (a streamable HTTP server)")
        if self.command is not None and (self.headers or self.allow_private):
            raise ValueError("headers and allow_private are for url servers; a command server takes env and cwd")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError("env and cwd are for command servers; a url server takes headers and allow_private")
        return self

    def config(self, server_id: str, path: Path) -> ServerConfig:
        source = str(path)
        if self.command is not None:
            cwd = Path(self.cwd) if self.cwd else None
            if cwd is not None and not cwd.is_absolute():
                cwd = path.parent / cwd  # relative to the server file, not to where the bot was started
            return StdioServer(server_id, tuple(self.command), dict(self.env), cwd, self.timeout, source)
        assert self.url is not None
        return HttpServer(server_id, str(httpx.URL(self.url)), dict(self.headers), self.allow_private, self.timeout, source)


@dataclass(slots=True)
class LoadedServers:
    """The servers that loaded, by id, and one line per problem with the rest."""

    servers: dict[str, ServerConfig] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """Env values and header values, for log redaction: operators put tokens there."""
        return [s for server in self.servers.values() for s in server.secrets()]


def load_servers(mcp_dir: str | Path) -> LoadedServers:
    """Every ``*.toml`` in ``mcp_dir``. A missing folder means no servers
    (MCP is optional), not a problem."""
    loaded = LoadedServers()
    directory = Path(mcp_dir)
    if not directory.is_dir():
        return loaded
    for path in sorted(directory.glob("*.toml")):
        server = _read(path, loaded.problems)
        if server is not None:
            loaded.servers[server.id] = server
    return loaded


def _read(path: Path, problems: list[str]) -> ServerConfig | None:
    server_id = path.stem
    if not (_SERVER_ID.fullmatch(server_id) and len(server_id) <= _MAX_ID):
        problems.append(
            f"{path}: the file name is the server id: use 1-{_MAX_ID} lowercase letters and digits,"
            " single '-' or '_' between them (e.g. github.toml, my-tools.toml)"
        )
        return None
    if server_id in _RESERVED_IDS:
        problems.append(f"{path}: the server id {server_id!r} is taken by delegation tools ({server_id}__NAME); rename the file")
        return None
    data = read_toml(path, problems)
    if data is None:
        return None
    try:
        return ServerFile.model_validate(data).config(server_id, path)
    except ValidationError as exc:
        problems.extend(f"{path}: {line}" for line in describe_errors(exc))
        return None
