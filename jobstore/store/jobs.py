"""The job semantics on a SQL table: schema and migrations, the atomic claim, leases and their
reaping, fenced saves and finishes, queries and administration. Connections and retries are the
:class:`~.connector.Connector`'s, SQL the :class:`~.dialect.Dialect`'s, scheduling the
:class:`~.inserts.Inserter`'s, keys and views the :class:`~.views.Views`'; this class holds one of
each and implements :class:`~.base.Store` with them."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import DatabaseError, UsageError
from ..status import RESTART_PRIORITY, RUNNING, START
from . import lostclaims, queries
from .base import MIRRORED_KEYS, InsertResult, Job, Store
from .codec import Encoded, decode_row, encode_state, json_candidates
from .connector import Connector
from .dialect import Dialect
from .history import ErrorHistory, PastError
from .inserts import Inserter
from .jobdirs import JobDirArchives
from .metrics import Metrics, Point
from .searches import Searches
from .views import MIRROR_COLUMNS, Views

SCHEMA_VERSION = 4
# Migrations: MIGRATIONS[v] is the query (in schema.sql) that upgrades version v to v + 1;
# create_schema (all IF NOT EXISTS) runs after them and adds what a version brought.
MIGRATIONS: dict[int, str] = {1: "migrate_1", 2: "migrate_2", 3: "migrate_3"}

# Expired leases are reaped by a claim at most this often per store (and whenever no job is
# claimable): far below any lease, and it spares every other claim a statement.
REAP_INTERVAL_S = 5.0

_R = TypeVar("_R")


def _first(cur: Any) -> Any:
    return cur.fetchone()


def _all(cur: Any) -> list[Any]:
    return list(cur.fetchall())


def _rowcount(cur: Any) -> int:
    return int(cur.rowcount)


class SqlStore(Store):
    """A job table reached through ``db`` and spoken to in ``sql``; see the module docstring."""

    reap_interval_s = REAP_INTERVAL_S

    def __init__(self, db: Connector, sql: Dialect) -> None:
        self.url = db.url
        self.db, self.sql = db, sql
        self.views_ = Views(db, sql)
        self.inserter = Inserter(db, sql, self.views_)
        self.searches_ = Searches(db, sql, self.views_, self._job)
        self._metrics = Metrics(db, sql)
        self.history = ErrorHistory(db, sql)
        self._next_reap_s = 0.0  # time.monotonic() after which claim reaps again

    # -- connection -----------------------------------------------------------------------------
    def release(self) -> None:
        self.db.release()

    def close(self) -> None:
        self.db.release()

    def clone(self) -> SqlStore:
        return SqlStore(self.db.clone(), self.sql)

    def _run(self, name: str, params: Mapping[str, Any] | None, result: Callable[[Any], _R]) -> _R:
        """Run the query ``name`` and read ``result(cursor)`` while the connection is still ours
        (see :meth:`Connector.run`)."""
        return self.db.run(name, lambda c: result(self.sql.read(c, name, params)))

    # -- schema ---------------------------------------------------------------------------------
    def _version(self, conn: Any) -> int | None:
        table = self.url.table
        if not self.sql.exec(conn, "table_exists", {"name": table}).fetchone()[0]:
            return None
        if not self.sql.exec(conn, "table_exists", {"name": f"{table}__meta"}).fetchone()[0]:
            raise DatabaseError(f"table {table!r} in {self.url.display()} exists but is not a job table "
                                f"(no {table}__meta): choose another ?table= name")
        row = self.sql.exec(conn, "schema_version").fetchone()
        return int(row[0]) if row else 0

    def ensure_schema(self, create: bool = True) -> None:
        table = self.url.table

        def op(conn: Any) -> None:
            v = self._version(conn)
            if v == SCHEMA_VERSION:
                return
            if v is not None and v > SCHEMA_VERSION:
                raise DatabaseError(f"table {table!r} in {self.url.display()} has schema version {v}, newer "
                                    f"than this jobstore's {SCHEMA_VERSION}: upgrade jobstore")
            if v is None and not create:
                raise DatabaseError(self._no_table(conn))
            with self.db.transaction(conn):
                self.sql.exec(conn, "lock_schema", {"lock": f"jobstore.schema.{table}"})
                v = self._version(conn)  # again, under the lock: another process may have done it
                while v is not None and v < SCHEMA_VERSION:
                    if v not in MIGRATIONS:
                        raise DatabaseError(f"no migration from schema version {v} of table {table!r}")
                    self.sql.exec_script(conn, MIGRATIONS[v])
                    v += 1
                self.sql.exec_script(conn, "create_schema")
                self.sql.exec(conn, "insert_table_uuid", {"uuid": str(uuid.uuid4())})
                self.sql.exec(conn, "set_schema_version", {"version": str(SCHEMA_VERSION)})

        self.db.run("open", op)

    def _no_table(self, conn: Any) -> str:
        """Why a command that does not schedule refuses to go on: the table is missing (it would
        create it and run nothing); the job tables that do exist are named, for a misspelt one."""
        names = {row[0] for row in self.sql.exec(conn, "table_names").fetchall()}
        tables = sorted(t for t in names if f"{t}__meta" in names)
        here = f"tables here: {', '.join(tables)}" if tables else "no job table here yet"
        return (f"no job table {self.url.table!r} in {self.url.display()} ({here}): schedule jobs "
                "first with jobman sqlschedule(s), the only commands that create a table")

    def schema_version(self) -> int:
        return int(self._run("schema_version", None, _first)[0])

    def table_uuid(self) -> str:
        def op(conn: Any) -> str:
            row = self.sql.exec(conn, "table_uuid").fetchone()
            if row is None:  # a table made before table UUIDs: the first to ask makes it
                self.sql.exec(conn, "insert_table_uuid", {"uuid": str(uuid.uuid4())})
                row = self.sql.exec(conn, "table_uuid").fetchone()
            return str(row[0])
        return self.db.run("table_uuid", op)

    # -- rows -------------------------------------------------------------------------------------
    @staticmethod
    def _job(row: Sequence[Any]) -> Job:
        (jid, status, priority, experiment, state, types, hsh, copy, attempt, losses, host, worker,
         lease_until, created, started, ended, updated, error, end_reason) = row
        priority = float(priority)  # SQLite's RETURNING gives integral REALs as integers
        flat, undecodable = decode_row(state, types)
        flat["jobman.experiment"] = experiment
        flat["jobman.status"] = status
        flat["jobman.sql.priority"] = priority
        flat["jobman.id"] = jid
        flat["jobman.hash"] = hsh
        return Job(id=jid, status=status, priority=priority, experiment=experiment, state=flat,
                   attempt=attempt, hash=hsh, host=host, worker=worker, lease_until=lease_until,
                   created=created, started=started, ended=ended, error=error, end_reason=end_reason,
                   extra={"copy": copy, "losses": losses, "updated": updated}, undecodable=undecodable)

    # -- scheduling -------------------------------------------------------------------------------
    def insert_jobs(self, states: Iterable[Mapping[str, Any]], *, force: bool = False,
                    priority: float | None = None) -> list[InsertResult]:
        return self.inserter.insert(states, force=force, priority=priority)

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
                row = self.sql.exec(conn, "claim", claim_params).fetchone()
            if row is None:
                with self.db.batch(conn):
                    self.sql.exec(conn, "reap", reap_params)
                    row = self.sql.exec(conn, "claim", claim_params).fetchone()
                self._next_reap_s = now + self.reap_interval_s
            while row is not None and row[1] != RUNNING:  # its attempt counter was exhausted: ERR_START
                row = self.sql.exec(conn, "claim", claim_params).fetchone()
            return self._job(row) if row else None
        return lostclaims.claiming(self.db, self.sql, "claim", op, claim_params)

    def claim_from_search(self, *, worker: str, host: str, lease_s: float) -> Job | None:
        return self.searches_.claim(worker=worker, host=host, lease_s=lease_s)

    def searches(self) -> Searches:
        return self.searches_

    def reap(self, max_attempts: int) -> int:
        """Hand back jobs whose lease expired now (:meth:`claim` does it every reap_interval_s and
        whenever no job is claimable); return how many."""
        return self._run("reap", {"max_attempts": int(max_attempts), "restart_priority": RESTART_PRIORITY},
                         _rowcount)

    def stale_leases(self, stale_s: float) -> tuple[int, float | None]:
        """Jobs RUNNING whose holder sent no heartbeat nor save for ``stale_s`` (presumed dead,
        lease not yet reaped): how many, and the seconds until the first of their leases expires."""
        n, left = self._run("stale_leases", {"stale_s": float(stale_s)}, _first)
        return int(n), (None if left is None else float(left))

    def heartbeat(self, job_id: int, attempt: int, lease_s: float) -> bool:
        params = {"id": job_id, "attempt": attempt, "lease_s": float(lease_s)}
        return self._run("heartbeat", params, _rowcount) == 1

    def _fenced(self, what: str, job_id: int, attempt: int, params: dict[str, Any],
                enc: Encoded | None, done: Callable[[Job], bool], metrics: Sequence[Point] = (),
                accepted: Callable[[Any], bool] = lambda cur: bool(cur.rowcount == 1),
                tries: list[int] | None = None) -> bool:
        """A fenced write (the query ``what``; ``accepted(cursor)`` says whether the row took it),
        with the ``metrics`` points in its transaction when it succeeds. If it was retried and then
        refused, the first try may have committed with its reply lost: re-read the row and count it
        as ours if it holds what we wrote. ``tries`` (one item) gets the number of tries."""
        tries = tries if tries is not None else [0]

        def write(conn: Any) -> bool:
            if enc is not None:
                self.views_.register(conn, enc.types)
            ok = accepted(self.sql.read(conn, what, params))
            if ok:
                self._metrics.write(conn, job_id, attempt, metrics)
            return ok

        def op(conn: Any) -> bool:
            tries[0] += 1
            if not metrics:
                return write(conn)
            with self.db.transaction(conn):
                return write(conn)

        ok = self.db.run(what, op)
        if ok or tries[0] == 1:
            return ok
        job = self.get(job_id)
        return bool(job is not None and job.attempt == attempt and done(job)
                    and (enc is None or encode_state(job.state, MIRRORED_KEYS).state == enc.state))

    def save(self, job_id: int, attempt: int, state: Mapping[str, Any] | Encoded, lease_s: float,
             metrics: Sequence[Point] = ()) -> bool:
        enc = state if isinstance(state, Encoded) else encode_state(state, MIRRORED_KEYS)
        params = {"id": job_id, "attempt": attempt, "lease_s": float(lease_s), "state": enc.state_json,
                  "types": enc.tags_json}
        return self._fenced("save", job_id, attempt, params, enc, lambda j: j.status == 1, metrics)

    @staticmethod
    def _finish_params(job_id: int, attempt: int, status: int, end_reason: str,
                       state: Mapping[str, Any] | Encoded | None, priority: float | None,
                       error: str | None) -> tuple[Encoded | None, dict[str, Any], Callable[[Job], bool]]:
        """The encoded state, the parameters of a finish, and how to recognise it in a row read back."""
        enc = state if state is None or isinstance(state, Encoded) else encode_state(state, MIRRORED_KEYS)
        params = {"id": job_id, "attempt": attempt, "status": int(status), "end_reason": str(end_reason),
                  "set_state": enc is not None, "state": enc.state_json if enc else None,
                  "types": enc.tags_json if enc else None,
                  "priority": float(priority) if priority is not None else None, "error": error}
        return enc, params, lambda j: j.status == status and j.end_reason == end_reason

    def finish(self, job_id: int, attempt: int, *, status: int, end_reason: str,
               state: Mapping[str, Any] | Encoded | None = None, priority: float | None = None,
               error: str | None = None, metrics: Sequence[Point] = ()) -> bool:
        enc, params, done = self._finish_params(job_id, attempt, status, end_reason, state, priority, error)
        return self._fenced("finish", job_id, attempt, params, enc, done, metrics)

    def finish_and_claim(self, job_id: int, attempt: int, *, status: int, end_reason: str,
                         claim: Mapping[str, Any], state: Mapping[str, Any] | Encoded | None = None,
                         priority: float | None = None, error: str | None = None,
                         metrics: Sequence[Point] = ()) -> tuple[bool, Job | None]:
        """One statement where the dialect has it (``finish_claim``), unless expired leases are due
        to be reaped: then the finish, and a claim that reaps first."""
        if "finish_claim" not in self.sql.q or time.monotonic() >= self._next_reap_s:
            return super().finish_and_claim(job_id, attempt, status=status, end_reason=end_reason, claim=claim,
                                            state=state, priority=priority, error=error, metrics=metrics)
        enc, params, done = self._finish_params(job_id, attempt, status, end_reason, state, priority, error)
        params.update(lease_s=float(claim["lease_s"]), host=claim["host"], worker=claim["worker"])
        row: list[Any] = [None]
        began, tries = time.monotonic(), [0]

        def accepted(cur: Any) -> bool:
            row[0] = cur.fetchone()
            return bool(row[0][0] == 1)

        ok = self._fenced("finish_claim", job_id, attempt, params, enc, done, metrics, accepted, tries)
        job = self._job(row[0][1:]) if row[0] is not None and row[0][1] is not None else None
        if tries[0] > 1:
            lostclaims.hand_back(self.db, self.sql, claim, job.id if job else None, began)
        if job is None:  # nothing claimable: the next claim reaps before saying so
            self._next_reap_s = 0.0
            return ok, None
        if job.status != RUNNING:  # its attempt counter was exhausted (ERR_START): claim the next one
            return ok, self.claim(**claim)
        return ok, job

    def release_lease(self, job_id: int, attempt: int) -> bool:
        return self._run("release_lease", {"id": int(job_id), "attempt": int(attempt)}, _rowcount) == 1

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def jobdirs(self) -> JobDirArchives:
        return JobDirArchives(self.db, self.sql)

    # -- queries and administration ---------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        row = self._run("get", {"id": int(job_id)}, _first)
        return self._job(row) if row else None

    def _where(self, ids: Sequence[int] | None, statuses: Sequence[int] | None,
               select: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """The WHERE clause and its parameters; None when nothing can match (empty id list)."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for name, values in (("ids", ids), ("statuses", statuses)):
            if values is None:
                continue
            if not values:
                return None
            clauses.append(self.sql.q[f"where_{name}"])
            params[name] = self.sql.list_param([int(v) for v in values])
        for n, (key, value) in enumerate((select or {}).items()):
            if key in MIRROR_COLUMNS:
                column, _, coerce = MIRROR_COLUMNS[key]
                try:
                    values = [coerce(value)]
                except (TypeError, ValueError):
                    raise UsageError(f"--select value {value!r} for {key!r} is not a valid {column}") from None
                params[f"v{n}"] = self.sql.list_param(values)
                clauses.append(queries.render(self.sql.q["where_column"], {"column": column, "n": str(n)}, False))
            else:
                clauses.append(self.sql.key_filter(n, key, json_candidates(value), params))
        return (" AND ".join(f"({c})" for c in clauses) or "true"), params

    where_clause = _where  # the dashboard's pages (board.py) filter as jobs() and count() do

    def jobs(self, *, ids: Sequence[int] | None = None, statuses: Sequence[int] | None = None,
             select: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Job]:
        where = self._where(ids, statuses, select)
        if where is None:
            return []
        clause, params = where
        text = queries.render(self.sql.q["jobs"], {"where": clause}, False)
        if limit is not None:
            params["limit"] = int(limit)
            text += "\n" + self.sql.q["limit"]
        return [self._job(r) for r in self.db.run("jobs", lambda c: c.execute(text, params).fetchall())]

    def count(self, *, statuses: Sequence[int] | None = None, ids: Sequence[int] | None = None,
              select: Mapping[str, Any] | None = None) -> int:
        where = self._where(ids, statuses, select)
        if where is None:
            return 0
        clause, params = where
        return int(self.db.run("count", lambda c: self.sql.exec(c, "count", params, where=clause).fetchone()[0]))

    def count_by_status(self) -> dict[int, int]:
        rows = self._run("count_by_status", None, _all)
        return {int(s): int(n) for s, n in rows}

    def set_status(self, ids: Sequence[int], status: int) -> int:
        if not ids:
            return 0
        params = {"ids": self.sql.list_param([int(i) for i in ids]), "status": int(status)}
        if int(status) != START:
            return self._run("set_status", params, _rowcount)

        def requeue(conn: Any) -> int:  # the errors it clears are kept (history.py), atomically
            with self.db.transaction(conn):
                self.history.archive(conn, [int(i) for i in ids])
                return int(self.sql.exec(conn, "set_status", params).rowcount)
        return self.db.run("set_status", requeue)

    def jobs_by_hash(self, hashes: Sequence[str]) -> list[Job]:
        if not hashes:
            return []
        rows = self._run("by_hashes", {"hashes": self.sql.list_param(sorted(set(hashes)))}, _all)
        return [self._job(r) for r in rows]

    def error_history(self, job_id: int) -> list[PastError]:
        return self.history.of(job_id)

    def set_priority(self, ids: Sequence[int], priority: float) -> int:
        if not ids:
            return 0
        params = {"ids": self.sql.list_param([int(i) for i in ids]), "priority": float(priority)}
        return self._run("set_priority", params, _rowcount)

    # -- keys and views ---------------------------------------------------------------------------
    def keys(self) -> dict[str, str]:
        return self.views_.keys()

    def create_view(self, name: str, *, replace: bool = False) -> list[str]:
        return self.views_.create(name, replace=replace)

    def drop_view(self, name: str) -> None:
        self.views_.drop(name)

    def views(self) -> list[str]:
        """The views kept up to date by this table."""
        return self.views_.names()
