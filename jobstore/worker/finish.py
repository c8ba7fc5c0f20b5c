"""Writing a job's state and its end to the table, fenced by its attempt: the worker's saves and
its finish, and what happens when they cannot be recorded.

- A state the table cannot store (:mod:`.finalstate`) ends the job ERR_RUN with the reason and a
  cleaned state, instead of failing inside the finish.
- Only transient database errors (a lost connection, a server restart) are retried, while the lease
  could still be ours; any other refusal by the database is recorded at once as ERR_RUN with its
  message and without the state.
- ``current.conf`` is written only once the table accepted the write: an attempt fenced out (its
  lease lost, or its job set to START elsewhere) never overwrites the files of the attempt that
  holds the job now. What it could not record goes to ``result-<attempt>.json``, named by attempt
  for the same reason, and the lease it kept on a job set to START is released.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..backoff import Backoff
from ..errors import DatabaseError
from ..files import UnsafePathError, atomic_write, open_append
from ..status import ERR_RUN, EndReason, Status
from ..store.base import Job, Store
from ..store.codec import Encoded
from ..store.metrics import Point
from . import finalstate
from .channel import write_conf
from .jobdir import JobDirs
from .outcome import JobOutcome

FINISH_RETRY_FIRST_S = 0.25
FINISH_RETRY_MAX_SLEEP_S = 5.0


def result_file(attempt: int) -> str:
    """The file that keeps an end the table did not record, one per attempt."""
    return f"result-{attempt}.json"


class Recorder:
    """The worker's fenced writes (see the module docstring); shares the worker's store and lock."""

    def __init__(self, store: Store, store_lock: threading.Lock, lease_s: float, dirs: JobDirs,
                 log: Callable[[str], None]) -> None:
        self.store, self.lock, self.lease_s, self.dirs, self.log = store, store_lock, lease_s, dirs, log
        # Called before each end is recorded, with (job, job_dir, status, end_reason, error, flat);
        # returns the first four, possibly changed (--jobdir=db stores the directory there and may
        # turn the end into ERR_RUN).
        self.at_end: Callable[..., tuple[int, str, str | None]] | None = None

    def write_state(self, job: Job, job_dir: str, flat: dict[str, Any], what: str,
                    points: Sequence[Point] = (), enc: Encoded | None = None) -> bool | None:
        """The state (``enc`` if it was encoded already) and metric points into the row, then
        current.conf (the caller holds the lock). False when the job is no longer ours; None when
        the database could not be reached (current.conf is written: the table gets the state with
        the next save or the finish)."""
        try:
            ok = self.store.save(job.id, job.attempt, enc if enc is not None else flat, self.lease_s,
                                 metrics=points)
        except DatabaseError as e:
            self.log(f"job {job.id}: {what} failed ({e}); the table will get the state with the next "
                     "save or the finish")
            ok = None
        if ok is not False:
            write_conf(f"{job_dir}/current.conf", flat)
        return ok

    def finish(self, job: Job, job_dir: str, status: int, end_reason: str,
               flat: dict[str, Any] | None, *, priority: float | None = None, error: str | None = None,
               done_at: tuple[float, float] | None = None, note: str = "",
               metrics: Sequence[Point] = (), claim: Mapping[str, Any] | None = None) -> JobOutcome:
        """Hand the job back (see the module docstring). With ``claim`` (the keyword arguments of
        :meth:`Store.claim`), the next job is claimed with the finish, in one round trip where the
        store can: it is in the outcome's ``next_job`` (None when none was left)."""
        enc: Encoded | None = None  # the state as the store writes it, encoded once here
        if flat is not None:
            if done_at is not None:
                start_time, t0 = done_at
                run_time = time.monotonic() - t0
                flat["jobman.end_time"] = start_time + run_time
                flat["jobman.run_time"] = run_time
            enc, bad = finalstate.encoded(flat)
            if bad:
                status, end_reason, flat = ERR_RUN, EndReason.ERROR, finalstate.cleaned(flat, bad)
                error = (error + "\n" if error else "") + finalstate.describe(bad)
                self.append(job_dir, "stderr", f"jobman: {finalstate.describe(bad)}\n")
                self.log(f"job {job.id}: {finalstate.describe(bad)}: ERR_RUN")
            flat["jobman.status"] = int(status)  # a mirrored key: not in the encoded state
        if self.at_end is not None:
            status, end_reason, error = self.at_end(job, job_dir, status, end_reason, error, flat)
            if flat is not None:
                flat["jobman.status"] = int(status)
        error = finalstate.no_nul(error) if error is not None else None
        outcome = JobOutcome(job.id, job.attempt, status, end_reason, note=note)
        try:
            ok = self._finish_retrying(job, status, end_reason, enc if enc is not None else flat, priority, error,
                                       metrics, claim, outcome)
        except DatabaseError as e:
            if e.transient or flat is None:
                return self._unrecorded(outcome, job, job_dir, flat, priority, error, "cannot record its end",
                                        "database unreachable" if e.transient else "refused by the database",
                                        detail=f": {e}")
            self.log(f"job {job.id}: the database refused its end ({e}): ERR_RUN without the state")
            return self.finish(job, job_dir, ERR_RUN, EndReason.ERROR, None, note=note,
                               error=(error + "\n" if error else "") + f"the database refused the final state: {e}")
        if not ok:
            self._release_lease(job)
            return self._unrecorded(outcome, job, job_dir, flat, priority, error,
                                    f"attempt {job.attempt} no longer holds the job (its lease expired or "
                                    "another client changed its status): its end was refused", "refused")
        if flat is not None:
            try:
                write_conf(f"{job_dir}/current.conf", flat)
            except OSError as e:
                self.log(f"job {job.id}: cannot write current.conf: {e}")
        return outcome

    def _finish_retrying(self, job: Job, status: int, end_reason: str, flat: dict[str, Any] | Encoded | None,
                         priority: float | None, error: str | None, metrics: Sequence[Point],
                         claim: Mapping[str, Any] | None, outcome: JobOutcome) -> bool:
        """The fenced finish (and the next claim, with ``claim``: into ``outcome.next_job``);
        transient failures retried while the lease could still be ours."""
        backoff = Backoff(FINISH_RETRY_FIRST_S, FINISH_RETRY_MAX_SLEEP_S, self.lease_s)
        while True:
            try:
                with self.lock:
                    if claim is None:
                        return self.store.finish(job.id, job.attempt, status=status, end_reason=end_reason,
                                                 state=flat, priority=priority, error=error, metrics=metrics)
                    ok, outcome.next_job = self.store.finish_and_claim(
                        job.id, job.attempt, status=status, end_reason=end_reason, claim=claim, state=flat,
                        priority=priority, error=error, metrics=metrics)
                    return ok
            except DatabaseError as e:
                delay = backoff.next_delay() if e.transient else None
                if delay is None:
                    raise
                self.log(f"job {job.id}: finish failed ({e}); retrying")
                time.sleep(delay)

    def _release_lease(self, job: Job) -> None:
        try:
            with self.lock:
                self.store.release_lease(job.id, job.attempt)
        except DatabaseError:
            pass  # the lease then simply expires

    def _unrecorded(self, outcome: JobOutcome, job: Job, job_dir: str, flat: dict[str, Any] | None,
                    priority: float | None, error: str | None, why: str, note: str, detail: str = "") -> JobOutcome:
        outcome.handed_back = False
        outcome.note = outcome.note or note
        path = self.keep_result(job, job_dir, outcome.status, outcome.end_reason, flat, priority, error)
        self.log(f"job {job.id}: {why} ({Status.name_of(outcome.status)}){detail}; result kept in {path}")
        return outcome

    def keep_result(self, job: Job, job_dir: str, status: int, end_reason: str,
                    flat: dict[str, Any] | None, priority: float | None, error: str | None) -> str:
        path = os.path.join(job_dir, result_file(job.attempt))
        doc = {"job_id": job.id, "attempt": job.attempt, "status": status, "status_name": Status.name_of(status),
               "end_reason": end_reason, "priority": priority, "error": error, "state": flat}
        try:
            self.dirs.make(job_dir)
            atomic_write(path, json.dumps(doc, indent=1, sort_keys=True, default=repr))
        except (OSError, UnsafePathError) as e:
            self.log(f"job {job.id}: cannot write {path}: {e}")
        return path

    def append(self, job_dir: str, name: str, text: str) -> None:
        try:
            self.dirs.make(job_dir)
            with os.fdopen(open_append(os.path.join(job_dir, name)), "a", encoding="utf-8") as f:
                f.write(text)
        except (OSError, UnsafePathError):
            pass
