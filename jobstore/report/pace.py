"""How fast a sweep goes: elapsed time, throughput, mean job time and an ETA, for the summary of
``jobman sqlstatus --summary/--watch`` and its ``--json``/``--check`` forms.

Everything is read from the times the database recorded on each row (the start and end of a job's
last attempt): the sweep started when its first job did, and its pace is the jobs that ended
(DONE or ERR_*) per hour since then. The ETA assumes that pace holds for the jobs still waiting or
running; it is None until a job has ended, which the text says rather than inventing a figure.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..store.base import Job

__all__ = ["Pace", "pace_of"]

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Pace:
    """The sweep's pace at ``now``; the optional figures are None when the table cannot say yet."""

    elapsed_s: float | None  # since the first job started; to the last end once nothing is left
    finished: int  # jobs that ended, DONE or ERR_*
    jobs_per_hour: float | None
    mean_job_s: float | None  # mean duration of the DONE jobs' last attempt
    eta_s: float | None  # time left for the jobs waiting or running at this pace


def pace_of(done: Sequence[Job], failed: Sequence[Job], running: Sequence[Job], remaining: int,
            now: float) -> Pace:
    """The pace from the DONE, ERR_* and RUNNING jobs, ``remaining`` jobs being START or RUNNING."""
    ended = [*done, *failed]
    starts = [j.started for j in (*ended, *running) if j.started is not None]
    if not starts:
        return Pace(None, len(ended), None, None, None)
    ends = [j.ended for j in ended if j.ended is not None]
    until = now if remaining or not ends else max(ends)
    elapsed_s = max(0.0, until - min(starts))
    durations = [j.ended - j.started for j in done if j.ended is not None and j.started is not None]
    mean_job_s = sum(durations) / len(durations) if durations else None
    per_hour = len(ended) / elapsed_s * SECONDS_PER_HOUR if ended and elapsed_s > 0 else None
    eta_s = remaining / per_hour * SECONDS_PER_HOUR if per_hour else None
    return Pace(elapsed_s, len(ended), per_hour, mean_job_s, eta_s if remaining else 0.0)
