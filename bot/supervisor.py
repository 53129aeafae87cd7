"""The host's Escalator: what the critic does with an agent that sets
``critic = true``. A fixed policy, no model call, so it is cheap, predictable
and cannot itself stall.

- At the step ceiling, a run that is still using different tools (making
  progress, not circling) gets more steps, at most ``max_extensions`` times;
  otherwise it answers with what it has.
- A run quiet for the critic's soft timeout is nudged once to wrap up; if it
  stays quiet for another window, it is stopped (status ``killed``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from executor import CriticDecision, CriticReport

NUDGE = (
    "You have been quiet for {idle:.0f} s. If a tool is stuck, stop waiting on it: answer with what "
    "you have, and say plainly what you could not finish."
)
#: Runs whose counts are remembered; older ones are forgotten first.
MEMORY = 1024


@dataclass(slots=True)
class _Seen:
    extensions: int = 0
    nudges: int = 0


class Supervisor:
    def __init__(self, *, max_extensions: int = 2, min_extension: int = 2) -> None:
        self.max_extensions = max_extensions
        self.min_extension = min_extension
        self._runs: OrderedDict[str, _Seen] = OrderedDict()

    async def escalate(self, report: CriticReport) -> CriticDecision:
        seen = self._seen(report.run_id)
        if report.reason == "ceiling":
            circling = len(set(report.last_tools)) <= 1
            if seen.extensions >= self.max_extensions or circling:
                return CriticDecision("continue")
            seen.extensions += 1
            return CriticDecision("extend", extra_steps=max(self.min_extension, report.max_steps // 2))
        if seen.nudges == 0:
            seen.nudges += 1
            return CriticDecision("nudge", NUDGE.format(idle=report.idle_seconds))
        return CriticDecision("kill", f"no progress for {report.idle_seconds:.0f} s after a nudge")

    def _seen(self, run_id: str) -> _Seen:
        seen = self._runs.pop(run_id, None) or _Seen()
        self._runs[run_id] = seen
        while len(self._runs) > MEMORY:
            self._runs.popitem(last=False)
        return seen
