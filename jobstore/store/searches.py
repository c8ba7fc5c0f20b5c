"""Searches on the job table: registered by ``jobman sqlsearch``, served by the unchanged workers.

A search is a row of ``<table>__searches`` (space, fixed parameters, sampler, seed, objective,
direction, budget, name); ``<table>__search_jobs`` says which job belongs to which search. Its
jobs are ordinary rows of the job table (their state carries ``jobman.search``, the search's name,
so that the views show it and two searches never share a job).

When a worker finds no START job it calls :meth:`Searches.claim`. For the oldest search with
budget left, in ONE transaction: a transaction-scoped lock per search (PostgreSQL's
``pg_advisory_xact_lock``, which works through PgBouncer's transaction pooling; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), count the search's jobs, rebuild the history
and ask the sampler, insert the job already claimed (RUNNING, attempt 1, a lease), link it to
the search, commit. So the budget is exact whatever the number of workers, and a worker killed
anywhere before the commit leaves nothing behind. A point identical to an existing job is
refused by the table's unique content hash and asked again, at most :data:`MAX_DUPLICATE_ASKS`
times. A job lost by a dead worker is an ordinary RUNNING job: its lease expires, the claim
requeues it, and it is never asked again.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UsageError
from ..params.resolve import resolve
from ..search import samplers
from ..search.samplers import Trial
from ..search.space import Dimension, space_from_json
from ..status import DEFAULT_PRIORITY, DONE, RUNNING, START
from . import lostclaims
from .base import MIRRORED_KEYS, Job
from .codec import decode_row, decode_state, encode_state, state_hash
from .connector import Connector
from .dialect import Dialect
from .views import Views

MAX_DUPLICATE_ASKS = 8
SEARCH_KEY = "jobman.search"
# A dotted name called with each asked point inside the transaction, before the insert: lets a
# test kill a worker at exactly that moment. Unset in normal use.
AFTER_ASK_HOOK_ENV = "JOBMAN_SEARCH_AFTER_ASK"


@dataclass(frozen=True)
class Search:
    """One registered search; ``id`` is None until it is registered."""

    name: str | None
    experiment: str
    space: list[dict[str, Any]]
    fixed: dict[str, Any]
    sampler: str
    objective: str
    direction: str
    budget: int
    seed: int | None = None
    id: int | None = None

    def dimensions(self) -> list[Dimension]:
        return space_from_json(self.space)


@dataclass(frozen=True)
class SearchProgress:
    """A search's jobs by what the sampler made of them, and its best objective so far."""

    search: Search
    done: int
    running: int
    failed: int
    best: float | None
    best_job: int | None

    @property
    def left(self) -> int:
        return max(0, self.search.budget - self.done - self.running - self.failed)


@dataclass(frozen=True)
class SearchTrial:
    """One job of a search as the dashboard draws it: ``value`` is its objective when it is a
    finite number (None otherwise)."""

    search_id: int
    name: str
    objective: str
    direction: str
    budget: int
    job_id: int
    status: int
    value: float | None


def _search(row: Sequence[Any]) -> Search:
    sid, name, experiment, space, fixed, fixed_types, sampler, seed, objective, direction, budget = row
    return Search(id=int(sid), name=name, experiment=experiment, space=json.loads(space),
                  fixed=decode_state(fixed, fixed_types), sampler=sampler, seed=seed, objective=objective,
                  direction=direction, budget=int(budget))


def _trial(search: Search, status: int, state: dict[str, Any]) -> Trial:
    keys = [d["key"] for d in search.space]
    params = {k: state[k] for k in keys if k in state}
    if status in (START, RUNNING):
        return Trial(params, samplers.RUNNING)
    value = samplers.objective_value(state.get(search.objective)) if status == DONE else None
    return Trial(params, samplers.COMPLETE if value is not None else samplers.FAILED, value)


def _after_ask(params: dict[str, Any]) -> None:
    name = os.environ.get(AFTER_ASK_HOOK_ENV)
    if name:
        resolve(name)(params)


class Searches:
    """The searches of one table; see the module docstring. ``to_job`` reads a job row."""

    def __init__(self, db: Connector, sql: Dialect, views: Views, to_job: Callable[[Sequence[Any]], Job]) -> None:
        self.db, self.sql, self.views, self.to_job = db, sql, views, to_job
        self.table = sql.url.table
        self._known = False  # whether the side tables exist (they are never dropped)

    # -- the side tables ----------------------------------------------------------------------------
    def _exists(self, conn: Any) -> bool:
        return bool(self.sql.exec(conn, "table_exists", {"name": f"{self.table}__searches"}).fetchone()[0])

    def _create_if_missing(self, conn: Any) -> None:
        """A table created before searches existed gets its side tables (the schema is idempotent)."""
        if self._exists(conn):
            return
        with self.db.transaction(conn):
            self.sql.exec(conn, "lock_schema", {"lock": f"jobstore.schema.{self.table}"})
            self.sql.exec_script(conn, "create_schema")

    # -- registering and reading ----------------------------------------------------------------------
    def register(self, search: Search) -> Search:
        """Store ``search`` (named ``search<N>`` when it has no name); ``UsageError`` if the name is taken."""
        enc = encode_state(search.fixed)

        def op(conn: Any) -> Search:
            self._create_if_missing(conn)
            with self.db.transaction(conn):
                self.sql.exec(conn, "search_lock", {"lock": f"jobstore.search.{self.table}"})
                name = search.name or f"search{self.sql.exec(conn, 'search_next_number').fetchone()[0]}"
                params = {"name": name, "experiment": search.experiment, "space": json.dumps(search.space),
                          "fixed": enc.state_json, "fixed_types": enc.tags_json, "sampler": search.sampler,
                          "seed": search.seed, "objective": search.objective, "direction": search.direction,
                          "budget": int(search.budget)}
                row = self.sql.exec(conn, "search_insert", params).fetchone()
                if row is None:
                    raise UsageError(f"a search named {name!r} already exists in table {self.table!r}: "
                                     "choose another --name")
            return replace(search, id=int(row[0]), name=name)

        return self.db.run("register search", op)

    def all(self) -> list[Search]:
        def op(conn: Any) -> list[Search]:
            if not self._exists(conn):
                return []
            return [_search(r) for r in self.sql.exec(conn, "search_all").fetchall()]
        return self.db.run("searches", op)

    def _history(self, conn: Any, search: Search) -> list[tuple[int, int, dict[str, Any]]]:
        rows = self.sql.exec(conn, "search_history", {"search_id": search.id}).fetchall()
        return [(int(jid), int(status), decode_row(state, types)[0]) for jid, status, state, types in rows]

    def progress(self) -> list[SearchProgress]:
        """Every search with its counts and best objective (for ``sqlstatus --summary``)."""
        def op(conn: Any) -> list[SearchProgress]:
            if not self._exists(conn):
                return []
            out = []
            for search in (_search(r) for r in self.sql.exec(conn, "search_all").fetchall()):
                out.append(self._progress(search, self._history(conn, search)))
            return out
        return self.db.run("search progress", op)

    def trials(self, after: int = 0, limit: int = 5000) -> list[SearchTrial]:
        """The jobs of every search above the job id ``after``, in id order (creation order), at
        most ``limit``: what the dashboard's best-so-far curves are drawn from, one statement."""
        def op(conn: Any) -> list[SearchTrial]:
            if not self._known and not self._exists(conn):
                return []
            self._known = True
            rows = self.sql.exec(conn, "search_trials", {"after": int(after), "limit": int(limit)}).fetchall()
            return [SearchTrial(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]),
                                samplers.objective_value(r[7])) for r in rows]
        return self.db.run("search trials", op)

    @staticmethod
    def _progress(search: Search, history: list[tuple[int, int, dict[str, Any]]]) -> SearchProgress:
        done = running = failed = 0
        best: tuple[float, int] | None = None
        sign = -1.0 if search.direction == "maximize" else 1.0
        for jid, status, state in history:
            trial = _trial(search, status, state)
            if trial.state == samplers.FAILED:
                failed += 1
            elif trial.state == samplers.RUNNING:
                running += 1
            else:
                done += 1
                assert trial.value is not None  # a complete trial has its value
                if best is None or sign * trial.value < sign * best[0]:
                    best = (trial.value, jid)
        return SearchProgress(search, done, running, failed, best[0] if best else None, best[1] if best else None)

    # -- the worker's side ----------------------------------------------------------------------------
    def claim(self, *, worker: str, host: str, lease_s: float) -> Job | None:
        """Ask, insert and claim the next job of the oldest search with budget left; None when no
        search has budget left (or none could give a new point)."""
        def op(conn: Any) -> Job | None:
            if not self._exists(conn):
                return None
            for search in [_search(r) for r in self.sql.exec(conn, "search_open").fetchall()]:
                try:
                    with self.db.transaction(conn):
                        job = self._claim_one(conn, search, worker, host, lease_s)
                except BaseException:
                    self.views.forget()
                    raise
                if job is not None:
                    return job
            return None
        # a lost reply may have left a trial inserted and claimed: lostclaims hands it back
        return lostclaims.claiming(self.db, self.sql, "claim from search", op, {"worker": worker, "host": host})

    def _claim_one(self, conn: Any, search: Search, worker: str, host: str, lease_s: float) -> Job | None:
        self.sql.exec(conn, "search_lock", {"lock": f"jobstore.search.{self.table}.{search.id}"})
        if self.sql.exec(conn, "search_count", {"search_id": search.id}).fetchone()[0] >= search.budget:
            return None  # another worker spent the budget since search_open
        history = [_trial(search, status, state) for _, status, state in self._history(conn, search)]
        dims = search.dimensions()
        for attempt in range(MAX_DUPLICATE_ASKS):
            params = samplers.ask(dims, search.sampler, search.direction, history, seed=search.seed,
                                  attempt=attempt)
            _after_ask(params)
            job = self._insert_claimed(conn, search, params, worker, host, lease_s)
            if job is not None:
                self.sql.exec(conn, "search_link", {"job_id": job.id, "search_id": search.id})
                return job
            history.append(Trial(params, samplers.RUNNING))  # identical to an existing job
        return None

    def _insert_claimed(self, conn: Any, search: Search, params: dict[str, Any], worker: str, host: str,
                        lease_s: float) -> Job | None:
        state = {**search.fixed, **params, SEARCH_KEY: search.name}
        enc = encode_state(state, MIRRORED_KEYS)
        # Every insert into the table takes this lock (PostgreSQL's scheduling draws ids in blocks).
        self.sql.exec(conn, "lock_insert", {"lock": f"jobstore.insert.{self.table}"})
        self.views.register(conn, enc.types)
        row = self.sql.exec(conn, "search_insert_claimed", {
            "priority": DEFAULT_PRIORITY, "experiment": search.experiment, "state": enc.state_json,
            "types": enc.tags_json, "hash": state_hash(search.experiment, enc), "lease_s": float(lease_s),
            "host": host, "worker": worker}).fetchone()
        return self.to_job(row) if row else None
