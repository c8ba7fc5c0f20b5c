"""PostgreSQL through psycopg 3: the connector (autocommit connection, short explicit transactions,
which failures are worth a retry) and the dialect (COPY for bulk inserts, JSONB key filters and
view columns). Queries, with the ``FOR UPDATE SKIP LOCKED`` claim: ``queries/postgres/*.sql``.

Through PgBouncer in transaction pooling mode, consecutive transactions of one client may run on
different server connections, so nothing here keeps session state between transactions (locks are
``pg_advisory_xact_lock``, ``SET LOCAL``, the staging table is dropped at commit), and server-side
prepared statements, which psycopg makes for a query run 5 times (0.42 against 0.71 ms per claim
and finish, measured), must be off: on a pooled server connection they collide with other
clients' statements of the same name. Whether a pooler is in between is probed once per process
and server: the first connection asks the server which port it answers on (``inet_server_port()``);
a port other than the one dialled (or a TCP server behind a Unix socket) means a pooler or a
tunnel, and prepared statements stay off. ``?pgbouncer=1`` in the URL turns them off without the
probe, ``?pgbouncer=0`` keeps them on. An error that still shows a prepared statement missing or
mixed up turns them off for the rest of the process, with one warning."""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..errors import DatabaseError, UrlError
from .codec import T_BOOL, T_FLOAT, T_INT, T_JSON, T_NUMERIC, dumps
from .connector import Connector, logger, one_line
from .dialect import Dialect
from .inserts import Batch
from .urls import DbUrl

CONNECT_TIMEOUT_S = 10
# Notice a dead server on an idle connection within about a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}

# Server-side conditions after which reconnecting and retrying is the right answer.
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01"}
# Errors of server-side prepared statements under a transaction-pooling PgBouncer (a statement
# prepared on one server connection, used or prepared again on another, or another client's).
_PREPARED_SQLSTATES = {"42P05", "26000", "08P01"}
# (host, port, dbname) -> whether prepared statements are safe there, probed once per process.
_PROBED: dict[tuple[object, object, str], bool] = {}
PGBOUNCER_PARAM = "pgbouncer"
"""URL parameter (``?table=T&pgbouncer=1``): no server-side prepared statements."""
# Connection failures that retrying cannot fix.
_FATAL_CONNECT_WORDS = ("password", "does not exist", "role", "permission denied", "pg_hba.conf",
                        "authentication")

# Rows per COPY write: large enough that the per-write cost vanishes, small enough that the server
# starts ingesting early (about 50 kB of text).
COPY_BLOCK_ROWS = 200


def _flag(text: str) -> bool:
    """A URL flag: 1/true/yes/on or 0/false/no/off (anything else is a :class:`UrlError`)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise UrlError(f"invalid {PGBOUNCER_PARAM}={text!r} in the URL: expected 1 or 0")


def _copy_text(text: str) -> str:
    """A field of COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class PostgresConnector(Connector):
    """A psycopg 3 connection in autocommit mode, with keepalives; no server-side prepared
    statements behind PgBouncer (see the module docstring)."""

    def __init__(self, url: DbUrl, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        given = dict(url.options).get(PGBOUNCER_PARAM)
        self.prepare: bool | None = None if given is None else not _flag(given)  # None: probe

    def clone(self) -> PostgresConnector:
        other = super().clone()
        assert isinstance(other, PostgresConnector)
        other.prepare = self.prepare
        return other

    def connect(self) -> psycopg.Connection[Any]:
        kw: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "jobman", **KEEPALIVES}
        kw.update(self.url.conninfo())
        kw.pop(PGBOUNCER_PARAM, None)
        conn = psycopg.connect(autocommit=True, **kw)
        if self.prepare is None:
            self.prepare = self._direct(conn)
        if not self.prepare:
            conn.prepare_threshold = None
        return conn

    def _direct(self, conn: Any) -> bool:
        """Whether ``conn`` reaches PostgreSQL itself (no pooler or tunnel in between); see the
        module docstring. Asked once per process and server."""
        where = (self.url.host, self.url.port, self.url.dbname)
        if where not in _PROBED:
            served = conn.execute("SELECT inet_server_port()").fetchone()[0]
            dialled = self.url.port or (5432 if self.url.host and not self.url.host.startswith("/") else None)
            _PROBED[where] = served == dialled
            if not _PROBED[where]:
                logger.info("jobstore: %s answers on port %s: a pooler or tunnel; no prepared statements",
                            self.url.display(), served)
        return _PROBED[where]

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
        if self.prepare and getattr(exc, "sqlstate", None) in _PREPARED_SQLSTATES and "prepared statement" in str(exc):
            self.prepare = False  # the connection is closed and the call retried without them
            logger.warning("jobstore: %s lost a prepared statement (%s): a transaction-pooling PgBouncer? "
                           "Prepared statements are now off; add %s=1 to the URL to start that way",
                           self.url.display(), one_line(exc), PGBOUNCER_PARAM)
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
    # The statements read() runs are prepared at their first run, not their sixth (psycopg's
    # threshold): a worker's first jobs no longer parse and plan finish_claim afresh each time,
    # which cost each new worker about 3 ms of server CPU (bench/bench_claim.py, the fixed cost
    # of a process). Their texts are fixed, so they are few. Where prepared statements are off
    # (prepare_threshold None: PgBouncer), psycopg ignores the request.
    read_options: Mapping[str, Any] = {"prepare": True}

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
