"""``orig.conf``: the parameters of a job's first run, and the mark of its directory.

Its first line names the job and its table (``# jobman: job 12 of table <uuid>: ...``), which is
what a later run checks before it works in the directory (:mod:`.jobdir`); its last line says the
file is whole. In a directory the worker has just made, nobody else can have an entry, so the file
is created in place with one ``O_EXCL`` open: one file per job where a separate marker and a
temporary file linked into place cost three (``bench/bench_claim.py``).

Never half a file that later runs keep: a write that fails part-way (a full disk) removes what it
wrote, and a file that a machine crash cut short lacks its last line, so the next run writes it
again (atomically, then). A file without the first line was written before these marks existed: it
is whole (those were linked into place) and is kept. ``#`` lines are comments in the ``.conf``
syntax: the file still reads back as the job's parameters.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..files import LINK, atomic_create, atomic_write, create_new, read_unlinked
from .channel import format_conf

__all__ = ["ORIG_CONF", "identity", "is_whole", "write"]

ORIG_CONF = "orig.conf"
_HEAD = "# jobman: job {job} of table {table_uuid}: the parameters of its first run\n"
_HEAD_RE = re.compile(r"# jobman: job (\d+) of table ([^\s:]+):")
_TAIL = "# end of orig.conf\n"
_HEAD_MAX_BYTES = 512


def identity(path: str) -> dict[str, Any] | None:
    """``{"table_uuid": ..., "job": ...}`` from the first line of the ``orig.conf`` at ``path``;
    None when there is no such file or line (written before the marks, or cut short in it)."""
    data = read_unlinked(path, _HEAD_MAX_BYTES)
    m = _HEAD_RE.match(data.decode("utf-8", "replace")) if data else None
    return {"table_uuid": m.group(2), "job": int(m.group(1))} if m else None


def is_whole(path: str) -> bool | None:
    """None when there is no file at ``path``; False when it was cut short (empty, or marked
    but without its last line); True otherwise (a symbolic link included)."""
    data = read_unlinked(path)
    if data is None:
        return None
    if data is LINK:  # someone else's entry: left as it is, never written through
        return True
    if not data:
        return False
    return not data.startswith(b"#") or data.endswith(_TAIL.encode())


def write(path: str, flat: Mapping[str, Any], job_id: int, table_uuid: str | None, *, fresh: bool) -> bool:
    """Write ``orig.conf`` unless a whole one is there (False then, nothing formatted). ``fresh``:
    its directory was just made by this worker, so the file is created in place."""
    if fresh:
        text = _text(flat, job_id, table_uuid)
        try:
            create_new(path, text)
            return True
        except FileExistsError:  # restored from the database (--jobdir=db): as in any directory
            pass
    whole = is_whole(path)
    if whole:
        return False
    if whole is None:
        return atomic_create(path, _text(flat, job_id, table_uuid))
    atomic_write(path, _text(flat, job_id, table_uuid))  # cut short by a crash: replaced whole
    return True


def _text(flat: Mapping[str, Any], job_id: int, table_uuid: str | None) -> str:
    head = _HEAD.format(job=job_id, table_uuid=table_uuid) if table_uuid else ""
    return head + format_conf(flat) + _TAIL
