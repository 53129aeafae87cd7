"""Every status a ``runs`` row can hold, spelled once.

The executor's five (how a run ended) and the store's own three: a run still
going, one a dead process left going, one the budget refused before it began.
"""

from __future__ import annotations

from enum import StrEnum

from executor import RunStatus


class StoredStatus(StrEnum):
    OK = RunStatus.OK.value
    ERROR = RunStatus.ERROR.value
    TIMEOUT = RunStatus.TIMEOUT.value
    CANCELLED = RunStatus.CANCELLED.value
    KILLED = RunStatus.KILLED.value
    #: Started and not closed. Left behind by a dead process, it becomes
    #: ``interrupted`` at the next start-up.
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    #: The budget refused the run; it made no model call.
    REJECTED = "rejected"
