"""Walltime awareness: a worker that knows when its batch job ends claims no job it could not finish.

A worker launched with ``-n 0`` in a batch job with a time limit otherwise claims a job a minute
before the limit, is killed by the scheduler, and the job waits for its lease to expire (or, with
a ``--signal`` warning, is handed back having done nothing useful). With ``--min-time-left S`` the
worker compares what remains of its time with S before every claim, and when less remains it
claims nothing more, says so in one line, and ends as if the table were empty (a worker started
with self-requeue asks for its task to run again, with a fresh time limit, while jobs wait).

Where the end comes from, read once at start-up:

- ``--walltime S``: S seconds from the worker's start (any scheduler, or none);
- under SLURM: the job's ``EndTime`` (``scontrol -o show job $SLURM_JOB_ID``, else
  ``squeue -h -j $SLURM_JOB_ID -o %e``), which SLURM moves if the limit is changed later; it is
  the controller's local time, compared with this node's clock (both kept by NTP on a cluster).

This module knows SLURM's commands and environment variables (as :mod:`.provenance` and
:mod:`.selfrequeue` do), not the backends.
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Deadline", "resolve_deadline", "slurm_end_time"]

SLURM_QUERY_TIMEOUT_S = 30.0
SLURM_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

Run = Callable[[list[str]], "str | None"]


@dataclass(frozen=True)
class Deadline:
    """When this worker's time ends (epoch seconds), where that came from, and how much must remain
    for a new claim."""

    end_s: float
    source: str  # "SLURM job 123 (EndTime 2026-11-12T10:00:00)", "--walltime 3600"
    min_left_s: float

    def left_s(self, now_s: float | None = None) -> float:
        return self.end_s - (time.time() if now_s is None else now_s)

    def refusal(self, now_s: float | None = None) -> str | None:
        """The one line saying why no job is claimed now, or None while enough time remains."""
        left = self.left_s(now_s)
        if left >= self.min_left_s:
            return None
        return (f"{max(0.0, left):.0f} s left before the end of {self.source}, less than --min-time-left "
                f"{self.min_left_s:g}: claiming no new job")



def _run(argv: list[str]) -> str | None:
    """stdout of a SLURM query, or None when it cannot be run or fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=SLURM_QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _parse_slurm_time(text: str) -> float | None:
    try:
        return time.mktime(time.strptime(text.strip(), SLURM_TIME_FORMAT))
    except ValueError:  # "Unknown", "N/A", "NONE": no time limit
        return None


def _scontrol_end(out: str) -> str | None:
    for field in out.split():
        if field.startswith("EndTime="):
            return field.split("=", 1)[1]
    return None


def slurm_end_time(env: Mapping[str, str] | None = None, run: Run = _run) -> tuple[float, str] | None:
    """(end in epoch seconds, its EndTime text) of this process's SLURM job, or None outside SLURM
    or for a job without a time limit."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID", "").strip()
    if not job:
        return None
    out = run(["scontrol", "-o", "show", "job", job])
    text = _scontrol_end(out) if out else None
    if text is None:
        out = run(["squeue", "-h", "-j", job, "-o", "%e"])
        text = out.strip().splitlines()[0] if out and out.strip() else None
    end = _parse_slurm_time(text) if text else None
    return None if end is None or text is None else (end, text.strip())


def resolve_deadline(walltime_s: float | None, min_left_s: float | None, log: Callable[[str], None],
                     env: Mapping[str, str] | None = None, run: Run = _run,
                     started_s: float | None = None) -> Deadline | None:
    """The worker's deadline, or None when it has none to keep: neither option given, or
    ``--min-time-left`` with no end known (said in one line)."""
    if walltime_s is None and min_left_s is None:
        return None
    min_left = 0.0 if min_left_s is None else min_left_s
    if walltime_s is not None:
        start = time.time() if started_s is None else started_s
        return Deadline(start + walltime_s, f"--walltime {walltime_s:g}", min_left)
    env = os.environ if env is None else env
    found = slurm_end_time(env, run)
    if found is None:
        where = (f"SLURM job {env['SLURM_JOB_ID']} has no end time" if env.get("SLURM_JOB_ID")
                 else "not running under SLURM")
        log(f"--min-time-left {min_left:g} ignored: {where}; give --walltime S")
        return None
    end, text = found
    return Deadline(end, f"SLURM job {env['SLURM_JOB_ID']} (EndTime {text})", min_left)
