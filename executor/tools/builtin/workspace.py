"""The files one run makes (charts, reports), kept in memory until the run ends.

Bounded in count and total size to what one Discord message can carry, so
everything a run makes can be uploaded with its answer.
"""

from __future__ import annotations

import re

from executor.tools.builtin.errors import ToolError
from executor.tools.session import Artifact

MAX_FILES = 10
MAX_TOTAL_BYTES = 8_000_000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}")


def check_filename(name: str, extensions: tuple[str, ...]) -> str:
    """``name`` if it is a plain file name with one of ``extensions``; raises
    ValueError saying what is wrong (no folders, no hidden files)."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            "use a plain file name like report.md: letters, digits, spaces, '.', '_' and '-', "
            "at most 80 characters, no folders"
        )
    if not name.lower().endswith(extensions):
        raise ValueError(f"the file name must end with {', '.join(extensions)}")
    return name


class Workspace:
    """Files by name; writing an existing name replaces that file."""

    def __init__(self, max_files: int = MAX_FILES, max_total_bytes: int = MAX_TOTAL_BYTES) -> None:
        self.max_files = max_files
        self.max_total_bytes = max_total_bytes
        self._files: dict[str, Artifact] = {}

    def put(self, name: str, data: bytes, content_type: str) -> bool:
        """Store a file; True when it replaced one of the same name.
        ToolError when the workspace would hold too many files or bytes."""
        replaced = name in self._files
        if not replaced and len(self._files) >= self.max_files:
            raise ToolError(f"this run already made {self.max_files} files, the most one answer can carry")
        others = sum(len(a.data) for n, a in self._files.items() if n != name)
        if others + len(data) > self.max_total_bytes:
            raise ToolError(
                f"{name} ({len(data):,} bytes) would take this run's files past {self.max_total_bytes:,} bytes"
            )
        self._files[name] = Artifact(name, data, content_type)
        return replaced

    def artifacts(self) -> list[Artifact]:
        return list(self._files.values())

    def clear(self) -> None:
        self._files.clear()
