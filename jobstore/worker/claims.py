"""How the worker's loop gets its next job: whether it may claim one now, the claim itself (from
the table, else the next point of a search), and the claim that rides on a finish.

A worker that will go on claims its next job in the statement that records the end of the last
one (:meth:`~jobstore.store.base.Store.finish_and_claim`): one round trip per job where a finish
and then a claim cost two (``bench/bench_claim.py``). Only when the loop would claim at once
after that job: not for the last of ``-n K``, after a stop signal, with too little time left,
after a node fault, or while INCOMPLETEs returned unasked make the loop pause first.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import DatabaseError, UsageError
from ..store.base import Job, Store
from . import provenance
from .channel import StopSignals
from .options import WorkerOptions
from .outcome import WorkerReport

__all__ = ["Claims"]


class Claims:
    """The claims of one worker (see the module docstring); shares the worker's store and lock."""

    def __init__(self, store: Store, lock: threading.Lock, options: WorkerOptions, worker_id: str,
                 report: WorkerReport, log: Callable[[str], None]) -> None:
        self.store, self.lock, self.options, self.worker_id = store, lock, options, worker_id
        self.report, self.log = report, log
        self.goes_on = False  # whether the loop claims another job right after the current one

    def stop_now(self, signals: StopSignals) -> bool:
        """Whether the loop stops rather than start another job (a stop signal, too little time left)."""
        if signals.received is not None:
            self.log(f"{signals.name} received: claiming no more jobs")
            return True
        if late := self._too_late():
            self.report.out_of_time = late
            self.log(late)
            return True
        return False

    def args(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`Store.claim` for this worker."""
        opts = self.options
        return {"worker": self.worker_id, "host": provenance.host_name(), "lease_s": opts.lease_s,
                "max_attempts": opts.max_attempts}

    def claim(self) -> Job | None:
        """The next job: from the table, else the next point of a search; None when none is left or
        the database failed (then ``report.db_error`` says why)."""
        args = self.args()
        try:
            with self.lock:
                job = self.store.claim(**args)
                if job is None:
                    del args["max_attempts"]
                    job = self.store.claim_from_search(**args)
        except (DatabaseError, UsageError) as e:
            self.report.db_error = str(e)
            self.log(f"cannot claim a job: {e}")
            return None
        return job

    def with_finish(self, signals: StopSignals, pausing: bool) -> dict[str, Any] | None:
        """The claim to make with the current job's finish, or None when the loop will stop or
        pause (``pausing``) before it claims again."""
        if not self.goes_on or pausing or signals.received is not None or self.report.node_error or self._too_late():
            return None
        return self.args()

    def _too_late(self) -> str | None:
        """Why no job should start now with the time left (``--min-time-left``), else None."""
        return self.options.deadline.refusal() if self.options.deadline is not None else None
