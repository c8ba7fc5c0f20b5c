"""Scheduling: inserting jobs, deduplicated by the content hash of their parameters.

The jobs of one call are encoded lazily and once (:class:`Batch`); a dialect that can stream them
(PostgreSQL's COPY) inserts them straight into the table while they are encoded, else they are
staged and inserted with ``ON CONFLICT DO NOTHING`` (:meth:`Inserter.insert`). Inserts are
serialized per table (workers never insert), so forced copies are numbered consistently and ids
can be reserved in blocks.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import UsageError
from ..status import DEFAULT_PRIORITY, START
from .base import MIRRORED_KEYS, InsertResult
from .codec import Encoded, encode_state, state_hash, widen
from .connector import Connector
from .dialect import Dialect
from .views import Views

FORCED_COPY_TRIES = 5
"""How often forced copies that lost a race for their copy number are inserted again."""


class Batch:
    """The jobs of one :meth:`Inserter.insert` call, encoded lazily and once: the PostgreSQL COPY
    ingests the first rows while later ones are encoded (the server is another process: on two
    cores this overlaps about half of the work), and a retried insert reuses what was encoded.
    ``prepared[i]`` is (experiment, priority, Encoded, hash); ``results[i]`` the state as
    scheduled; ``types`` the SQL type of every key seen so far."""

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


class Inserter:
    """Inserts jobs into one table through ``db`` and ``sql``, registering their keys in ``views``."""

    def __init__(self, db: Connector, sql: Dialect, views: Views) -> None:
        self.db, self.sql, self.views = db, sql, views

    def insert(self, states: Iterable[Mapping[str, Any]], *, force: bool = False,
               priority: float | None = None) -> list[InsertResult]:
        batch = Batch(list(states), priority)
        if not batch.states:
            return []

        def op(conn: Any) -> list[InsertResult]:
            stream = not force and self.sql.streams_direct
            if not stream:  # encode first: bad input is refused before the database is touched
                batch.encode_all()
            try:
                with self.db.transaction(conn):
                    self.sql.exec(conn, "lock_insert", {"lock": f"jobstore.insert.{self.sql.url.table}"})
                    ids = self.sql.insert_direct(conn, batch) if stream else None
                    if ids is None:
                        ids = self._insert_general(conn, batch, force)
                    # The keys are known once every job is encoded; registering them in the same
                    # transaction keeps the registry and the rows consistent if either fails.
                    self.views.register(conn, batch.types)
            except BaseException:
                self.views.forget()
                raise
            return [InsertResult(jid is not None, jid, st, p[3])
                    for jid, st, p in zip(ids, batch.results, batch.prepared)]

        return self.db.run("insert", op)

    def _insert_general(self, conn: Any, batch: Batch, force: bool) -> list[int | None]:
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
        for _ in range(FORCED_COPY_TRIES if force else 1):
            if force:
                self._number_copies(conn, prepared, todo, copies)
            rows = [(i, prepared[i][0], prepared[i][1], prepared[i][2].state_json, prepared[i][2].tags_json,
                     prepared[i][3], copies[i]) for i in todo]
            self.sql.bulk_load(conn, rows)
            got = {(h, c): jid for jid, h, c in self.sql.exec(conn, "insert_from_tmp").fetchall()}
            self.sql.exec(conn, "insert_tmp_clear")
            for i in todo:
                ids[i] = got.pop((prepared[i][3], copies[i]), None)
            todo = [i for i in todo if ids[i] is None]
            if not todo:
                break
        return ids

    def _number_copies(self, conn: Any, prepared: list[tuple[str, float, Encoded, str]], todo: list[int],
                       copies: list[int]) -> None:
        """Give each forced job the copy number after the highest one of its hash."""
        hashes = sorted({prepared[i][3] for i in todo})
        top = dict(self.sql.exec(conn, "max_copies", {"hashes": self.sql.list_param(hashes)}).fetchall())
        for i in todo:
            h = prepared[i][3]
            top[h] = copies[i] = (top[h] + 1) if h in top else 0
