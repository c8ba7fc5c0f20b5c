"""Writing files so that a killed process never leaves half of one: :func:`atomic_write`."""
from __future__ import annotations

import os
import secrets

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644, fsync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never a truncated one; on failure (disk full) the
    temporary file is removed and ``path`` is left as it was. ``mode`` is filtered by the umask as
    for any new file. The temporary name is unpredictable and created exclusively (never through a
    link someone else left there). No fsync unless asked: the callers' files are copies of what the
    table holds, and a flush per write would dominate short jobs."""
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
