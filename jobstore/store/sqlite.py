"""SQLite through the standard ``sqlite3``: the connector (autocommit connection, writes in ``BEGIN IMMEDIATE``
transactions (one writer at a time, others wait up to :data:`BUSY_TIMEOUT_S`), WAL journal so that
readers do not block the writer. Queries: ``queries/sqlite/*.sql``. SQLite files must not be
shared over NFS: use PostgreSQL for workers on several machines."""
from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import DatabaseError
from .codec import T_FLOAT, T_JSON, dumps
from .connector import Connector, one_line
from .dialect import Dialect

BUSY_TIMEOUT_S = 60.0


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SqliteConnector(Connector):
    """A ``sqlite3`` connection in autocommit mode, WAL journal, waiting up to BUSY_TIMEOUT_S for locks."""

    def connect(self) -> sqlite3.Connection:
        path = self.url.path or ""
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise DatabaseError(f"cannot open {self.url.display()}: folder {folder!r} does not exist")
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        if conn.in_transaction:  # nested: a savepoint
            name = f"jobstore_sp{id(object())}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def is_transient(self, exc: BaseException, conn: Any) -> bool:
        msg = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)

    def translate(self, exc: BaseException) -> DatabaseError:
        msg = one_line(exc)
        if "unable to open" in msg:
            return DatabaseError(f"cannot open {self.url.display()}: {msg}")
        return DatabaseError(f"database error on {self.url.display()}: {msg}")



class SqliteDialect(Dialect):
    """SQLite's SQL: JSON text state read with ``json_extract``."""

    name = "sqlite"

    @staticmethod
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def bulk_load(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        self.exec(conn, "insert_tmp_create")
        conn.executemany(self.q["insert_copy"], rows)

    def list_param(self, values: Sequence[Any]) -> Any:
        return dumps(list(values))

    def _extract(self, key: str, key_sql: str) -> str:
        """The SQL value of ``key`` in the row's state (``key_sql``: a parameter or a literal)."""
        if '"' in key or "\\" in key:  # JSON paths cannot quote these: look the key up instead
            return f"(SELECT value FROM json_each({self.quote(self.url.table)}.state) WHERE key = {key_sql})"
        return f"json_extract(state, {key_sql})"

    def key_filter(self, n: int, key: str, candidates: list[Any], params: dict[str, Any]) -> str:
        simple = '"' not in key and "\\" not in key
        params[f"k{n}"] = f'$."{key}"' if simple else key
        params[f"v{n}"] = dumps(candidates)
        return self.q["where_key"].replace("{extract}", self._extract(key, f":k{n}")).replace("{n}", str(n))

    def view_expr(self, key: str, typ: str) -> str:
        simple = '"' not in key and "\\" not in key
        ext = self._extract(key, _literal(f'$."{key}"' if simple else key))
        if typ == T_JSON:
            return f"nullif(json_quote({ext}), 'null')"
        if typ == T_FLOAT:  # non-finite floats are stored as the strings Infinity, -Infinity, NaN
            # SQLite has no NaN (a REAL NaN reads as NULL): NaN stays the text 'NaN', not a missing value
            return (f"CASE WHEN typeof({ext}) = 'text' THEN (CASE {ext} WHEN 'Infinity' THEN 9e999 "
                    f"WHEN '-Infinity' THEN -9e999 WHEN 'NaN' THEN 'NaN' END) ELSE CAST({ext} AS REAL) END")
        return ext
