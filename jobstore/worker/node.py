"""Faults of the node a worker runs on, told apart from faults of its jobs.

An unwritable, full or unmounted EXPROOT used to turn every claimed job into ERR_START within
milliseconds (20 jobs in 0.08 s): one bad node drained the whole queue. The node is the problem
there, not the jobs: EXPROOT is checked before the first claim, a job directory that cannot be
made hands its job back untouched and stops the worker, and :data:`INFRA_STREAK_MAX` job
directories in a row that fail after they were made stop it too.
"""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from ..files import UnsafePathError
from .jobdir import ForeignDirError

if TYPE_CHECKING:
    from ..store.base import Store
    from .jobdir import JobDirs

__all__ = ["INFRA_STREAK_MAX", "NODE_FAULT", "bind_table_dir", "check_exproot"]

INFRA_STREAK_MAX = 3  # ERR_STARTs in a row caused by the job directory: this node is unusable
NODE_FAULT = "node fault"  # the JobOutcome note that stops the worker


def check_exproot(exproot: str) -> str | None:
    """Why job directories cannot be written under ``exproot`` (one line), or None: creates it if
    missing, then writes and removes one small file in it (a full disk refuses that too)."""
    try:
        os.makedirs(exproot, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=".jobman-probe-", dir=exproot)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(path)
    except OSError as e:
        return (f"EXPROOT {exproot!r} is not writable here ({e.strerror or e}): no job was claimed; "
                "run this worker where EXPROOT is mounted, writable and not full")
    return None


def bind_table_dir(store: Store, dirs: JobDirs, exproot: str) -> str | None:
    """Find the table's directory under ``exproot`` (marked with the table's UUID, :mod:`.dirnames`)
    before the first claim: why it cannot be used (one line), or None. A database error is the
    caller's to report."""
    table_uuid = store.table_uuid()
    try:
        dirs.bind(exproot, store.dbname, store.table, table_uuid, store.url.display())
    except ForeignDirError as e:
        return f"{e}: no job was claimed"
    except (OSError, UnsafePathError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return (f"cannot make the table's directory under EXPROOT {exproot!r} ({why}): no job was claimed; "
                "run this worker where EXPROOT is mounted, writable and not full")
    return None
