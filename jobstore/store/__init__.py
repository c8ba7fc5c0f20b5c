"""The job store: :func:`open_db` gives a :class:`Store` for a database URL (PostgreSQL or SQLite)."""
from __future__ import annotations

from .base import MIRRORED_KEYS, InsertResult, Job, Store
from .jobs import SqlStore
from .urls import DbUrl, parse_url

__all__ = ["open_db", "Store", "Job", "InsertResult", "MIRRORED_KEYS"]


def open_db(url: str | DbUrl, *, create: bool = True, connect_timeout_s: float | None = None) -> Store:
    """Open the job table named by ``url``, creating it (and its indexes and side tables) if
    ``create`` and it is missing, and migrating an older schema. A server that refuses
    connections (at its limit, starting up) is waited for up to ``connect_timeout_s`` (default
    ``$JOBMAN_CONNECT_TIMEOUT`` or :data:`~jobstore.store.connector.COMMAND_CONNECT_TIMEOUT_S`;
    a worker waits longer).

    Raises :class:`~jobstore.errors.UrlError` for a bad URL and
    :class:`~jobstore.errors.DatabaseError` (one line, password hidden) when the database cannot
    be reached or the table cannot be used."""
    parsed = url if isinstance(url, DbUrl) else parse_url(url)
    timeout = {"connect_timeout_s": connect_timeout_s} if connect_timeout_s is not None else {}
    store: Store
    if parsed.dialect == "sqlite":
        import os

        from ..errors import DatabaseError
        from .sqlite import SqliteConnector, SqliteDialect

        if not create and not os.path.exists(parsed.path or ""):
            # sqlite3.connect would create an empty file: a status query must leave nothing behind.
            raise DatabaseError(f"no job table {parsed.table!r} in {parsed.display()}: the file {parsed.path!r} does not exist "
                                f"(schedule jobs first with jobman sqlschedule(s))")

        store = SqlStore(SqliteConnector(parsed, **timeout), SqliteDialect(parsed))
    else:
        from .postgres import PostgresConnector, PostgresDialect

        store = SqlStore(PostgresConnector(parsed, **timeout), PostgresDialect(parsed))
    try:
        store.ensure_schema(create=create)
    except BaseException:
        store.close()
        raise
    return store
