"""Jobman's integer job statuses (:class:`Status`), and why an attempt ended (:class:`EndReason`,
recorded beside the status, not instead of it)."""
from __future__ import annotations

import enum

from .errors import UsageError

__all__ = ["Status", "EndReason", "START", "RUNNING", "DONE", "ERR_START", "ERR_SYNC", "ERR_RUN", "CANCELED",
           "DEFAULT_PRIORITY", "RESTART_PRIORITY"]


class Status(enum.IntEnum):
    """A job's status: Jobman's integers, stored as such in the table's ``status`` column."""

    START = 0
    RUNNING = 1
    DONE = 2
    ERR_START = 3
    ERR_SYNC = 4
    ERR_RUN = 5
    CANCELED = -1

    @classmethod
    def parse(cls, text: str | int) -> Status:
        """``'DONE'``, ``'done'``, ``'2'`` or ``2`` → :attr:`DONE`; anything else is a :class:`UsageError`."""
        if isinstance(text, int) and not isinstance(text, bool) and text in cls._value2member_map_:
            return cls(text)
        s = str(text).strip()
        for member in cls:
            if s.upper() == member.name or s == str(member.value):
                return member
        raise UsageError(f"unknown status {str(text)!r}: expected one of {cls.accepted()}")

    @classmethod
    def accepted(cls) -> str:
        """``START (0), RUNNING (1), ...``: what :meth:`parse` accepts, for help texts and errors."""
        return ", ".join(f"{m.name} ({m.value})" for m in cls)

    @classmethod
    def name_of(cls, code: int) -> str:
        """The name of ``code``, or the number itself for a code no Jobman version defines."""
        member = cls._value2member_map_.get(code)
        return member.name if member is not None else str(code)


class EndReason(str, enum.Enum):
    """Why an attempt ended; stored in the ``end_reason`` column."""

    COMPLETED = "completed"
    INCOMPLETE = "preempted"  # returned INCOMPLETE (signal, finish-up, or by choice)
    ERROR = "error"
    START_ERROR = "start-error"
    LOST = "lost"  # the lease expired: worker killed or node lost
    TIMEOUT = "timed-out"
    CANCELED = "canceled"
    HANDED_BACK = "handed-back"  # given back untried: no import, a node fault, or the worker stopped first

    def __str__(self) -> str:
        return self.value


# Jobman's module-level names (``sql.START`` ...), kept for scripts written against it.
START, RUNNING, DONE = Status.START, Status.RUNNING, Status.DONE
ERR_START, ERR_SYNC, ERR_RUN, CANCELED = Status.ERR_START, Status.ERR_SYNC, Status.ERR_RUN, Status.CANCELED

DEFAULT_PRIORITY = 1.0
RESTART_PRIORITY = 2.0
