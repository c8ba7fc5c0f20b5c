"""What the job table knows about a job besides its state: the row's columns (``error``,
``end_reason``, ``attempt``, ``host``, ``worker`` and the times) as keys that ``sqlstatus --print``,
``export --keys`` and ``sqlstatus --traceback`` show.

A row key is asked for by its bare name (``--print=error``) or under ``jobman.`` (``jobman.error``).
A bare name that is also a key of the job's state shows the state's value (the experiment's own
``error``, say); the ``jobman.`` form always means the row. Times are the database's epoch seconds,
shown as local ISO 8601 with the offset (``2026-11-03T14:05:09+01:00``).
"""
from __future__ import annotations

import datetime
import difflib
import os
from collections.abc import Sequence
from typing import Any

from ..status import Status
from ..store.base import Job

__all__ = ["ROW_KEYS", "TIME_KEYS", "row_key", "value_of", "iso_time", "one_line", "stderr_path",
           "traceback_text", "unknown_key_hint"]

ROW_KEYS = ("error", "end_reason", "attempt", "host", "worker", "created", "started", "ended")
TIME_KEYS = frozenset({"created", "started", "ended"})
_PREFIX = "jobman."
_MISSING = object()


def row_key(key: str) -> str | None:
    """The row column that ``key`` names (``error`` or ``jobman.error`` → ``error``), else None."""
    name = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
    return name if name in ROW_KEYS else None


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as local ISO 8601 with the UTC offset, to the second."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(float(epoch)).astimezone().isoformat(timespec="seconds")


def value_of(job: Job, key: str, default: Any = _MISSING) -> Any:
    """The value of ``key`` for ``job``: the state's, else the row's (see the module docstring);
    ``default`` when neither has it (a :class:`KeyError` without one)."""
    column = row_key(key)
    if key in job.state and not (column and key.startswith(_PREFIX)):
        return job.state[key]
    if column is None:
        if default is _MISSING:
            raise KeyError(key)
        return default
    value = getattr(job, column)
    return iso_time(value) if column in TIME_KEYS else value


def one_line(value: Any) -> str:
    """A value on one line: the last non-empty line of a multi-line text (a traceback's exception)."""
    text = str(value)
    if "\n" not in text:
        return text
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def stderr_path(job: Job) -> str | None:
    """The job's stderr file, from the job directory its last attempt recorded."""
    workdir = job.state.get("jobman.sql.host_workdir")
    return os.path.join(str(workdir), "stderr") if workdir else None


def traceback_text(job: Job, history: Sequence[Any] = ()) -> str:
    """``sqlstatus --traceback ID``: the job's status, why and where its last attempt ended, the
    path of its stderr file, and its whole error text; then the errors that requeues by hand cleared
    from its row (``history``: :class:`~jobstore.store.history.PastError`, oldest first)."""
    host = job.state.get("jobman.sql.host_name") or job.host
    head = (f"Job {job.id}: {Status.name_of(job.status)}"
            + (f" ({job.end_reason})" if job.end_reason else "")
            + f", attempt {job.attempt}" + (f" on {host}" if host else "")
            + (f", ended {iso_time(job.ended)}" if job.ended is not None else ""))
    path = stderr_path(job)
    lines = [head, f"stderr: {path}" + (f" (on {host})" if host else "") if path else "stderr: none yet (never started)"]
    lines.append(job.error.rstrip("\n") if job.error else "no error recorded"
                 + (" since its last requeue" if history else ""))
    for past in reversed(history):
        lines.append(f"-- earlier: attempt {past.attempt}, {Status.name_of(past.status)}"
                     + (f" ({past.end_reason})" if past.end_reason else "")
                     + (f", ended {iso_time(past.ended)}" if past.ended is not None else "")
                     + f"; cleared by a requeue {iso_time(past.cleared)}:")
        lines.append(past.error.rstrip("\n"))
    return "\n".join(lines) + "\n"


def unknown_key_hint(known: Sequence[str], key: str | None = None, rows: bool = True) -> str:
    """The end of an 'unknown key' message: the closest keys to ``key`` (``did you mean ...?``), then
    the state's keys and (with ``rows``: where the option takes them) the row's."""
    close = difflib.get_close_matches(key, [*known, *(ROW_KEYS if rows else ())], n=3, cutoff=0.6) if key else []
    guess = f"did you mean {' or '.join(repr(k) for k in close)}? " if close else ""
    return (f"{guess}the table's keys are {', '.join(known) or 'none'}"
            + (f"; the row's: {', '.join(ROW_KEYS)}" if rows else ""))
