"""``write_file``: a text, Markdown, CSV or JSON file delivered with the answer
(for output too long or too structured for a chat message)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from executor.tools.base import Tool
from executor.tools.builtin.errors import reports_errors
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.builtin.workspace import Workspace, check_filename
from executor.tools.invocation import Invocation

MAX_FILE_BYTES = 1_000_000
CONTENT_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}

DESCRIPTION = (
    "Create a file that is attached to your answer: .txt, .md, .csv or .json, up to 1 MB. "
    "Use it for long reports, tables and data. Writing the same file name again replaces the file. "
    "JSON content must be valid JSON."
)


class WriteFileArgs(BaseModel):
    filename: str = Field(description="Plain file name ending in .txt, .md, .csv or .json, e.g. report.md.")
    content: str = Field(description="The whole text of the file.")

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return check_filename(name.strip(), tuple(CONTENT_TYPES))

    @model_validator(mode="after")
    def _content_fits(self) -> WriteFileArgs:
        size = len(self.content.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise ValueError(f"content is {size:,} bytes; a file may have at most {MAX_FILE_BYTES:,}")
        if self.filename.lower().endswith(".json"):
            try:
                json.loads(self.content)
            except json.JSONDecodeError as exc:
                where = f"line {exc.lineno}, column {exc.colno}"
                raise ValueError(f"content is not valid JSON: {exc.msg} at {where}") from None
        return self


def write_file_tool(workspace: Workspace) -> Tool:
    @reports_errors
    async def write_file(invocation: Invocation, args: dict[str, Any]) -> str:
        a = parse_args(WriteFileArgs, args)
        data = a.content.encode("utf-8")
        extension = a.filename[a.filename.rfind(".") :].lower()
        replaced = workspace.put(a.filename, data, CONTENT_TYPES[extension])
        verb = "Replaced" if replaced else "Created"
        return f"{verb} {a.filename} ({len(data):,} bytes); it will be attached to your answer."

    return Tool("write_file", DESCRIPTION, write_file, tool_schema(WriteFileArgs), timeout=10.0)
