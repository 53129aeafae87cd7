"""Server files in MCP_DIR: what loads, what is reported, and that bot/mcp stays off Discord."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.mcp import HttpServer, StdioServer, load_servers
from tests.test_layering import imported_roots

ROOT = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_stdio_and_an_http_server_load(tmp_path: Path) -> None:
    folder = tmp_path / "mcp"
    write(folder, "git.toml", 'command = ["uvx", "mcp-server-git"]\nenv = { TOKEN = "t0ken-value" }\ncwd = "repo"\ntimeout = 5\n')
    write(folder, "search-api.toml", 'url = "https://mcp.example.com/mcp"\nheaders = { Authorization = "Bearer abc12345" }\n')
    loaded = load_servers(folder)
    assert loaded.problems == []
    git = loaded.servers["git"]
    assert git == StdioServer("git", ("uvx", "mcp-server-git"), {"TOKEN": "t0ken-value"}, folder / "repo", 5.0, str(folder / "git.toml"))
    search = loaded.servers["search-api"]
    assert isinstance(search, HttpServer) and search.timeout == 30.0 and not search.allow_private
    assert sorted(loaded.secrets()) == ["Bearer abc12345", "t0ken-value"]
    assert "t0ken-value" not in repr(git) and "abc12345" not in repr(search)


def test_a_missing_folder_means_no_servers_and_no_problem(tmp_path: Path) -> None:
    loaded = load_servers(tmp_path / "absent")
    assert loaded.servers == {} and loaded.problems == []


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("both.toml", 'command = ["x"]\nurl = "https://a.example/mcp"', "give either command"),
        ("neither.toml", "timeout = 5", "give either command"),
        ("typo.toml", 'command = ["x"]\ntimout = 5', "timout: Extra inputs are not permitted"),
        ("slow.toml", 'command = ["x"]\ntimeout = "5"', "timeout: Input should be a valid number"),
        ("zero.toml", 'command = ["x"]\ntimeout = 0', "timeout: Input should be greater than 0"),
        ("empty.toml", "command = []", "command: List should have at least 1 item"),
        ("blank.toml", 'command = [""]', "command: the first item must name the program"),
        ("envname.toml", 'command = ["x"]\nenv = { "A-B" = "1" }', "env: not valid variable names: A-B"),
        ("scheme.toml", 'url = "ftp://a.example/mcp"', "url: use an http:// or https:// URL"),
        ("creds.toml", 'url = "https://me:pw@a.example/mcp"', "put credentials in headers"),
        ("mixed.toml", 'url = "https://a.example/mcp"\nenv = { A = "1" }', "env and cwd are for command servers"),
        ("private.toml", 'command = ["x"]\nallow_private = true', "headers and allow_private are for url servers"),
        ("broken.toml", "command = [", "not valid TOML"),
        ("Bad__Name.toml", 'command = ["x"]', "the file name is the server id"),
    ],
)
def test_a_bad_file_is_reported_with_file_and_field_and_the_rest_load(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    folder = tmp_path / "mcp"
    write(folder, "good.toml", 'command = ["ok"]')
    bad = write(folder, name, text)
    loaded = load_servers(folder)
    assert list(loaded.servers) == ["good"]
    assert len(loaded.problems) == 1, loaded.problems
    problem = loaded.problems[0]
    assert problem.startswith(f"{bad}: ") and expected in problem, problem


def test_the_readme_examples_load(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"```toml\n# mcp/(\S+)\n(.*?)```", readme, re.S)
    assert [name for name, _ in examples] == ["git.toml", "search.toml"]
    folder = tmp_path / "mcp"
    for name, text in examples:
        write(folder, name, text)
    loaded = load_servers(folder)
    assert loaded.problems == [] and sorted(loaded.servers) == ["git", "search"]


def test_mcp_dir_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("MCP_DIR", raising=False)
    assert Settings().mcp_dir == Path("mcp")
    monkeypatch.setenv("MCP_DIR", "/etc/executus/mcp")
    assert Settings().mcp_dir == Path("/etc/executus/mcp")


def test_bot_mcp_imports_nothing_from_discord_or_cogs() -> None:
    files = sorted((ROOT / "bot" / "mcp").rglob("*.py"))
    assert len(files) >= 8
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & {"discord", "cogs"}) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_without_servers_the_sdk_is_not_loaded() -> None:
    """The SDK imports opentelemetry-api, which must not load unless asked for
    (tests/test_tracing.py): a bot with no server files never imports it."""
    script = (
        "import sys, json, asyncio\n"
        "from bot.mcp import McpManager, MemoryPinStore\n"
        "async def main():\n"
        "    async with McpManager({}, MemoryPinStore()) as manager:\n"
        "        assert await manager.tools_for({'github': ['*']}) == []\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'opentelemetry'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []
