"""The worker (``jobman sql``) and what runs beside an experiment.

- :mod:`.loop`: claim a job, run ``experiment(state, channel)`` in its job directory, record the end.
- :mod:`.channel`: the ``channel`` handed to experiments (save, switch, stop signals, ``.conf`` files).
- :mod:`.keeper`: the heartbeat thread that renews the lease and releases an idle connection.
- :mod:`.stdfiles`: the job's ``stdout``/``stderr`` files at the file-descriptor level.
- :mod:`.provenance`: where and how an attempt ran (host, scheduler ids, GPU, times).
"""
from __future__ import annotations

from .channel import Channel
from .loop import run_worker
from .options import HEARTBEAT_FRACTION, LEASE_S, MAX_ATTEMPTS, WorkerOptions
from .outcome import JobOutcome, WorkerReport

__all__ = ["run_worker", "WorkerOptions", "WorkerReport", "JobOutcome", "Channel",
           "LEASE_S", "HEARTBEAT_FRACTION", "MAX_ATTEMPTS"]
