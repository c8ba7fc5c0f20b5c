"""``jobman sql --jobdir=db``: the worker's side of job directories kept in the database.

``shared`` (the default) leaves job directories where they are: EXPROOT must then be on a file
system every node sees, or a job resumed elsewhere starts from scratch. With ``db``:

- **on claim**, before the experiment starts, the job's last archived directory (if any) is
  extracted into its (possibly new, possibly other-machine) job directory;
- **when the attempt ends** (INCOMPLETE, DONE, ERR_*), before the finish, the directory is packed
  and stored, fenced by the attempt (:mod:`jobstore.store.jobdirs`). A directory over
  ``--jobdir-max-mb`` once compressed is not stored: the job ends ERR_RUN with that error in its
  row (its files stay on this machine), never a silent loss.

Only an attempt whose directory was prepared here is archived: a worker that hands a job back
untouched (its experiment does not import) never replaces the stored directory with an empty one.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import DatabaseError
from ..status import ERR_RUN, EndReason
from ..store.base import Job, Store
from ..store.jobdirs import DEFAULT_MAX_MB, TooLarge, pack, unpack
from .channel import write_conf

__all__ = ["JOBDIR_MODES", "DEFAULT_MAX_MB", "JobDirSync"]

JOBDIR_MODES = ("shared", "db")


class JobDirSync:
    """Restores a job's directory on claim and stores it when the attempt ends (``mode`` "db");
    does nothing with ``mode`` "shared"."""

    def __init__(self, store: Store, lock: threading.Lock, mode: str, max_mb: float,
                 log: Callable[[str], None]) -> None:
        self.store, self.lock, self.mode, self.max_mb, self.log = store, lock, mode, max_mb, log
        self._prepared: tuple[int, int] | None = None  # (job, attempt) whose directory is here

    def restore(self, job: Job, job_dir: str) -> None:
        """Extract the job's stored directory into ``job_dir`` (which exists); a database error
        propagates (the job cannot start without its checkpoint)."""
        if self.mode != "db":
            return
        with self.lock:
            archive = self.store.jobdirs().get(job.id)
        if archive is not None:
            names = unpack(archive.data, job_dir)
            self.log(f"job {job.id}: restored its directory from the database ({len(names)} entries, "
                     f"{archive.size} bytes, written by attempt {archive.attempt})")
        self._prepared = (job.id, job.attempt)

    def store_at_end(self, job: Job, job_dir: str, status: int, end_reason: str,
                     error: str | None, flat: dict[str, Any] | None = None) -> tuple[int, str, str | None]:
        """Store the directory of the ending attempt, with the final ``current.conf`` (this node's
        own directory: no other attempt writes it); the (status, end_reason, error) to finish
        with: ERR_RUN and the reason when the directory is too large to store."""
        if self.mode != "db" or self._prepared != (job.id, job.attempt):
            return status, end_reason, error
        self._prepared = None
        if flat is not None:
            try:
                write_conf(f"{job_dir}/current.conf", flat)
            except OSError as e:
                self.log(f"job {job.id}: cannot write current.conf: {e}")
        try:
            data = pack(job_dir, self.max_mb)
        except TooLarge as e:
            self.log(f"job {job.id}: {e}: ERR_RUN")
            return ERR_RUN, EndReason.ERROR, f"{e}\n" + (error or "")
        except OSError as e:
            self.log(f"job {job.id}: cannot pack its directory: {e}: ERR_RUN")
            return ERR_RUN, EndReason.ERROR, f"cannot pack the job directory {job_dir}: {e}\n" + (error or "")
        try:
            with self.lock:
                ok = self.store.jobdirs().put(job.id, job.attempt, data)
        except DatabaseError as e:
            self.log(f"job {job.id}: cannot store its directory ({e}); it stays in {job_dir}")
            return status, end_reason, error
        if not ok:
            self.log(f"job {job.id}: attempt {job.attempt} no longer holds the job: its directory was not stored")
        return status, end_reason, error
