"""The project as it is installed and driven: its metadata builds without
warnings, and every make target it lists exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_metadata_builds_with_an_spdx_license_and_no_deprecation_banner(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "meta").mkdir()
    build = "from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel('meta'))"
    done = subprocess.run([sys.executable, "-c", build], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deprecat" not in (done.stdout + done.stderr).lower(), done.stderr
    metadata = (tmp_path / "meta" / done.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata


def phony_targets() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    [line] = re.findall(r"^\.PHONY:(.*)$", makefile, re.M)
    return line.split()


@pytest.mark.parametrize("target", phony_targets())
def test_every_listed_make_target_does_something(target: str) -> None:
    """A dry run prints the target's commands; a phony target without a rule
    has none ("Nothing to be done")."""
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip(), done.stdout + done.stderr
    if target == "chat":
        assert "-m bot chat" in done.stdout


def test_the_readme_names_only_make_targets_that_exist() -> None:
    named = set(re.findall(r"`make\s+(\w+)", (ROOT / "README.md").read_text()))
    assert "chat" in named and named <= set(phony_targets())
