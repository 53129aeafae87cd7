"""Helpers the benchmark scripts share: the fake model server as a child
process, child benchmark processes that answer in JSON, percentiles, RSS
and the printed table.

Benchmarks run their measured code in child processes so that each
framework's CPU time and memory are its own: nothing is shared with the
fake server, the parent, or the framework measured before it.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def fake_openai_server(*, tool_steps: int, latency_ms: float) -> Iterator[str]:
    """Run ``bench.fake_openai_server`` in its own process; yield its base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fake_openai_server",
            "--port",
            "0",
            "--tool-steps",
            str(tool_steps),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise RuntimeError(f"the fake model server did not start (exit code {proc.poll()})")
        yield line[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def completions_served(base_url: str) -> int:
    """The fake server's count of chat completions answered so far."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return int(json.load(response)["completions"])


def set_draining(base_url: str, draining: bool) -> None:
    """Make the fake server end every conversation at its next call (or stop doing so)."""
    path = "/drain" if draining else "/resume"
    request = urllib.request.Request(base_url.removesuffix("/v1") + path, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def run_child(args: Sequence[str], *, timeout: float = 300.0) -> dict[str, Any]:
    """Run ``python -m <args>`` from the project root and return the JSON
    object on the last line of its output. Its stderr passes through."""
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}")
    result = last_json_object(done.stdout)
    if result is None:
        raise RuntimeError(f"{' '.join(args)} printed no JSON result")
    return result


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last line of ``text`` that is a JSON object (a benchmark's figures line)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): always a value that was measured."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned text table: first column left, the others right."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = (str(c) for c in cells)
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
