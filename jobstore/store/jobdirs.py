"""Job directories kept in the database: the side table ``{table}__jobdirs`` (job, attempt, archive,
size, time from the database clock).

For clusters without a shared file system (many HTCondor pools, node-local scratch): with
``jobman sql --jobdir=db`` the worker packs the job directory (checkpoints, current.conf, stdout,
stderr...) into one gzip-compressed tar archive when an attempt ends, and this class stores it,
**fenced by the attempt** (the same ``attempt`` and RUNNING condition as a save, in the same
statement): a worker that lost its lease can never overwrite the archive of the attempt that
replaced it. The next claim, on any machine, extracts it before the experiment starts.
``jobman jobdir DB ID [DEST]`` extracts it for the user.

Packing and unpacking are here too (they are what the table holds): an archive over the size
limit raises :class:`TooLarge` instead of being cut, and extraction refuses members that would
land outside the destination (absolute paths, ``..``, links: tarfile's ``data`` filter).
"""
from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from typing import Any

from ..errors import JobmanError
from .connector import Connector
from .dialect import Dialect

__all__ = ["DEFAULT_MAX_MB", "Archive", "JobDirArchives", "TooLarge", "pack", "unpack"]

DEFAULT_MAX_MB = 64.0
_MB = 1024 * 1024


class TooLarge(JobmanError):
    """The compressed job directory is over the size limit: it is not stored (never cut)."""


@dataclass(frozen=True)
class Archive:
    """A stored job directory: the attempt that wrote it, the compressed bytes, when (epoch s)."""

    attempt: int
    data: bytes
    time: float

    @property
    def size(self) -> int:
        return len(self.data)


class _Capped(io.BytesIO):
    """A BytesIO that refuses to grow past ``cap`` bytes (so an oversized directory is not packed
    whole in memory before being refused)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def write(self, b: Any) -> int:
        if self.tell() + len(b) > self.cap:
            raise TooLarge(f"over {self.cap / _MB:g} MB")
        return super().write(b)


def pack(directory: str, max_mb: float) -> bytes:
    """The contents of ``directory`` as a gzip-compressed tar (names relative to it); raises
    :class:`TooLarge` when the compressed archive would exceed ``max_mb``."""
    buf = _Capped(int(max_mb * _MB))
    try:
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name in sorted(os.listdir(directory)):
                tar.add(os.path.join(directory, name), arcname=name)
    except TooLarge:
        raise TooLarge(f"the job directory {directory} is over --jobdir-max-mb {max_mb:g} once compressed: "
                       "it is not stored in the database (it stays on this machine); raise --jobdir-max-mb "
                       "or keep large files outside the job directory") from None
    return buf.getvalue()


def unpack(data: bytes, dest: str) -> list[str]:
    """Extract an archive made by :func:`pack` into ``dest`` (created if missing); the names
    extracted. Members that would land outside ``dest`` are refused (tarfile's ``data`` filter)."""
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        tar.extractall(dest, filter="data")
    return names


class JobDirArchives:
    """The archived job directories of one job table (see the module docstring)."""

    def __init__(self, db: Connector, sql: Dialect) -> None:
        self.db, self.sql = db, sql

    def put(self, job_id: int, attempt: int, data: bytes) -> bool:
        """Store ``data`` as job ``job_id``'s directory if ``attempt`` still holds the job; False
        (nothing written) otherwise."""
        params = {"id": int(job_id), "attempt": int(attempt), "archive": data, "size": len(data)}
        return bool(self.db.run("jobdir_put", lambda c: self.sql.exec(c, "jobdir_put", params).rowcount) == 1)

    def get(self, job_id: int) -> Archive | None:
        """The last stored directory of job ``job_id``, or None."""
        row = self.db.run("jobdir_get", lambda c: self.sql.exec(c, "jobdir_get", {"id": int(job_id)}).fetchone())
        if row is None:
            return None
        attempt, data, _size, time = row
        return Archive(int(attempt), bytes(data), float(time))
