"""Names and marker files that tie a job directory to one job of one table.

``EXPROOT/<db>/<table>/<id>/`` alone was shared by two SQLite files with the same basename, by
same-named databases on two servers and by a table dropped and made again (a job ran beside another
job's ``orig.conf`` and checkpoint), and a database named ``../../x`` put job directories outside
EXPROOT. Now:

- the database name becomes exactly one path component (:func:`path_component`);
- the table's directory holds ``.jobman-table`` (0600: the table's UUID, from its meta table, and
  its URL without password, for humans). A table whose directory holds another table's marker uses
  ``<table>@<first 8 hex digits of its UUID>/`` beside it instead: the old table's files are never
  touched, the new table's jobs still run. A directory made before markers existed is adopted by
  the first table that uses it;
- each job directory holds ``.jobman-job`` (the table's UUID and the job id): a directory that
  belongs to another job is refused.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..files import LINK, UnsafePathError, atomic_create, read_unlinked, write_new

__all__ = ["JOB_MARKER", "TABLE_MARKER", "ForeignDirError", "path_component", "read_marker", "table_dir_candidates",
           "write_new_marker"]

TABLE_MARKER = ".jobman-table"
JOB_MARKER = ".jobman-job"
MAX_COMPONENT_BYTES = 120  # well under NAME_MAX (255), with room for suffixes
MARKER_MAX_BYTES = 65536
_ESCAPED = frozenset("/\\%~")  # '%' and '~' too: they are the escape and the long-name mark


class ForeignDirError(UnsafePathError):
    """A job directory that belongs to another table or another job."""


def path_component(name: str) -> str:
    """``name`` as one safe, readable path component, distinct for distinct names.

    Printable characters are kept, except ``/ \\ % ~``; those, control characters, NUL and a
    leading ``.`` (so ``.`` and ``..`` are plain names) become ``%XX`` (UTF-8 bytes). The empty
    name is ``%empty``. A result over :data:`MAX_COMPONENT_BYTES` is cut and ends in
    ``~`` and 16 hex digits of the name's SHA-256 (``~`` appears nowhere else)."""
    if name == "":
        return "%empty"  # never produced otherwise: escapes are '%' and two upper-case hex digits
    parts = []
    for i, ch in enumerate(name):
        if ch in _ESCAPED or not ch.isprintable() or (i == 0 and ch == "."):
            parts.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            parts.append(ch)
    text = "".join(parts)
    if len(text.encode("utf-8", "surrogatepass")) <= MAX_COMPONENT_BYTES:
        return text
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = text.encode("utf-8", "surrogatepass")[:MAX_COMPONENT_BYTES - 17].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def table_dir_candidates(exproot: str, dbname: str, table: str, table_uuid: str) -> list[str]:
    """Where the table's jobs may go, in order: ``<db>/<table>`` then ``<db>/<table>@<uuid8>``
    (a table name is an identifier: it never holds ``@``)."""
    base = os.path.join(exproot, path_component(dbname))
    return [os.path.join(base, table), os.path.join(base, f"{table}@{table_uuid.replace('-', '')[:8]}")]


def read_marker(path: str) -> dict[str, Any] | None:
    """The marker file at ``path`` (None if there is none); a marker that is not ours to read
    (a link, not JSON) is reported as foreign with ``{"unreadable": why}``."""
    data = read_unlinked(path, MARKER_MAX_BYTES)
    if data is None:
        return None
    if data is LINK:
        return {"unreadable": "a symbolic link"}
    if not data.strip():  # written in place by a machine that crashed: as good as none
        os.unlink(path)
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return {"unreadable": "not a marker written by jobman"}
    return doc if isinstance(doc, dict) else {"unreadable": "not a marker written by jobman"}


def write_new_marker(path: str, doc: dict[str, Any]) -> None:
    """Create the marker ``doc`` at ``path`` (0600) in a directory just made (:func:`~jobstore.files.write_new`).
    A machine crash may leave it empty, which :func:`read_marker` takes for no marker."""
    write_new(path, json.dumps(doc, sort_keys=True) + "\n", mode=0o600)


def claim_marker(path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Write the marker ``doc`` at ``path`` (0600) unless one is there; the marker now in place."""
    atomic_create(path, json.dumps(doc, sort_keys=True) + "\n", mode=0o600)
    found = read_marker(path)
    return found if found is not None else doc


def describe(doc: dict[str, Any]) -> str:
    """A marker's owner, for messages."""
    if "unreadable" in doc:
        return f"an unreadable marker ({doc['unreadable']})"
    owner = f"table {doc.get('table_uuid')!s}"
    if "job" in doc:
        owner = f"job {doc.get('job')!s} of {owner}"
    return owner + (f" ({doc['database']})" if doc.get("database") else "")
