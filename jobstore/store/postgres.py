"""PostgreSQL through psycopg 3: the connector (autocommit connection, short explicit transactions,
which failures are worth a retry) and the dialect (COPY for bulk inserts, JSONB key filters and
view columns). Queries, with the ``FOR UPDATE SKIP LOCKED`` claim: ``queries/postgres/*.sql``."""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..errors import DatabaseError
from .codec import T_BOOL, T_FLOAT, T_INT, T_JSON, T_NUMERIC, dumps
from .connector import Connector, one_line
from .dialect import Dialect
from .inserts import Batch

CONNECT_TIMEOUT_S = 10
# Notice a dead server on an idle connection within about a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}

# Server-side conditions after which reconnecting and retrying is the right answer.
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01"}
# Connection failures that retrying cannot fix.
_FATAL_CONNECT_WORDS = ("password", "does not exist", "role", "permission denied", "pg_hba.conf",
                        "authentication")

# Rows per COPY write: large enough that the per-write cost vanishes, small enough that the server
# starts ingesting early (about 50 kB of text).
COPY_BLOCK_ROWS = 200


def _copy_text(text: str) -> str:
    """A field of COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class PostgresConnector(Connector):
    """A psycopg 3 connection in autocommit mode, with keepalives."""

    def connect(self) -> psycopg.Connection[Any]:
        kw: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "jobman", **KEEPALIVES}
        kw.update(self.url.conninfo())
        return psycopg.connect(autocommit=True, **kw)

    def transaction(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        return conn.transaction()

    def batch(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        # Statements each atomic on their own (the reap and the claim): a pipeline sends them in
        # one round trip.
        return conn.pipeline()

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error)

    def is_transient(self, exc: BaseException, conn: Any) -> bool:
        if getattr(exc, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            return True
        if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, pg_errors.LockNotAvailable):
            return False
        if conn is None:  # failed to connect: a server that is down may come back, a typo will not
            msg = str(exc).lower()
            return not any(word in msg for word in _FATAL_CONNECT_WORDS)
        return bool(conn.broken or conn.closed or getattr(exc, "sqlstate", None) is None)

    def translate(self, exc: BaseException) -> DatabaseError:
        where = self.url.display()
        msg = one_line(exc)
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return DatabaseError(f"permission denied on {where}: {msg}")
        if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
            return DatabaseError(f"cannot connect to {where}: {msg}")
        return DatabaseError(f"database error on {where}: {msg}")



class PostgresDialect(Dialect):
    """PostgreSQL's SQL: JSONB state, COPY straight into the table when scheduling."""

    name = "postgres"
    streams_direct = True

    @staticmethod
    def quote(name: str) -> str:
        return sql.Identifier(name).as_string(None)

    def bulk_load(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        self.exec(conn, "insert_tmp_create")
        with conn.cursor() as cur, cur.copy(self.q["insert_copy"]) as copy:
            for row in rows:
                copy.write_row(row)

    def insert_direct(self, conn: Any, batch: Batch) -> list[int | None] | None:
        # COPY into the table itself is about twice as fast as staging + INSERT ... ON CONFLICT.
        # The rows are encoded while the server ingests the previous ones, and sent as COPY text
        # in blocks (one write per block instead of one per row). Ids are drawn in order (so that
        # the claim order follows the schedule order) from the sequence, which only inserts use
        # and every insert holds lock_insert: nextval gives the first, setval the last.
        seq = {"table": self.quote(self.url.table)}
        jid = first = self.exec(conn, "next_id", seq).fetchone()[0]
        ids: list[int | None] = []
        seen: set[str] = set()
        escaped: dict[str, str] = {}
        block: list[str] = []
        try:
            with conn.transaction(), conn.cursor() as cur, cur.copy(self.q["insert_direct"]) as copy:
                for experiment, priority, enc, hsh in batch:
                    if hsh in seen:  # the same job twice in the batch: only the first counts
                        ids.append(None)
                        continue
                    seen.add(hsh)
                    ids.append(jid)
                    exp = escaped.get(experiment)
                    if exp is None:
                        exp = escaped[experiment] = _copy_text(experiment)
                    types = _copy_text(enc.tags_json) if enc.tags_json is not None else "\\N"
                    block.append(f"{jid}\t{exp}\t{priority!r}\t{_copy_text(enc.state_json)}\t{types}\t{hsh}\t0\n")
                    jid += 1
                    if len(block) >= COPY_BLOCK_ROWS:
                        copy.write("".join(block))
                        block.clear()
                if block:
                    copy.write("".join(block))
        except pg_errors.UniqueViolation:
            self.exec(conn, "rewind_ids", {**seq, "next": first})
            return None
        self.exec(conn, "rewind_ids", {**seq, "next": jid})
        return ids

    def list_param(self, values: Sequence[Any]) -> Any:
        return list(values)

    def key_filter(self, n: int, key: str, candidates: list[Any], params: dict[str, Any]) -> str:
        params[f"k{n}"] = key
        params[f"v{n}"] = [dumps(c) for c in candidates]
        return self.q["where_key"].replace("{n}", str(n))

    def view_expr(self, key: str, typ: str) -> str:
        lit = sql.Literal(key).as_string(None)
        if typ == T_JSON:
            return f"state -> {lit}"
        cast = {T_INT: "bigint", T_NUMERIC: "numeric", T_FLOAT: "double precision", T_BOOL: "boolean"}.get(typ)
        return f"(state ->> {lit})::{cast}" if cast else f"state ->> {lit}"
