"""Jobman's integer job statuses, and the reasons an attempt ended (recorded beside the status)."""
from __future__ import annotations

from .errors import UsageError

START = 0
RUNNING = 1
DONE = 2
ERR_START = 3
ERR_SYNC = 4
ERR_RUN = 5
CANCELED = -1

STATUS_NAMES: dict[int, str] = {
    START: "START",
    RUNNING: "RUNNING",
    DONE: "DONE",
    ERR_START: "ERR_START",
    ERR_SYNC: "ERR_SYNC",
    ERR_RUN: "ERR_RUN",
    CANCELED: "CANCELED",
}

DEFAULT_PRIORITY = 1.0
RESTART_PRIORITY = 2.0

# Why an attempt ended; stored in the ``end_reason`` column.
END_COMPLETED = "completed"
END_INCOMPLETE = "preempted"  # returned INCOMPLETE (signal, finish-up, or by choice)
END_ERROR = "error"
END_START_ERROR = "start-error"
END_LOST = "lost"  # the lease expired: worker killed or node lost
END_TIMEOUT = "timed-out"
END_CANCELED = "canceled"


def parse_status(text: str | int) -> int:
    """``'DONE'``, ``'done'``, ``'2'`` or ``2`` → 2; anything else is a :class:`UsageError`."""
    if isinstance(text, int) and text in STATUS_NAMES:
        return text
    s = str(text).strip()
    for code, name in STATUS_NAMES.items():
        if s.upper() == name or s == str(code):
            return code
    accepted = ", ".join(f"{n} ({c})" for c, n in STATUS_NAMES.items())
    raise UsageError(f"unknown status {str(text)!r}: expected one of {accepted}")


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, str(code))
