"""The output for scripts: ``--json`` of ``jobman sqlstatus`` and ``jobman export``, and the one-line
health check of ``jobman sqlstatus --check``.

The JSON is stable: keys are only ever added (``"format": 1`` says which set a script can rely on),
statuses are names (``"DONE"``) with the integer beside them (``"status_code": 2``), times are
ISO 8601 with the offset next to the raw epoch seconds (``"ended"``/``"ended_epoch"``), and a value
JSON cannot hold (NaN, infinities, bytes, sets) is written as ``null`` or as text, so that every
line parses with any JSON reader. The README's "Results at a glance" documents each field.

The check's exit status is what a cron job or a monitor branches on: 0 all is well, 1 jobs ended in
error (more than ``--max-errors``), 3 jobs are waiting and no worker holds a live lease; 2 stays
the status of bad input and of a database that cannot be reached.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..status import START, Status
from ..store.base import Job
from . import jobinfo
from .summary import Summary

__all__ = ["JSON_FORMAT", "CHECK_OK", "CHECK_ERRORS", "CHECK_STALLED", "dumps", "job_record",
           "summary_record", "check"]

JSON_FORMAT = 1
CHECK_OK, CHECK_ERRORS, CHECK_STALLED = 0, 1, 3


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: non-finite floats as null, other unknown types as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dumps(record: Any) -> str:
    """One record as one line of strict JSON (no NaN), keys in a stable order."""
    return json.dumps(_plain(record), allow_nan=False, ensure_ascii=False)


def _status(code: int) -> dict[str, Any]:
    return {"status": Status.name_of(code), "status_code": int(code)}


def job_record(job: Job, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """A job for scripts: its row (id, status, priority, experiment, attempt, host, end_reason,
    error, times) and its state: every key, or only ``keys`` (state or row keys) when given."""
    record: dict[str, Any] = {"id": job.id, **_status(job.status), "priority": job.priority,
                              "experiment": job.experiment, "attempt": job.attempt, "host": job.host,
                              "end_reason": job.end_reason, "error": job.error}
    for name in sorted(jobinfo.TIME_KEYS):
        epoch = getattr(job, name)
        record[name] = jobinfo.iso_time(epoch)
        record[f"{name}_epoch"] = epoch
    if keys is None:
        record["state"] = {k: v for k, v in job.state.items() if not k.startswith("jobman.")}
    else:
        record["state"] = {k: jobinfo.value_of(job, k, None) for k in keys}
    return record


def summary_record(s: Summary) -> dict[str, Any]:
    """The summary of ``sqlstatus --summary --json``: counts by status name, pace, running jobs,
    best results and errors (the same lists the text shows)."""
    pace = s.pace
    return {
        "format": JSON_FORMAT, "table": s.table, "time": jobinfo.iso_time(s.now), "time_epoch": s.now,
        "total": s.total, "counts": {Status.name_of(c): s.counts.get(c, 0) for c in _codes(s.counts)},
        "workers_alive": s.workers_alive, "stalled": s.stalled,
        "pace": None if pace is None else {
            "elapsed_s": pace.elapsed_s, "finished": pace.finished, "jobs_per_hour": pace.jobs_per_hour,
            "mean_job_s": pace.mean_job_s, "eta_s": pace.eta_s},
        "running_total": s.running_total,
        "running": [{"id": r.id, "host": r.host, "attempt": r.attempt, "running_s": r.running_s,
                     "lease_left_s": r.lease_left_s, "progress": dict(r.progress)} for r in s.running],
        "best_key": s.best_key, "best_max": s.best_max, "ranked": s.ranked,
        "best": [{"id": j.id, "value": v, "params": {k: j.state.get(k) for k in s.best_columns}}
                 for j, v in s.best],
        "errors_total": s.errors_total,
        "errors": [{"id": e.id, **_status(e.status), "end_reason": e.end_reason, "error": e.excerpt}
                   for e in s.errors],
    }


def _codes(counts: Mapping[int, int]) -> Iterable[int]:
    return [m.value for m in Status] + sorted(c for c in counts if c not in Status._value2member_map_)


def check(s: Summary, max_errors: int = 0) -> tuple[int, str]:
    """``sqlstatus --check``: the exit status and the one line saying why (see the module docstring).
    Errors come first: a failing sweep with idle workers needs its errors read before more workers."""
    waiting = s.counts.get(START, 0)
    state = (f"{s.counts.get(Status.DONE, 0)} done, {s.running_total} running, {waiting} waiting, "
             f"{s.errors_total} in error")
    if s.errors_total > max_errors:
        last = s.errors[-1]
        allowed = f" (more than --max-errors {max_errors})" if max_errors else ""
        return CHECK_ERRORS, (f"ERRORS table {s.table}: {state}{allowed}; last: job {last.id} "
                              f"{last.excerpt} (jobman sqlstatus --traceback {last.id} DB)")
    if s.stalled:
        return CHECK_STALLED, (f"STALLED table {s.table}: {state}; {waiting} waiting, no worker alive: "
                               "are workers up?")
    return CHECK_OK, f"OK table {s.table}: {state}"
