"""What ``jobman sql`` takes besides DB and EXPROOT (:class:`WorkerOptions`), and the defaults of the
lease and the heartbeat, chosen from ``bench/bench_scale.py``'s figures."""
from __future__ import annotations

from dataclasses import dataclass

from .importer import IMPORT_TIMEOUT_S
from .jobdir_archive import DEFAULT_MAX_MB
from .walltime import Deadline

__all__ = ["WorkerOptions", "LEASE_S", "HEARTBEAT_FRACTION", "MAX_ATTEMPTS", "IDLE_RELEASE_S"]

# A heartbeat is a connection of its own (a server process forked per heartbeat, without a pooler):
# bench/bench_scale.py measured 1,000 directly connected workers with 10-minute jobs saving every
# 2 minutes at 50% of a server core with lease 60 s / heartbeat 15 s, 19% at 300 s / 60 s, 13% once a
# save counted as a renewal (keeper.py), and under 10% with a heartbeat every 150 s, which a save
# every 2 minutes makes unnecessary (README, "Running at scale"). Half the lease still leaves
# 150 s of retries (every 5 s, keeper.HEARTBEAT_RETRY_S) through a database outage before the lease lapses.
LEASE_S = 300.0
HEARTBEAT_FRACTION = 0.5  # default heartbeat interval = lease * this, after the last renewal (save or heartbeat)
MAX_ATTEMPTS = 3
IDLE_RELEASE_S = 1.0  # PostgreSQL: release the main connection once an experiment ran this long


@dataclass
class WorkerOptions:
    """What ``jobman sql`` takes besides DB and EXPROOT; defaults in one place."""

    n: int = 1  # jobs to run; <= 0: until none is claimable
    finish_up_after_s: float | None = None
    save_every_s: float | None = None
    lease_s: float = LEASE_S
    heartbeat_s: float | None = None  # None: lease_s * HEARTBEAT_FRACTION
    max_attempts: int = MAX_ATTEMPTS
    idle_release_s: float | None = None  # None: IDLE_RELEASE_S on PostgreSQL, 0 on SQLite
    worker_id: str | None = None
    group_access: bool = False  # job directories 0750 instead of 0700
    allow: tuple[str, ...] = ()  # experiment prefixes this worker may import (empty: any)
    jobdir: str = "shared"  # "db": job directories archived in the database (worker/jobdir_archive.py)
    jobdir_max_mb: float = DEFAULT_MAX_MB
    import_timeout_s: float = IMPORT_TIMEOUT_S  # an experiment's import past this is ERR_START
    deadline: Deadline | None = None  # claim nothing once less than its min_left_s remains (walltime.py)

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s * HEARTBEAT_FRACTION
