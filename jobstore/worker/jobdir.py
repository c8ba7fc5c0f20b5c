"""Job directories that no other user, table or job prepared: ``EXPROOT/<db>/<table>/<id>/``.

EXPROOT is often on a shared filesystem (scratch, /tmp, a group project directory). A directory
found there is reused only if it is the user's own and nobody else can write in it; otherwise the
job ends ERR_START with one line saying why, rather than writing the job's files (and appending its
output) through entries someone else made.

The table's directory is found once per worker, before the first claim (:meth:`JobDirs.bind`): it
carries the table's UUID in a marker file, and a table whose usual directory belongs to another
table (a namesake database, a table re-created under the same name) gets its own beside it
(:mod:`.dirnames`). Each job directory carries the job's mark, checked once per job: the first
line of its ``orig.conf`` (:mod:`.origconf`), or a marker file in a directory made before the
job's first run could write one.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..files import check_own_dir, own_dir
from . import origconf
from .dirnames import (
    JOB_MARKER,
    TABLE_MARKER,
    ForeignDirError,
    claim_marker,
    describe,
    read_marker,
    table_dir_candidates,
    write_new_marker,
)

__all__ = ["ForeignDirError", "JobDirs"]


class JobDirs:
    """Creates job directories 0700 (0750 with ``group``) under a table directory checked once."""

    def __init__(self, group: bool = False) -> None:
        self.group = group
        self._checked: set[str] = set()
        self.table_uuid: str | None = None
        self.table_dir: str | None = None
        self._marked: str | None = None  # the job directory whose mark was last checked
        self._unmarked: str | None = None  # made by make(mark=False): marked by write_orig
        self.made: str | None = None  # the job directory the last make() created (not found there)

    def bind(self, exproot: str, dbname: str, table: str, table_uuid: str, database: str) -> str:
        """Find or make the directory of the table ``table_uuid`` under ``exproot`` and return it:
        the first candidate whose marker is this table's, or that has none yet (it is marked now).
        ``OSError`` if it cannot be made (the node's fault), :class:`ForeignDirError` if every
        candidate belongs to another table."""
        os.makedirs(exproot, exist_ok=True)  # EXPROOT: the user's choice, warned about
        doc = {"table_uuid": table_uuid, "database": database, "table": table}
        taken = []
        for path in table_dir_candidates(exproot, dbname, table, table_uuid):
            own_dir(os.path.dirname(path), group=self.group)
            own_dir(path, group=self.group)
            marker_path = os.path.join(path, TABLE_MARKER)
            marker = read_marker(marker_path) or claim_marker(marker_path, doc)
            if marker.get("table_uuid") == table_uuid:
                self.table_uuid, self.table_dir = table_uuid, path
                self._checked.add(path)
                return path
            taken.append(f"{path} holds {describe(marker)}")
        raise ForeignDirError(f"no directory for the jobs of table {table_uuid} ({database}) under {exproot}: "
                              + "; ".join(taken))

    def job_dir(self, job_id: int) -> str:
        """The directory of job ``job_id`` (not made yet): in the table's directory once bound."""
        if self.table_dir is None:
            raise RuntimeError("JobDirs.bind() must find the table's directory first")
        return os.path.join(self.table_dir, str(job_id))

    def make(self, job_dir: str, *, mark: bool = True) -> None:
        """Create ``job_dir`` (and its parents) or check that the existing one is safe to reuse and
        is this job's; :class:`~jobstore.files.UnsafePathError` otherwise. A new directory is
        marked as the job's with a marker file, or, with ``mark=False``, by the ``orig.conf`` that
        the caller writes next (:meth:`write_orig`)."""
        parent = os.path.dirname(job_dir)
        if parent not in self._checked:
            grand = os.path.dirname(parent)
            os.makedirs(os.path.dirname(grand), exist_ok=True)
            own_dir(grand, group=self.group)
            own_dir(parent, group=self.group)
            self._checked.add(parent)
        try:
            os.mkdir(job_dir, 0o750 if self.group else 0o700)
            fresh = True
        except FileExistsError:
            check_own_dir(job_dir, group=self.group)
            fresh = False
        self.made = job_dir if fresh else None
        if self.table_uuid is None or self._marked == job_dir:
            return
        if fresh and not mark:
            self._unmarked = job_dir
        elif fresh:
            write_new_marker(os.path.join(job_dir, JOB_MARKER), self._job_doc(job_dir))
        else:
            self._check_job_mark(job_dir)
        self._marked = job_dir

    def write_orig(self, job_dir: str, flat: Mapping[str, Any]) -> bool:
        """``orig.conf``, the first run's parameters, which also marks the directory as the job's
        (:mod:`.origconf`); False when a whole one was there already."""
        fresh, self._unmarked = self._unmarked == job_dir, None
        return origconf.write(os.path.join(job_dir, origconf.ORIG_CONF), flat, int(os.path.basename(job_dir)),
                              self.table_uuid, fresh=fresh)

    def _job_doc(self, job_dir: str) -> dict[str, Any]:
        return {"table_uuid": self.table_uuid, "job": int(os.path.basename(job_dir))}

    def _check_job_mark(self, job_dir: str) -> None:
        """Refuse ``job_dir`` if its ``orig.conf`` or its marker file names another job; a directory
        with neither (made before marks existed, or left by a crash before the first was written)
        is adopted: marked now."""
        doc = self._job_doc(job_dir)
        marker_path = os.path.join(job_dir, JOB_MARKER)
        mark = (origconf.identity(os.path.join(job_dir, origconf.ORIG_CONF)) or read_marker(marker_path)
                or claim_marker(marker_path, doc))
        if mark.get("table_uuid") != self.table_uuid or mark.get("job") != doc["job"]:
            raise ForeignDirError(f"{job_dir} belongs to {describe(mark)}, not to job {doc['job']} of table "
                                  f"{self.table_uuid}: refusing to run beside its files; move it away and "
                                  "requeue the job")
