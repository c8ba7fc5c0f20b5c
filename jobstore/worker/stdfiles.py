"""A job's ``stdout``/``stderr`` files at the file-descriptor level, so that the output of C
extensions and subprocesses lands there too."""
from __future__ import annotations

import os

from ..files import open_append
from .channel import flush_std


class StdFiles:
    """Append file descriptors 1 and 2 to a job's ``stdout``/``stderr`` files, and restore them.

    The original descriptors are duplicated once per worker (not per job), so a job costs one
    ``open`` + ``dup2`` + ``close`` per stream going in and one ``dup2`` coming out."""

    NAMES = ((1, "stdout"), (2, "stderr"))

    def __init__(self) -> None:
        self._saved = {fd: os.dup(fd) for fd, _ in self.NAMES}
        self._active = False

    def enter(self, job_dir: str, *, fresh: bool = False) -> None:
        """``fresh``: ``job_dir`` was just made by this worker (see :func:`~jobstore.files.open_append`)."""
        flush_std()
        self._active = True
        try:
            for fd, name in self.NAMES:
                target = open_append(f"{job_dir}/{name}", fresh=fresh)  # no link followed, no one else's file
                try:
                    os.dup2(target, fd)
                finally:
                    os.close(target)
        except BaseException:
            self.exit()
            raise

    def exit(self) -> None:
        if not self._active:
            return
        self._active = False
        flush_std()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)

    def close(self) -> None:
        self.exit()
        for saved in self._saved.values():
            os.close(saved)
        self._saved.clear()
