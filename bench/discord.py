"""Interaction-to-acknowledgement latency of ``/ask`` under load.

The real bot runs as its own process (``python -m bot``), pointed at the
Discord emulator from the tests through DISCORD_API_BASE, with the loopback
OpenAI fake as its model. This process hosts the emulator and sends
``--concurrency`` ``/ask`` commands at once, ``--rounds`` times. The emulator
stamps when it dispatched each INTERACTION_CREATE and when the bot's first
callback (the deferral) arrived; their difference is the acknowledgement
latency. Prints one JSON line and a short table.

    python bench/discord.py [--concurrency 50] [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import median, percentile, table  # noqa: E402
from tests.fakes.bot_env import emulated_environment  # noqa: E402
from tests.fakes.discord_emulator import DiscordEmulator  # noqa: E402
from tests.fakes.model_servers import FakeOpenAIServer  # noqa: E402


def bot_env(emu: DiscordEmulator, model: FakeOpenAIServer, db: Path) -> dict[str, str]:
    return emulated_environment(db, emu, model, LOG_LEVEL="WARNING")


async def measure(concurrency: int, rounds: int) -> dict[str, object]:
    rounds_ms: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # ack_deadline=None: a slow acknowledgement is measured, not failed.
        # Schema checks off: they cost the emulator more than the bot's own work
        # (the end-to-end tests check every body).
        async with DiscordEmulator(ack_deadline=None, check_schemas=False) as emu, FakeOpenAIServer(final_text="ok") as model:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=tmp, env=bot_env(emu, model, Path(tmp) / "bench.db"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await emu.wait_until_ready(timeout=60)
                await emu.wait_for(lambda: emu.guild_commands.get(emu.guild.id), timeout=60)
                for round_ in range(rounds):
                    sent = await asyncio.gather(
                        *(
                            emu.send_slash_command("ask", {"prompt": f"question {round_}-{i}"}, user=emu.member)
                            for i in range(concurrency)
                        )
                    )
                    await emu.wait_for(lambda: all(i.acknowledged for i in sent), timeout=60)
                    rounds_ms.append([i.ack_latency * 1000 for i in sent if i.ack_latency is not None])
                    # let the round's runs finish before the next burst
                    done = (round_ + 1) * concurrency
                    await emu.wait_for(lambda: len(model.requests) >= done, timeout=120)
                    await asyncio.sleep(1.0)
            finally:
                proc.terminate()
                await proc.wait()
    # The first burst opens the bot's connections and warms its code paths;
    # it is reported on its own. Each burst's p99 is close to its slowest
    # ack, so one noisy burst decides a pooled p99: the headline figures are
    # medians over the warm bursts.
    cold, warm = rounds_ms[0], rounds_ms[1:]
    pooled = [ms for r in warm for ms in r]
    return {
        "bench": "discord_ack",
        "concurrency": concurrency,
        "warm_rounds": len(warm),
        "acks": len(pooled),
        "ack_p50_ms": round(median([percentile(r, 50) for r in warm]), 2),
        "ack_p99_ms": round(median([percentile(r, 99) for r in warm]), 2),
        "ack_p99_per_burst_ms": [round(percentile(r, 99), 1) for r in warm],
        "ack_p99_pooled_ms": round(percentile(pooled, 99), 2),
        "ack_max_ms": round(max(pooled), 2),
        "cold_burst_ack_p99_ms": round(percentile(cold, 99), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9, help="bursts, the first one (cold) reported apart")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.concurrency, args.rounds))
    print(json.dumps(figures))
    print(
        table(
            ["figure", "value"],
            [
                ["/ask at once", str(figures["concurrency"])],
                ["acknowledgements", str(figures["acks"])],
                ["ack p50 (median of bursts)", f"{figures['ack_p50_ms']} ms"],
                ["ack p99 (median of bursts)", f"{figures['ack_p99_ms']} ms"],
                ["ack p99 (all acks pooled)", f"{figures['ack_p99_pooled_ms']} ms"],
                ["ack max", f"{figures['ack_max_ms']} ms"],
                ["first (cold) burst p99", f"{figures['cold_burst_ack_p99_ms']} ms"],
            ],
        ),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
