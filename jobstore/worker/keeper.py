"""The keeper: the thread beside a running experiment that renews its job's lease and, once the
experiment has run a while, releases the worker's main database connection."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DatabaseError
from ..store.base import Store
from .channel import Channel

KEEPER_TICK_S = 0.25  # the keeper thread looks at its job this often (at most)
HEARTBEAT_RETRY_S = 5.0  # after a failed heartbeat, try again this soon (if sooner than the interval)


class Keeper:
    """The thread beside the experiment: renews the lease ``heartbeat_s`` after its last renewal
    (the claim, a heartbeat or a save: :meth:`Watched.renewed`) through its own store (a clone,
    connected only for each short heartbeat), and after ``idle_release_s`` writes
    the deferred start-of-attempt save and releases the main store's connection.

    ``watch`` starts keeping a job; ``unwatch`` stops and waits for a start save in flight, so
    none happens after the worker started to finish the job (a heartbeat still in flight then is
    refused by the fencing and ignored)."""

    def __init__(self, store: Store, store_lock: threading.Lock, heartbeat_s: float, lease_s: float,
                 log: Callable[[str], None]) -> None:
        self._store = store
        self._store_lock = store_lock
        self._heartbeat_s = heartbeat_s
        self._lease_s = lease_s
        self._log = log
        self._tick_s = min(KEEPER_TICK_S, heartbeat_s / 4)
        self._hb_store: Store | None = None
        self._action = threading.Lock()
        self._closed = threading.Event()
        self._job: Watched | None = None
        self._thread = threading.Thread(target=self._run, name="jobman-keeper", daemon=True)
        self._thread.start()

    # watch/unwatch do not wake the thread: it polls every tick. Waking it for every job made
    # the two threads fight for the GIL and cost milliseconds per no-op job.
    def watch(self, watched: Watched) -> None:
        self._job = watched

    def unwatch(self) -> None:
        self._job = None
        with self._action:  # wait for a start save in flight
            pass

    def close(self) -> None:
        self._job = None
        self._closed.set()
        self._thread.join(timeout=5.0)
        if self._hb_store is not None:
            try:
                self._hb_store.close()
            except Exception:
                pass

    def _run(self) -> None:
        while not self._closed.is_set():
            job = self._job
            now = time.monotonic()
            if job is None or job.next_due() > now:
                wait = self._tick_s if job is None else min(self._tick_s, job.next_due() - now)
                self._closed.wait(wait)
                continue
            try:
                if job.idle_due is not None and now >= job.idle_due:
                    with self._action:  # unwatch() waits for this one: it writes current.conf
                        if self._job is job:
                            self._idle(job, now)
                if now >= job.next_heartbeat:
                    # Not under the action lock: a heartbeat that outlives its job (a database
                    # that hangs) must not delay the finish; once the job has ended it is
                    # refused and ignored.
                    self._heartbeat(job, now)
            except Exception as e:  # never let the keeper die: the lease would silently lapse
                self._log(f"job {job.job_id}: keeper error: {e!r}")

    def _idle(self, job: Watched, now: float) -> None:
        """The deferred start-of-attempt save, then release the main store's connection."""
        job.idle_due = None
        with self._store_lock:
            try:
                if job.start_save is not None:
                    start_save, job.start_save = job.start_save, None
                    if not start_save():
                        job.channel.lose("the job is no longer ours: its start save was refused")
                    job.next_heartbeat = now + self._heartbeat_s  # the save renewed the lease
            except DatabaseError as e:
                self._log(f"job {job.job_id}: start save failed ({e}); the provenance keys will "
                          "come with the next save or the finish")
            finally:
                self._store.release()

    def _heartbeat(self, job: Watched, now: float) -> None:
        if self._hb_store is None:
            self._hb_store = self._store.clone()  # created in this thread (SQLite needs that)
        try:
            ok = self._hb_store.heartbeat(job.job_id, job.attempt, self._lease_s)
        except DatabaseError as e:
            retry_s = min(HEARTBEAT_RETRY_S, self._heartbeat_s)
            if self._job is job:
                self._log(f"job {job.job_id}: heartbeat failed ({e}); retrying in {retry_s:g} s")
            job.next_heartbeat = time.monotonic() + retry_s
            return
        finally:
            self._hb_store.release()
        job.next_heartbeat = now + self._heartbeat_s
        if not ok and self._job is job:
            job.channel.lose("the job is no longer ours: its lease was lost or its status changed")
            self._log(f"job {job.job_id}: attempt {job.attempt} no longer holds the job (lease "
                      "expired or status changed by another client); asking the experiment to stop")
            job.next_heartbeat = float("inf")


@dataclass
class Watched:
    job_id: int
    attempt: int
    channel: Channel
    next_heartbeat: float
    idle_due: float | None  # when to do the deferred start save + release (None: done)
    start_save: Callable[[], bool] | None  # the deferred start-of-attempt save, if still to do

    def renewed(self, heartbeat_s: float) -> None:
        """A save just renewed the lease: no heartbeat is due for ``heartbeat_s`` from now (with
        periodic saves, heartbeats cost a server connection each for nothing)."""
        self.next_heartbeat = max(self.next_heartbeat, time.monotonic() + heartbeat_s)

    def next_due(self) -> float:
        return min(self.next_heartbeat, self.idle_due if self.idle_due is not None else float("inf"))
