"""No job left behind: a ``-n 0`` worker with nothing to claim waits for the leases of dead workers.

Measured before this module: 24 workers, 6 of them SIGKILLed mid-run; the 18 survivors found no
START job, answered "no more jobs" and left while the 6 dead workers' jobs were still leased; once
those leases expired, the jobs sat in START with no worker left to run them.

So before a ``-n 0`` worker leaves, it asks the store for jobs still leased by a worker presumed dead
(no heartbeat nor save for two heartbeat intervals of this worker). If there are any, it says so
once, releases its connection, sleeps until the first of those leases expires (re-checking at
least every ``stale_s``, a stop signal ends the wait) and claims again: the claim reaps the expired
lease and this worker runs the job. Jobs of live workers, however long, keep a fresh heartbeat and
never keep it waiting.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import DatabaseError
from ..store.base import Store

__all__ = ["LeftBehind", "STALE_HEARTBEATS", "TICK_S"]

STALE_HEARTBEATS = 2.0  # a holder silent for this many heartbeat intervals is presumed dead
TICK_S = 0.2  # the wait's granularity (stop signals, lease expiry)
MARGIN_S = 0.05  # past the lease's expiry, so that the next claim finds it expired


class LeftBehind:
    """Waits, before a worker leaves, for the leases of workers presumed dead (module docstring)."""

    def __init__(self, store: Store, lock: threading.Lock, heartbeat_s: float,
                 log: Callable[[str], None]) -> None:
        self.store, self.lock, self.log = store, lock, log
        self.stale_s = STALE_HEARTBEATS * heartbeat_s
        self._said: int | None = None  # the count last announced, to say it once

    def wait(self, stopped: Callable[[], bool]) -> bool:
        """True after waiting for a dead worker's lease (the caller claims again); False when there
        is none (the worker may leave)."""
        try:
            with self.lock:
                n, left_s = self.store.stale_leases(self.stale_s)
                self.store.release()
        except DatabaseError as e:
            self.log(f"cannot look for jobs of dead workers: {e}")
            return False
        if not n:
            self._said = None
            return False
        left_s = max(0.0, left_s or 0.0)
        if self._said != n:
            self._said = n
            self.log(f"{n} job(s) still leased by workers presumed dead (no heartbeat for "
                     f"{self.stale_s:g} s): waiting {left_s:.0f} s for the first lease to expire, then running it")
        end = time.monotonic() + min(left_s, self.stale_s) + MARGIN_S
        while not stopped() and time.monotonic() < end:
            time.sleep(min(TICK_S, max(0.0, end - time.monotonic())))
        return True
