"""Reading the TOML files operators write (agents, skills, MCP servers)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The file's top-level table, or None after appending one ``path: problem``
    line (not TOML, unreadable, not UTF-8): a broken file is reported, not raised."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
    return None


def whole_seconds(value: Any) -> Any:
    """A "before" validator for seconds fields of strict models: TOML writes
    ``30`` as an integer, which strict mode would reject as a float."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
