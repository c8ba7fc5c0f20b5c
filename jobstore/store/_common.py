"""What both dialects share: the flow of every store operation, the connection policy, retries,
the key registry and the typed views. A dialect (``postgres.py``, ``sqlite.py``) supplies the
connection, transactions, error classification and the few SQL expressions that differ; its
queries live in ``queries/<dialect>/*.sql``.

Connection policy: the connection is opened lazily and kept; :meth:`release` closes it (the worker
does so while an experiment computes) and the next operation reconnects. Statements run in
autocommit; writes that need several statements use one short explicit transaction. A store may
be shared by threads (a lock serializes its operations); the worker's heartbeat thread uses its
own :meth:`clone`.

Retries: once a store has reached its database, a lost connection (server restarted, connection
dropped) or a deadlock is retried with jittered exponential backoff for up to
:data:`RETRY_TOTAL_S`, with one warning line per retry on the ``jobstore`` logger. Errors on the
first connection (no server, wrong password, no such database) are reported at once.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import DatabaseError, UsageError
from ..status import DEFAULT_PRIORITY, RESTART_PRIORITY, START, Status
from . import queries as _queries
from .base import MIRRORED_KEYS, InsertResult, Job, Store
from .codec import (
    T_FLOAT,
    T_INT,
    T_TEXT,
    Encoded,
    decode_state,
    encode_state,
    json_candidates,
    state_hash,
    widen,
)
from .naming import column_names
from .urls import DbUrl, check_identifier

logger = logging.getLogger("jobstore")

SCHEMA_VERSION = 1
# Migrations: MIGRATIONS[v] is the query (in schema.sql) that upgrades version v to v + 1.
MIGRATIONS: dict[int, str] = {}

RETRY_TOTAL_S = 60.0
# Expired leases are reaped by a claim at most this often per store (and whenever no job is
# claimable): far below any lease, and it spares every other claim a statement.
REAP_INTERVAL_S = 5.0
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 8.0

# Mirrored keys → (column, key type, coercion of a --select value).
MIRROR_COLUMNS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "jobman.id": ("id", T_INT, int),
    "jobman.experiment": ("experiment", T_TEXT, str),
    "jobman.status": ("status", T_INT, lambda v: int(Status.parse(v))),
    "jobman.sql.priority": ("priority", T_FLOAT, float),
    "jobman.hash": ("hash", T_TEXT, str),
}
assert set(MIRROR_COLUMNS) == set(MIRRORED_KEYS)

_R = TypeVar("_R")


def one_line(exc: BaseException) -> str:
    """The driver's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


class SqlStore(Store):
    """The shared implementation; see the module docstring."""

    dialect = ""  # the folder under queries/
    reap_interval_s = REAP_INTERVAL_S

    def __init__(self, url: DbUrl) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connected_once = False
        self._keys_cache: dict[str, str] | None = None
        self._next_reap_s = 0.0  # time.monotonic() after which claim reaps again
        names = {
            "table": url.table, "meta": f"{url.table}__meta", "keys": f"{url.table}__keys",
            "views": f"{url.table}__views", "claim_index": f"{url.table}__claim",
            "lease_index": f"{url.table}__lease", "status_index": f"{url.table}__status",
            "unique_hash": f"{url.table}__hash_copy",
        }
        self.q = _queries.render_all(self.dialect, names, self.quote)

    # -- what a dialect supplies --------------------------------------------------------------
    @staticmethod
    @abc.abstractmethod
    def quote(name: str) -> str:
        """A quoted SQL identifier."""

    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """One transaction (write-locking on SQLite); nested → a savepoint."""

    @abc.abstractmethod
    def _is_driver_error(self, exc: BaseException) -> bool: ...

    @abc.abstractmethod
    def _is_transient(self, exc: BaseException, conn: Any) -> bool:
        """A lost connection or a deadlock: worth reconnecting and retrying."""

    @abc.abstractmethod
    def _translate(self, exc: BaseException) -> DatabaseError: ...

    @abc.abstractmethod
    def _bulk_load(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Load (ord, experiment, priority, state, types, hash, copy) rows into jobstore_insert."""

    @abc.abstractmethod
    def _list_param(self, values: Sequence[Any]) -> Any: ...

    @abc.abstractmethod
    def _key_filter(self, n: int, key: str, candidates: list[Any], params: dict[str, Any]) -> str: ...

    @abc.abstractmethod
    def _view_expr(self, key: str, typ: str) -> str: ...

    # -- connection, retries ------------------------------------------------------------------
    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def release(self) -> None:
        with self._lock:
            self._close_conn()

    def close(self) -> None:
        self.release()

    def clone(self) -> SqlStore:
        other = type(self)(self.url)
        other._connected_once = self._connected_once
        return other

    def _call(self, what: str, fn: Callable[[Any], _R], *, retry: bool = True) -> _R:
        """Run ``fn(connection)``, reconnecting and retrying transient failures (see module doc)."""
        with self._lock:
            tries = 0
            deadline = 0.0
            while True:
                conn = self._conn
                try:
                    if conn is None:
                        conn = self._conn = self._connect()
                        self._connected_once = True
                    return fn(conn)
                except (DatabaseError, UsageError):
                    raise
                except Exception as exc:
                    if not self._is_driver_error(exc):
                        raise
                    transient = self._is_transient(exc, self._conn)
                    if transient or (conn is not None and getattr(conn, "closed", False)):
                        self._close_conn()
                    if not (transient and retry and self._connected_once):
                        raise self._translate(exc) from None
                    tries += 1
                    now = time.monotonic()
                    deadline = deadline or now + RETRY_TOTAL_S
                    delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (tries - 1)) * random.uniform(0.5, 1.5)
                    if now + delay > deadline:
                        raise DatabaseError(
                            f"gave up on {self.url.display()} after {tries} tries in {RETRY_TOTAL_S:.0f} s "
                            f"({what}): {one_line(exc)}") from None
                    logger.warning("jobstore: %s on %s failed (%s); retry %d in %.1f s", what,
                                   self.url.display(), one_line(exc), tries, delay)
                    time.sleep(delay)

    def _exec(self, conn: Any, name: str, params: Mapping[str, Any] | Sequence[Any] | None = None,
              **fragments: str) -> Any:
        text = self.q[name]
        if fragments:
            text = _queries.render(text, fragments, literal_braces=False)
        return conn.execute(text, params) if params is not None else conn.execute(text)

    def _exec_script(self, conn: Any, name: str) -> None:
        for statement in self.q[name].split(";"):
            if statement.strip():
                conn.execute(statement)

    # -- schema ---------------------------------------------------------------------------------
    def ensure_schema(self, create: bool = True) -> None:
        table = self.url.table

        def version(conn: Any) -> int | None:
            if not self._exec(conn, "table_exists", {"name": table}).fetchone()[0]:
                return None
            if not self._exec(conn, "table_exists", {"name": f"{table}__meta"}).fetchone()[0]:
                raise DatabaseError(f"table {table!r} in {self.url.display()} exists but is not a job table "
                                    f"(no {table}__meta): choose another ?table= name")
            row = self._exec(conn, "schema_version").fetchone()
            return int(row[0]) if row else 0

        def op(conn: Any) -> None:
            v = version(conn)
            if v == SCHEMA_VERSION:
                return
            if v is not None and v > SCHEMA_VERSION:
                raise DatabaseError(f"table {table!r} in {self.url.display()} has schema version {v}, newer "
                                    f"than this jobstore's {SCHEMA_VERSION}: upgrade jobstore")
            if v is None and not create:
                raise DatabaseError(f"no job table {table!r} in {self.url.display()}: schedule jobs first")
            with self._transaction(conn):
                self._exec(conn, "lock_schema", {"lock": f"jobstore.schema.{table}"})
                v = version(conn)  # again, under the lock: another process may have done it
                while v is not None and v < SCHEMA_VERSION:
                    if v not in MIGRATIONS:
                        raise DatabaseError(f"no migration from schema version {v} of table {table!r}")
                    self._exec_script(conn, MIGRATIONS[v])
                    v += 1
                self._exec_script(conn, "create_schema")
                self._exec(conn, "set_schema_version", {"version": str(SCHEMA_VERSION)})

        self._call("open", op)

    def schema_version(self) -> int:
        return self._call("schema_version", lambda c: int(self._exec(c, "schema_version").fetchone()[0]))

    # -- rows -------------------------------------------------------------------------------------
    @staticmethod
    def _job(row: Sequence[Any]) -> Job:
        (jid, status, priority, experiment, state, types, hsh, copy, attempt, losses, host, worker,
         lease_until, created, started, ended, updated, error, end_reason) = row
        priority = float(priority)  # SQLite's RETURNING gives integral REALs as integers
        flat = decode_state(state, types)
        flat["jobman.experiment"] = experiment
        flat["jobman.status"] = status
        flat["jobman.sql.priority"] = priority
        flat["jobman.id"] = jid
        flat["jobman.hash"] = hsh
        return Job(id=jid, status=status, priority=priority, experiment=experiment, state=flat,
                   attempt=attempt, hash=hsh, host=host, worker=worker, lease_until=lease_until,
                   created=created, started=started, ended=ended, error=error, end_reason=end_reason,
                   extra={"copy": copy, "losses": losses, "updated": updated})

    # -- scheduling -------------------------------------------------------------------------------
    def insert_jobs(self, states: Iterable[Mapping[str, Any]], *, force: bool = False,
                    priority: float | None = None) -> list[InsertResult]:
        batch = _Batch(list(states), priority)
        if not batch.states:
            return []

        def op(conn: Any) -> list[InsertResult]:
            stream = not force and self._streams_direct
            if not stream:  # encode first: bad input is refused before the database is touched
                batch.encode_all()
            try:
                with self._transaction(conn):
                    # Inserts are serialized per table (workers never insert): forced copies are
                    # numbered consistently and ids can be reserved in blocks.
                    self._exec(conn, "lock_insert", {"lock": f"jobstore.insert.{self.url.table}"})
                    ids = self._insert_direct(conn, batch) if stream else None
                    if ids is None:
                        ids = self._insert_general(conn, batch, force)
                    # The keys are known once every job is encoded; registering them in the same
                    # transaction keeps the registry and the rows consistent if either fails.
                    self._register_keys(conn, batch.types)
            except BaseException:
                self._keys_cache = None  # it may hold keys whose registration was rolled back
                raise
            return [InsertResult(jid is not None, jid, st) for jid, st in zip(ids, batch.results)]

        return self._call("insert", op)

    def _insert_general(self, conn: Any, batch: _Batch, force: bool) -> list[int | None]:
        """Stage the rows and INSERT ... ON CONFLICT DO NOTHING (copy 0), or with forced copies
        numbered after the highest existing copy of each hash; retried a few times for forced
        copies that lost a race."""
        prepared = batch.encode_all()
        copies = [0] * len(prepared)
        ids: list[int | None] = [None] * len(prepared)
        if force:
            todo = list(range(len(prepared)))
        else:  # a duplicate within the batch is the same job: only its first occurrence counts
            first: dict[str, int] = {}
            todo = [i for i, p in enumerate(prepared) if first.setdefault(p[3], i) == i]
        for _ in range(5 if force else 1):
            if force:
                hashes = sorted({prepared[i][3] for i in todo})
                top = dict(self._exec(conn, "max_copies", {"hashes": self._list_param(hashes)}).fetchall())
                for i in todo:
                    h = prepared[i][3]
                    top[h] = copies[i] = (top[h] + 1) if h in top else 0
            rows = [(i, prepared[i][0], prepared[i][1], prepared[i][2].state_json, prepared[i][2].tags_json,
                     prepared[i][3], copies[i]) for i in todo]
            self._bulk_load(conn, rows)
            got = {(h, c): jid for jid, h, c in self._exec(conn, "insert_from_tmp").fetchall()}
            self._exec(conn, "insert_tmp_clear")
            for i in todo:
                ids[i] = got.pop((prepared[i][3], copies[i]), None)
            todo = [i for i in todo if ids[i] is None]
            if not todo:
                break
        return ids

    # A dialect whose _insert_direct consumes the batch as it is encoded sets this.
    _streams_direct = False

    def _insert_direct(self, conn: Any, batch: _Batch) -> list[int | None] | None:
        """Insert the jobs of ``batch`` straight into the table with copy 0, encoding them as they
        are sent, and return their ids in input order (None for a repeat within the batch), or
        None (and nothing written) if one of them is already in the table; then the general path
        sorts out which. A dialect may leave it to that."""
        return None

    # -- the worker's side ------------------------------------------------------------------------
    def claim(self, *, worker: str, host: str, lease_s: float, max_attempts: int) -> Job | None:
        """Claim the next job. Expired leases are reaped first (in the same round trip) at most
        every :attr:`reap_interval_s` on this store, and always before answering that there is
        no job: a dead worker's job waits at most that long while other jobs are claimable, and
        a worker never stops while an expired job could be run."""
        reap_params = {"max_attempts": int(max_attempts), "restart_priority": RESTART_PRIORITY}
        claim_params = {"lease_s": float(lease_s), "host": host, "worker": worker}

        def op(conn: Any) -> Job | None:
            now = time.monotonic()
            row = None
            if now < self._next_reap_s:
                row = self._exec(conn, "claim", claim_params).fetchone()
            if row is None:
                with self._claim_batch(conn):
                    self._exec(conn, "reap", reap_params)
                    row = self._exec(conn, "claim", claim_params).fetchone()
                self._next_reap_s = now + self.reap_interval_s
            return self._job(row) if row else None
        return self._call("claim", op)

    def _claim_batch(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """How the reap and the claim statements are sent together (a transaction by default)."""
        return self._transaction(conn)

    def reap(self, max_attempts: int) -> int:
        """Hand back jobs whose lease expired now (:meth:`claim` does it every reap_interval_s and
        whenever no job is claimable); return how many."""
        return self._call("reap", lambda c: self._exec(c, "reap", {
            "max_attempts": int(max_attempts), "restart_priority": RESTART_PRIORITY}).rowcount)

    def heartbeat(self, job_id: int, attempt: int, lease_s: float) -> bool:
        return self._call("heartbeat", lambda c: self._exec(c, "heartbeat", {
            "id": job_id, "attempt": attempt, "lease_s": float(lease_s)}).rowcount == 1)

    def _fenced(self, what: str, job_id: int, attempt: int, name: str, params: dict[str, Any],
                enc: Encoded | None, done: Callable[[Job], bool]) -> bool:
        """A fenced write. If it was retried and then refused, the first try may have committed
        with its reply lost: re-read the row and count it as ours if it holds what we wrote."""
        tries = [0]

        def op(conn: Any) -> bool:
            tries[0] += 1
            if enc is not None:
                self._register_keys(conn, enc.types)
            return self._exec(conn, name, params).rowcount == 1

        ok = self._call(what, op)
        if ok or tries[0] == 1:
            return ok
        job = self.get(job_id)
        return bool(job is not None and job.attempt == attempt and done(job)
                    and (enc is None or encode_state(job.state, MIRRORED_KEYS).state == enc.state))

    def save(self, job_id: int, attempt: int, state: Mapping[str, Any], lease_s: float) -> bool:
        enc = encode_state(state, MIRRORED_KEYS)
        params = {"id": job_id, "attempt": attempt, "lease_s": float(lease_s), "state": enc.state_json,
                  "types": enc.tags_json}
        return self._fenced("save", job_id, attempt, "save", params, enc, lambda j: j.status == 1)

    def finish(self, job_id: int, attempt: int, *, status: int, end_reason: str,
               state: Mapping[str, Any] | None = None, priority: float | None = None,
               error: str | None = None) -> bool:
        enc = encode_state(state, MIRRORED_KEYS) if state is not None else None
        params = {"id": job_id, "attempt": attempt, "status": int(status), "end_reason": end_reason,
                  "set_state": enc is not None, "state": enc.state_json if enc else None,
                  "types": enc.tags_json if enc else None,
                  "priority": float(priority) if priority is not None else None, "error": error}
        return self._fenced("finish", job_id, attempt, "finish", params, enc,
                            lambda j: j.status == status and j.end_reason == end_reason)

    # -- queries and administration ---------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        row = self._call("get", lambda c: self._exec(c, "get", {"id": int(job_id)}).fetchone())
        return self._job(row) if row else None

    def _where(self, ids: Sequence[int] | None, statuses: Sequence[int] | None,
               select: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """The WHERE clause and its parameters; None when nothing can match (empty id list)."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if ids is not None:
            if not ids:
                return None
            clauses.append(self.q["where_ids"])
            params["ids"] = self._list_param([int(i) for i in ids])
        if statuses is not None:
            if not statuses:
                return None
            clauses.append(self.q["where_statuses"])
            params["statuses"] = self._list_param([int(s) for s in statuses])
        for n, (key, value) in enumerate((select or {}).items()):
            if key in MIRROR_COLUMNS:
                column, _, coerce = MIRROR_COLUMNS[key]
                try:
                    values = [coerce(value)]
                except (TypeError, ValueError):
                    raise UsageError(f"--select value {value!r} for {key!r} is not a valid {column}") from None
                params[f"v{n}"] = self._list_param(values)
                clauses.append(_queries.render(self.q["where_column"], {"column": column, "n": str(n)}, False))
            else:
                clauses.append(self._key_filter(n, key, json_candidates(value), params))
        return (" AND ".join(f"({c})" for c in clauses) or "true"), params

    def jobs(self, *, ids: Sequence[int] | None = None, statuses: Sequence[int] | None = None,
             select: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Job]:
        where = self._where(ids, statuses, select)
        if where is None:
            return []
        clause, params = where
        text = "jobs"
        if limit is not None:
            params["limit"] = int(limit)

        def op(conn: Any) -> list[Any]:
            sql = _queries.render(self.q[text], {"where": clause}, False)
            if limit is not None:
                sql += "\n" + self.q["limit"]
            return conn.execute(sql, params).fetchall()

        return [self._job(r) for r in self._call("jobs", op)]

    def count(self, *, statuses: Sequence[int] | None = None, ids: Sequence[int] | None = None,
              select: Mapping[str, Any] | None = None) -> int:
        where = self._where(ids, statuses, select)
        if where is None:
            return 0
        clause, params = where
        return int(self._call("count", lambda c: self._exec(c, "count", params, where=clause).fetchone()[0]))

    def count_by_status(self) -> dict[int, int]:
        rows = self._call("count_by_status", lambda c: self._exec(c, "count_by_status").fetchall())
        return {int(s): int(n) for s, n in rows}

    def set_status(self, ids: Sequence[int], status: int) -> int:
        if not ids:
            return 0
        params = {"ids": self._list_param([int(i) for i in ids]), "status": int(status)}
        return self._call("set_status", lambda c: self._exec(c, "set_status", params).rowcount)

    def set_priority(self, ids: Sequence[int], priority: float) -> int:
        if not ids:
            return 0
        params = {"ids": self._list_param([int(i) for i in ids]), "priority": float(priority)}
        return self._call("set_priority", lambda c: self._exec(c, "set_priority", params).rowcount)

    # -- keys and views ---------------------------------------------------------------------------
    def keys(self) -> dict[str, str]:
        rows = self._call("keys", lambda c: self._exec(c, "all_keys").fetchall())
        out = {key: typ for key, (_, typ, _) in MIRROR_COLUMNS.items()}
        out.update({name: typ for name, typ in rows})
        return out

    def _register_keys(self, conn: Any, types: Mapping[str, str]) -> None:
        """Record keys not seen before (or whose type widened) and rebuild the registered views.
        Runs before the write that brings the keys (in its own short transaction), or within the
        insert's transaction; a store caches the keys it knows, so a write with no new key costs
        nothing here."""
        if self._keys_cache is None:
            self._keys_cache = dict(self._exec(conn, "all_keys").fetchall())
        cache = self._keys_cache
        if all(k in cache and widen(cache[k], t) == cache[k] for k, t in types.items()):
            return
        with self._transaction(conn):
            self._exec(conn, "lock_keys", {"lock": f"jobstore.keys.{self.url.table}"})
            current = dict(self._exec(conn, "all_keys").fetchall())
            changed = False
            for key, typ in types.items():
                new = widen(current.get(key), typ)
                if current.get(key) != new:
                    self._exec(conn, "upsert_key", {"name": key, "type": new})
                    current[key] = new
                    changed = True
            if changed:
                for view in [r[0] for r in self._exec(conn, "registered_views").fetchall()]:
                    self._build_view(conn, view, current, tolerate_locks=True)
        self._keys_cache = current

    def _view_columns(self, keys: Mapping[str, str]) -> list[tuple[str, str]]:
        """(column name, SQL expression) of a view: the id, the mirrored keys, then every key."""
        cols = [("id", "id")] + [(key.replace(".", "_"), column) for key, (column, _, _) in MIRROR_COLUMNS.items()]
        named = column_names([(k, t) for k, t in keys.items() if k not in MIRROR_COLUMNS],
                             taken=[c for c, _ in cols])
        return cols + [(col, self._view_expr(key, typ)) for col, key, typ in named]

    def _build_view(self, conn: Any, view: str, keys: Mapping[str, str], tolerate_locks: bool = False) -> list[str]:
        cols = self._view_columns(keys)
        select = ", ".join(f"{expr} AS {self.quote(col)}" for col, expr in cols)
        try:
            with self._transaction(conn):
                self._exec(conn, "view_lock_timeout")
                self._exec(conn, "drop_view", view=self.quote(view))
                self._exec(conn, "create_view", view=self.quote(view), columns=select)
        except Exception as exc:
            if not (tolerate_locks and self._is_driver_error(exc) and not self._is_transient(exc, conn)):
                raise
            logger.warning("jobstore: view %s of %s not updated (%s); run `jobman sqlview` again",
                           view, self.url.display(), one_line(exc))
        return [c for c, _ in cols]

    def create_view(self, name: str) -> list[str]:
        check_identifier(name, "view")
        if name == self.url.table or name.startswith(self.url.table + "__"):
            raise UsageError(f"view name {name!r} is taken by the job table: choose another name")

        def op(conn: Any) -> list[str]:
            with self._transaction(conn):
                self._exec(conn, "lock_keys", {"lock": f"jobstore.keys.{self.url.table}"})
                self._exec(conn, "register_view", {"name": name})
                keys = dict(self._exec(conn, "all_keys").fetchall())
                return self._build_view(conn, name, keys)

        return self._call("create_view", op)

    def drop_view(self, name: str) -> None:
        check_identifier(name, "view")

        def op(conn: Any) -> None:
            with self._transaction(conn):
                self._exec(conn, "lock_keys", {"lock": f"jobstore.keys.{self.url.table}"})
                exists = self._exec(conn, "view_exists", {"name": name}).fetchone()[0]
                self._exec(conn, "unregister_view", {"name": name})
                if not exists:
                    raise UsageError(f"no view {name!r} in {self.url.display()}")
                self._exec(conn, "drop_view", view=self.quote(name))

        self._call("drop_view", op)

    def views(self) -> list[str]:
        """The views kept up to date by this table."""
        return [r[0] for r in self._call("views", lambda c: self._exec(c, "registered_views").fetchall())]



class _Batch:
    """The jobs of one :meth:`SqlStore.insert_jobs` call, encoded lazily and once: the
    PostgreSQL COPY ingests the first rows while later ones are encoded (the server is another
    process: on two cores this overlaps about half of the work), and a retried insert reuses
    what was encoded. ``prepared[i]`` is (experiment, priority, Encoded, hash); ``results[i]``
    the state as scheduled; ``types`` the SQL type of every key seen so far."""

    __slots__ = ("states", "priority", "prepared", "results", "types", "_last_types")

    def __init__(self, states: list[Mapping[str, Any]], priority: float | None) -> None:
        self.states = states
        self.priority = priority
        self.prepared: list[tuple[str, float, Encoded, str]] = []
        self.results: list[dict[str, Any]] = []
        self.types: dict[str, str] = {}
        self._last_types: dict[str, str] | None = None

    def __iter__(self) -> Iterator[tuple[str, float, Encoded, str]]:
        """Every job in order, encoding those not encoded yet."""
        yield from self.prepared[:]
        for i in range(len(self.prepared), len(self.states)):
            yield self._encode(i)

    def encode_all(self) -> list[tuple[str, float, Encoded, str]]:
        for _ in self:
            pass
        return self.prepared

    def _encode(self, i: int) -> tuple[str, float, Encoded, str]:
        st = self.states[i]
        experiment = st.get("jobman.experiment")
        if not isinstance(experiment, str) or not experiment:
            raise UsageError(f"job {i} has no 'jobman.experiment' (got {experiment!r}): expected the "
                             "dotted name of experiment(state, channel)")
        prio = self.priority if self.priority is not None else st.get("jobman.sql.priority", DEFAULT_PRIORITY)
        try:
            prio = float(prio)
        except (TypeError, ValueError):
            raise UsageError(f"priority {prio!r} of job {i} is not a number") from None
        enc = encode_state(st, MIRRORED_KEYS)
        if enc.types != self._last_types:  # the jobs of one expansion nearly always share their types
            self._last_types = enc.types
            types = self.types
            for k, t in enc.types.items():
                types[k] = widen(types.get(k), t)
        item = (experiment, prio, enc, state_hash(experiment, enc))
        shown = dict(st)
        shown.pop("jobman.id", None)
        shown.pop("jobman.hash", None)
        shown["jobman.experiment"] = experiment
        shown["jobman.status"] = int(START)
        shown["jobman.sql.priority"] = prio
        self.prepared.append(item)
        self.results.append(shown)
        return item
