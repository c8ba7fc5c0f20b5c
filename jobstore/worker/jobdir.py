"""Job directories that no other user prepared: ``EXPROOT/<dbname>/<table>/<id>/``.

EXPROOT is often on a shared filesystem (scratch, /tmp, a group project directory). A directory
found there is reused only if it is the user's own and nobody else can write in it; otherwise the
job ends ERR_START with one line saying why, rather than writing the job's files (and appending its
output) through entries someone else made. The two parents are checked once per worker, a job's own
directory once per job (one ``mkdir`` in the usual case).
"""
from __future__ import annotations

import os

from ..files import check_own_dir, own_dir

__all__ = ["JobDirs"]


class JobDirs:
    """Creates job directories 0700 (0750 with ``group``) under parents checked once."""

    def __init__(self, group: bool = False) -> None:
        self.group = group
        self._checked: set[str] = set()

    def make(self, job_dir: str) -> None:
        """Create ``job_dir`` (and its parents) or check that the existing one is safe to reuse;
        :class:`~jobstore.files.UnsafePathError` otherwise."""
        parent = os.path.dirname(job_dir)
        if parent not in self._checked:
            grand = os.path.dirname(parent)
            os.makedirs(os.path.dirname(grand), exist_ok=True)  # EXPROOT: the user's choice, warned about
            own_dir(grand, group=self.group)
            own_dir(parent, group=self.group)
            self._checked.add(parent)
        try:
            os.mkdir(job_dir, 0o750 if self.group else 0o700)
        except FileExistsError:
            check_own_dir(job_dir, group=self.group)
