"""Every benchmark, one after the other, then all their figures together (``make bench``).

Each benchmark script runs as its own process (they measure memory and
event-loop lag, which must not mix) and prints its own table as it goes;
its last JSON line is collected. A script that is not there yet is skipped
with a note. The last line printed is one JSON object: script name ->
figures (or ``{"skipped": reason}`` / ``{"failed": exit code}``).

    python bench/run_all.py [--only loop store] [--quick]

``--quick`` passes each script its short options (one round), to check
that everything runs; its figures are rougher.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if __package__ in (None, ""):  # run as a script (make bench): make the project root importable
    sys.path.insert(0, str(BENCH.parent))

from bench._common import ROOT, last_json_object

#: name -> (what it measures, arguments for --quick)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "store": ("audit write throughput and event-loop lag of the store, SQLite and PostgreSQL", ["--runs", "8", "--steps", "100"]),
    "loop": (
        "agent loop: executus vs openai-agents, pydantic-ai, bare openai (on aiohttp, then their default clients)",
        ["--rounds", "1", "--runs", "10", "--ramp", "1", "--window", "2"],
    ),
    "discord": ("/ask acknowledgement latency against the Discord emulator", ["--rounds", "2"]),
    "audit_growth": ("bytes a run adds to the database, and space reused after retention prunes", ["--runs", "50"]),
}


def run(name: str, extra: list[str]) -> dict[str, Any]:
    """Run bench/<name>.py, echoing its output; return its figures."""
    script = BENCH / f"{name}.py"
    if not script.exists():
        return {"skipped": f"{script.relative_to(ROOT)} is not there yet"}
    print(f"\n== {name}: {BENCHMARKS[name][0]}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), *extra], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        if not line.startswith("{"):  # the JSON goes in the summary; the table is for now
            print(line, end="", flush=True)
        lines.append(line)
    code = proc.wait()
    print(f"({time.monotonic() - started:.0f} s)", flush=True)
    if code != 0:
        return {"failed": f"exit code {code}"}
    return last_json_object("".join(lines)) or {"failed": "printed no JSON figures"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run_all.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="one short round each: a smoke run")
    args = parser.parse_args(argv)
    figures = {name: run(name, BENCHMARKS[name][1] if args.quick else []) for name in args.only}
    print("\n== all figures")
    for name, result in figures.items():
        note = result.get("skipped") or result.get("failed")
        if note:
            print(f"{name}: {'skipped' if 'skipped' in result else 'FAILED'}: {note}")
    print(json.dumps(figures))
    return 1 if any("failed" in r for r in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
