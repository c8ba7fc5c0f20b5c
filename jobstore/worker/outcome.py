"""What a worker did: one :class:`JobOutcome` per job it ran, gathered in a :class:`WorkerReport`
whose exit code and summary line ``jobman sql`` prints."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..status import ERR_RUN, ERR_START, Status
from ..store.base import Job

__all__ = ["JobOutcome", "WorkerReport"]


@dataclass
class JobOutcome:
    """How one claimed job ended, from this worker's point of view."""

    job_id: int
    attempt: int
    status: int
    end_reason: str
    handed_back: bool = True  # False: the finish was refused or could not be written
    note: str = ""
    # The job claimed with the finish (Recorder.finish with claim=), for the worker's loop to run next.
    next_job: Job | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return not self.handed_back or self.status in (ERR_RUN, ERR_START)

    @property
    def label(self) -> str:
        if not self.handed_back:
            return f"{Status.name_of(self.status)}, not recorded"
        return Status.name_of(self.status)


@dataclass
class WorkerReport:
    """What a worker did: its jobs, and why it stopped."""

    worker_id: str
    outcomes: list[JobOutcome] = field(default_factory=list)
    no_more_jobs: bool = False
    stop_signal: str | None = None  # name of the stop signal that ended the loop
    interrupted: bool = False  # a second SIGINT or SIGTERM (KeyboardInterrupt)
    interrupted_by: int | None = None  # that signal's number (None: a KeyboardInterrupt of another origin)
    db_error: str | None = None
    import_error: str | None = None  # the experiment does not import here: the worker stopped
    node_error: str | None = None  # EXPROOT or job directories unusable on this node: the worker stopped
    out_of_time: str | None = None  # less than --min-time-left remained: no new claim (why)

    @property
    def failures(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.failed]

    def summary(self) -> str | None:
        """``2 of 5 jobs failed: ids 3 (ERR_RUN), 7 (ERR_START)``, or None when none failed."""
        bad = self.failures
        if not bad:
            return None
        ids = ", ".join(f"{o.job_id} ({o.label})" for o in bad)
        return f"{len(bad)} of {len(self.outcomes)} jobs failed: ids {ids}"

    @property
    def exit_code(self) -> int:
        """0: every job handed back (a stop signal included); 130: interrupted by a second ^C, 143
        by a second SIGTERM (128 + the signal); 1: a job failed, a result could not be recorded, or
        the database was unreachable; 2: the experiment does not import where this worker runs."""
        if self.interrupted:
            return 128 + (self.interrupted_by or 2)  # SIGINT is 2
        if self.import_error:
            return 2
        return 1 if self.failures or self.db_error or self.node_error else 0
