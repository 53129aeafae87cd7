"""render_chart and write_file: per-run files handed to the host by PostRun."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from executor.tools.base import ToolResult
from executor.tools.builtin import WORKSPACE_TOOL_NAMES, workspace_session_factory
from executor.tools.builtin.files import MAX_FILE_BYTES
from executor.tools.invocation import Invocation
from executor.tools.session import Artifact, SessionTools

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class NoSession:
    def attach_images(self, images: Any, note: str = "") -> None:
        raise AssertionError("workspace tools do not attach images")


def new_run(**options: Any) -> SessionTools:
    return workspace_session_factory(**options)(NoSession())


async def call(session: SessionTools, name: str, **args: Any) -> ToolResult:
    tool = next(t for t in session.tools if t.name == name)
    out = await tool.handler(Invocation(caller_id="member"), dict(args))
    return ToolResult(out) if isinstance(out, str) else out


async def artifacts(session: SessionTools) -> list[Artifact]:
    assert session.post_run is not None
    result = await session.post_run([], "done", None)
    return [] if result is None else result.artifacts


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


CHARTS: dict[str, dict[str, Any]] = {
    "bar": {
        "type": "bar",
        "title": "Sales",
        "labels": ["Q1", "Q2", "Q3"],
        "series": [{"name": "2023", "values": [1, 2, 3]}, {"name": "2024", "values": [2, 3, 5]}],
        "y_label": "units",
    },
    "line": {"type": "line", "labels": ["Mon", "Tue"], "series": [{"values": [3.5, 4]}], "x_label": "day"},
    "scatter": {"type": "scatter", "series": [{"name": "runs", "x": [1, 2, 3], "values": [2, 4, 5]}]},
    "pie": {"type": "pie", "labels": ["a", "b", "c"], "series": [{"values": [50, 30, 20]}], "title": "Share"},
}


@pytest.mark.parametrize("kind", sorted(CHARTS))
async def test_each_chart_type_renders_a_png_artifact(kind: str) -> None:
    run = new_run()
    result = await call(run, "render_chart", **CHARTS[kind], filename=f"{kind}.png")
    assert not result.is_error, result.content
    [artifact] = await artifacts(run)
    assert artifact.name == f"{kind}.png" and artifact.content_type == "image/png"
    width, height = png_size(artifact.data)
    assert width > 100 and height > 100


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"type": "donut", "series": [{"values": [1]}]}, "type: Input should be 'bar', 'line', 'scatter' or 'pie'"),
        ({"type": "bar", "series": []}, "series: List should have at least 1 item"),
        ({"type": "bar", "labels": ["a", "b"], "series": [{"values": [1]}]}, "series.0 has 1 values but there are 2"),
        ({"type": "pie", "series": [{"values": [1]}, {"values": [2]}]}, "exactly one series"),
        ({"type": "pie", "series": [{"values": [-1, 2]}]}, "non-negative"),
        ({"type": "scatter", "series": [{"values": [1, 2]}]}, "needs one x value per value"),
        ({"type": "line", "series": [{"values": ["high"]}]}, "series.0.values.0: Input should be a valid number"),
        ({"type": "line", "series": [{"values": [float("nan")]}]}, "series.0.values.0: Input should be a finite"),
        ({"type": "bar", "series": [{"values": [1]}], "filename": "../chart.png"}, "filename: use a plain file name"),
        ({"type": "bar", "series": [{"values": [1]}], "filename": "chart.svg"}, "must end with .png"),
        ({"type": "bar", "series": [{"values": [1]}], "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
async def test_bad_chart_specs_say_what_is_wrong(spec: dict[str, Any], complaint: str) -> None:
    run = new_run()
    result = await call(run, "render_chart", **spec)
    assert result.is_error
    assert complaint in result.content
    assert await artifacts(run) == []


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        ("notes.txt", "plain", "text/plain; charset=utf-8"),
        ("Report 2024.md", "# Title\n\nbody é", "text/markdown; charset=utf-8"),
        ("table.csv", "a,b\n1,2\n", "text/csv; charset=utf-8"),
        ("data.json", '{"a": [1, 2]}', "application/json"),
    ],
)
async def test_write_file_makes_an_artifact(filename: str, content: str, content_type: str) -> None:
    run = new_run()
    result = await call(run, "write_file", filename=filename, content=content)
    assert not result.is_error, result.content
    assert await artifacts(run) == [Artifact(filename, content.encode("utf-8"), content_type)]


@pytest.mark.parametrize(
    "filename",
    [
        "../secrets.txt",
        "dir/notes.txt",
        "dir\\notes.txt",
        ".hidden.txt",
        "run.py",
        "notes",
        "a..b.txt",
        "x" * 90 + ".md",
    ],
)
async def test_write_file_refuses_bad_names(filename: str) -> None:
    run = new_run()
    result = await call(run, "write_file", filename=filename, content="x")
    assert result.is_error and "filename:" in result.content
    assert await artifacts(run) == []


async def test_write_file_checks_json_and_size() -> None:
    run = new_run()
    bad_json = await call(run, "write_file", filename="d.json", content='{"a": }')
    assert bad_json.is_error and "not valid JSON" in bad_json.content and "line 1" in bad_json.content
    too_big = await call(run, "write_file", filename="big.txt", content="x" * (MAX_FILE_BYTES + 1))
    assert too_big.is_error and "at most 1,000,000" in too_big.content
    assert await artifacts(run) == []


async def test_same_name_replaces_and_limits_hold() -> None:
    run = new_run(max_files=2, max_total_bytes=100)
    assert not (await call(run, "write_file", filename="a.txt", content="1")).is_error
    replaced = await call(run, "write_file", filename="a.txt", content="2")
    assert replaced.content.startswith("Replaced")
    assert not (await call(run, "write_file", filename="b.txt", content="3")).is_error
    third = await call(run, "write_file", filename="c.txt", content="4")
    assert third.is_error and "2 files" in third.content
    too_much = await call(run, "write_file", filename="b.txt", content="x" * 100)
    assert too_much.is_error and "past 100 bytes" in too_much.content
    assert [(a.name, a.data) for a in await artifacts(run)] == [("a.txt", b"2"), ("b.txt", b"3")]


async def test_runs_are_isolated_post_run_reports_on_failure_and_cleanup_empties() -> None:
    factory = workspace_session_factory()
    first, second = factory(NoSession()), factory(NoSession())
    await call(first, "write_file", filename="a.md", content="# a")
    assert await artifacts(second) == []
    assert first.post_run is not None and first.cleanup is not None
    failed = await first.post_run([], "", RuntimeError("the run failed"))
    assert failed is not None and [a.name for a in failed.artifacts] == ["a.md"]
    await first.cleanup()
    assert await artifacts(first) == []


def test_only_selects_tools_and_rejects_unknown_names() -> None:
    assert {t.name for t in new_run().tools} == WORKSPACE_TOOL_NAMES
    assert [t.name for t in new_run(only=["write_file"]).tools] == ["write_file"]
    with pytest.raises(ValueError, match="fetch_url"):
        workspace_session_factory(only=["fetch_url"])


def test_tool_schemas_are_plain_json_schema() -> None:
    for tool in new_run().tools:
        text = json.dumps(tool.parameters)
        assert "$ref" not in text and "$defs" not in text
        assert tool.parameters["type"] == "object"
