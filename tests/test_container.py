"""The Dockerfile and compose.yaml, checked without a Docker engine.

This machine has the docker client only: no engine to build or run an
image, and no compose plugin. So the tests read both files and check what
they promise: the image runs ``python -m bot`` as a non-root user with its
state on ``/data`` and a HEALTHCHECK on ``/healthz``; compose.yaml is valid
against the Compose Specification's schema, its profiles hold the services
they should, and every variable it gives the bot is a setting the bot reads.
The image's install is rehearsed: a wheel built from exactly the files the
Dockerfile copies runs ``python -m bot migrate`` with the image's ENV.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from bot.config import Settings, load_settings
from bot.healthcheck import url as healthcheck_url
from bot.store import database_path

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).resolve().parent / "specs"
SETTINGS = {name.upper() for name in Settings.model_fields}
#: ENV of the image that are not the bot's settings, and why they are there.
IMAGE_ONLY_ENV = {
    "PYTHONUNBUFFERED",  # log lines reach `docker logs` at once
    "PYTHONDONTWRITEBYTECODE",  # the app folder is read-only to the bot's user
    "PATH",  # the venv first
    "MPLCONFIGDIR",  # matplotlib's cache in a folder the bot's user may write
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


# ------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} should be in exec form (a JSON list): {self.args}"
        return value

    def pairs(self) -> dict[str, str]:
        """``KEY=value`` pairs of ENV or ARG."""
        return dict(item.split("=", 1) for item in shlex.split(self.args))


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions, one list per stage (split at FROM); continuation
    lines joined, comments and blank lines dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[list[Instruction]] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{entry!r} comes before FROM"
        stages[-1].append(instruction)
    return stages


STAGES = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))
BUILD, IMAGE = STAGES[0], STAGES[-1]


def instructions(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions(IMAGE, "ENV"):
        env.update(instruction.pairs())
    return env


def test_the_parser_reads_continuations_and_stages() -> None:
    stages = parse_dockerfile("FROM a AS b\n# note\nRUN x \\\n  # inside\n && y\nFROM c\nENV A=1 \\\n    B='two words'\n")
    assert [[(i.keyword, i.args) for i in s] for s in stages] == [
        [("FROM", "a AS b"), ("RUN", "x  && y")],
        [("FROM", "c"), ("ENV", "A=1  B='two words'")],
    ]
    assert stages[1][1].pairs() == {"A": "1", "B": "two words"}


def test_image_is_slim_python_311() -> None:
    for stage in STAGES:
        base = stage[0].args.split()[0]
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base


def test_image_runs_python_m_bot_as_a_non_root_user() -> None:
    (entrypoint,) = instructions(IMAGE, "ENTRYPOINT")
    assert entrypoint.exec_form() == ["python", "-m", "bot"]
    assert instructions(IMAGE, "CMD") == []  # `docker run IMAGE migrate` passes the sub-command
    users = instructions(IMAGE, "USER")
    assert users, "no USER: the bot would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    assert IMAGE.index(users[-1]) < IMAGE.index(entrypoint)
    (create_user,) = [i for i in instructions(IMAGE, "RUN") if "useradd" in i.args]
    assert f"--uid {user}" in create_user.args


def test_state_lives_on_the_data_volume() -> None:
    volumes = [v for i in instructions(IMAGE, "VOLUME") for v in i.args.split()]
    assert volumes == ["/data"]
    env = image_env()
    assert database_path(env["DATABASE_URL"]) == Path("/data/executus.db")
    assert Path(env["ARTIFACTS_DIR"]).is_relative_to("/data")
    (prepare,) = [i for i in instructions(IMAGE, "RUN") if "mkdir -p /data" in i.args]
    assert "chown executus:executus /data" in prepare.args  # a named volume copies the owner at first use


def test_image_env_is_settings_the_bot_reads_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    env = image_env()
    assert set(env) - SETTINGS - IMAGE_ONLY_ENV == set()
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name in set(env) & SETTINGS:
        monkeypatch.setenv(name, env[name])
    settings = load_settings(_env_file=None)
    assert settings.metrics_port == int(env["METRICS_PORT"]) and settings.metrics_host == "0.0.0.0"


def test_healthcheck_asks_healthz_on_the_metrics_port() -> None:
    (healthcheck,) = instructions(IMAGE, "HEALTHCHECK")
    options, _, command = healthcheck.args.partition(" CMD ")
    assert json.loads(command) == ["python", "-m", "bot.healthcheck"]  # tests/test_health.py runs this probe
    assert "--timeout=" in options and "--start-period=" in options
    env = image_env()
    assert healthcheck_url(env) == f"http://127.0.0.1:{env['METRICS_PORT']}/healthz"
    assert [i.args for i in instructions(IMAGE, "EXPOSE")] == [env["METRICS_PORT"]]


def test_build_installs_the_project_with_real_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (extras_arg,) = instructions(BUILD, "ARG")
    extras = extras_arg.pairs()["EXTRAS"].split(",")
    assert set(extras) <= set(pyproject["project"]["optional-dependencies"]) - {"test", "bench"}
    assert "mcp" in extras  # MCP servers work in the image as they do with `make run`
    (install,) = [i for i in instructions(BUILD, "RUN") if "pip install" in i.args]
    assert '".${EXTRAS:+[$EXTRAS]}"' in install.args
    copied = copied_sources(BUILD)
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in packages} | {"pyproject.toml", pyproject["project"]["readme"]} <= set(copied)
    assert set(copied_sources(IMAGE)) == {"agents", "skills"}


def copied_sources(stage: list[Instruction]) -> list[str]:
    """What a stage COPYs from the build context (not ``--from`` another stage)."""
    sources = []
    for copy in instructions(stage, "COPY"):
        parts = copy.args.split()
        if not parts[0].startswith("--from"):
            sources += parts[:-1]
    return sources


def test_dockerignore_keeps_secrets_and_state_out_but_not_the_sources() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for private in (".env", ".venv", ".git", "data", "artifacts"):
        assert private in ignored, private
    for source in copied_sources(BUILD) + copied_sources(IMAGE):
        assert source not in ignored, source


def test_the_images_install_runs_python_m_bot(tmp_path: Path) -> None:
    """The build stage's ``pip install .`` rehearsed: a wheel of exactly what
    the Dockerfile copies, then ``python -m bot`` from that wheel, in a folder
    laid out like the image's /app, with the image's ENV (``/data`` moved
    under tmp_path: this machine cannot write ``/data``)."""
    context = tmp_path / "context"
    for source in copied_sources(BUILD):
        copy_source(ROOT / source, context / source)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(context)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("executus-*.whl")
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    app = tmp_path / "app"
    for source in copied_sources(IMAGE):
        copy_source(ROOT / source, app / source)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    env.update({k: v.replace("/data", str(data)) for k, v in image_env().items() if k in SETTINGS})
    env["PYTHONPATH"] = str(site)

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=app, env=env, capture_output=True, text=True, timeout=120)

    where = python("-c", "import bot, cogs, executor; print(bot.__file__, cogs.__file__, executor.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(f).is_relative_to(site) for f in where.stdout.split()), where.stdout  # not this checkout
    migrated = python("-m", "bot", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied migrations" in migrated.stdout
    assert (data / "executus.db").is_file()
    pruned = python("-m", "bot", "prune")  # the image's retention command, on the image's /data database
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("pruned 0 runs")
    refused = python("-m", "bot")  # no DISCORD_TOKEN in this environment: it says how to get one
    assert refused.returncode == 2 and "DISCORD_TOKEN is not set" in refused.stderr


def copy_source(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


# -------------------------------------------------------------- compose.yaml


COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
#: The services that run the bot: those built from this Dockerfile.
BOTS = {name: s for name, s in SERVICES.items() if s.get("build") == "."}
SHARDS = {name: s for name, s in BOTS.items() if "scale" in s["profiles"]}
SCHEMA = json.loads((SPECS / "compose-spec.json").read_text(encoding="utf-8"))
#: What compose reads from .env for interpolation in these tests.
INTERPOLATION = {"POSTGRES_PASSWORD": "pw"}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}`` and ``${NAME:-default}``; anything fancier is refused here."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return variables.get(name) or default

    result = re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value)
    assert "$" not in result, f"unsupported interpolation in {value!r}"
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(str(v), INTERPOLATION) for k, v in service.get("environment", {}).items()}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(COMPOSE)
    broken = {**COMPOSE, "services": {**SERVICES, "bot": {**SERVICES["bot"], "enviroment": {}}}}
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


def test_compose_profiles() -> None:
    profiles = {name: set(s["profiles"]) for name, s in SERVICES.items()}
    assert profiles == {
        "bot": {"single"},
        "postgres": {"scale"},
        "shard-0": {"scale"},
        "shard-1": {"scale"},
        "rest-proxy": {"proxy"},
    }
    assert set(BOTS) == {"bot", "shard-0", "shard-1"}


def test_every_bot_service_sets_only_settings_the_bot_reads() -> None:
    for name, service in BOTS.items():
        unknown = set(environment(service)) - SETTINGS
        assert not unknown, f"{name} sets {unknown}, which the bot does not read"


@pytest.mark.parametrize("name", ["bot", "shard-0", "shard-1"])
def test_every_bot_service_loads_its_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting, raising=False)
    for key, value in environment(BOTS[name]).items():
        if key in SETTINGS:
            monkeypatch.setenv(key, value)
    settings = load_settings(_env_file=None)
    assert settings.metrics_port is not None  # the image's HEALTHCHECK needs /healthz


def test_bot_services_keep_their_state_on_a_volume_and_read_env() -> None:
    volumes = set(COMPOSE["volumes"])
    for name, service in BOTS.items():
        assert service["env_file"] == ".env", name
        mounts = dict(reversed(m.split(":")[:2]) for m in service["volumes"])
        assert mounts["/data"] in volumes, name  # a named volume, not a path inside the container
        assert mounts["/app/agents"] == "./agents" and mounts["/app/skills"] == "./skills", name
        env = environment(service)
        # Set in compose, so an .env copied from .env.example (relative paths) cannot move them off the volume.
        assert Path(env["ARTIFACTS_DIR"]).is_relative_to("/data"), name
        assert "healthcheck" not in service, name  # the image's HEALTHCHECK applies


def test_single_profile_is_sqlite_on_the_volume() -> None:
    env = environment(SERVICES["bot"])
    assert database_path(env["DATABASE_URL"]) == Path("/data/executus.db")


def test_scale_profile_runs_every_shard_once_on_postgresql() -> None:
    envs = {name: environment(s) for name, s in SHARDS.items()}
    counts = {env["SHARD_COUNT"] for env in envs.values()}
    assert len(counts) == 1, "every shard process must agree on SHARD_COUNT"
    ids = sorted(int(i) for env in envs.values() for i in env["SHARD_IDS"].split(","))
    assert ids == list(range(int(counts.pop())))
    assert len({env["EXECUTOR_ID"] for env in envs.values()}) == len(envs)
    postgres = SERVICES["postgres"]
    db = environment(postgres)
    for name, env in envs.items():
        parts = urlsplit(env["DATABASE_URL"])
        assert parts.scheme == "postgresql" and parts.hostname == "postgres", name
        assert (parts.username, parts.password, parts.path) == (db["POSTGRES_USER"], "pw", "/" + db["POSTGRES_DB"])
        assert SHARDS[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert "DISCORD_API_BASE" not in env  # from .env: Discord, or the proxy when enabled
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    published = [p for s in SHARDS.values() for p in s.get("ports", [])]
    assert len(published) == len(set(p.rsplit(":", 1)[0] for p in published))  # no host port twice


def test_a_scale_shard_opens_its_store_on_postgresql(tmp_path: Path) -> None:
    """A shard started with the scale profile's settings goes for its
    PostgreSQL store (here no host ``postgres`` resolves, so it stops with one
    line), and that line never shows the database password."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    env.update({k: v for k, v in environment(SHARDS["shard-0"]).items() if k in SETTINGS})
    env.update(DISCORD_TOKEN="a-token", PYTHONPATH=str(ROOT))
    shard = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert shard.returncode != 0
    [line] = shard.stderr.strip().splitlines()
    assert line.startswith("error: DATABASE_URL postgresql://executus:***@postgres:5432/executus: cannot use PostgreSQL")
    assert ":pw@" not in shard.stderr


def test_rest_proxy_is_optional_for_the_shards() -> None:
    proxy = SERVICES["rest-proxy"]
    assert proxy["image"].startswith("ghcr.io/germanoeich/nirn-proxy:")
    assert environment(proxy)["PORT"] == "8080"
    for name, service in SHARDS.items():
        assert service["depends_on"]["rest-proxy"] == {"condition": "service_started", "required": False}, name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "DISCORD_API_BASE=http://rest-proxy:8080/api/v10" in readme


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip(
            "no `docker compose` here (the docker client has no compose plugin and there is no engine); "
            "compose.yaml is checked against the Compose Specification's JSON schema instead"
        )
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=pw\n")
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    for profile in ("single", "scale", "proxy"):
        checked = subprocess.run(
            [docker, "compose", "--profile", profile, "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
