"""The reads behind ``jobman dashboard``: one statement per view, shaped for paging and live
refresh on tables of 100,000 jobs (queries in ``queries/<dialect>/board.sql``).

Rows come back as plain values (epoch seconds, decoded flat states); formatting is the
dashboard's (``jobstore/report/dashboard``): the store never formats output.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .codec import T_INT, T_JSON, T_TEXT, decode_row
from .jobs import SqlStore
from .sorted_ids import FIRST_READ_SINCE_S, SortedIds
from .views import MIRROR_COLUMNS

# Columns of the table that a page can be sorted by, besides the state's keys.
SORT_COLUMNS = {"id": "id", "status": "status", "priority": "priority", "host": "host", "ended": "ended"}
NOT_NULL_COLUMNS = ("id", "status", "priority")  # ordered by the column alone: the primary key serves id
MAX_PAGE_ROWS = 500
MAX_SORTED_VIEWS = 4  # sort keys and filters whose sorted ids are kept (a few MB each at 100,000 jobs)


@dataclass
class Page:
    """One page of jobs: ``rows`` as dicts (id, status, priority, host, attempt, ended, state)
    and ``total``, the number of jobs matching the filter."""

    rows: list[dict[str, Any]]
    total: int


class Board:
    """Dashboard queries on ``store`` (a :class:`SqlStore`)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.db, self.sql = store.db, store.sql
        self._sorted_ids: dict[tuple[str, str, str], SortedIds] = {}

    def _rows(self, name: str, params: dict[str, Any], **fragments: str) -> list[Any]:
        return self.db.run(name, lambda c: list(self.sql.exec(c, name, params, **fragments).fetchall()))

    def now(self) -> float:
        """The database clock, in epoch seconds."""
        return float(self._rows("board_now", {})[0][0])

    def running(self, limit: int = 200) -> list[dict[str, Any]]:
        """Running jobs (lowest ids first) with host, worker, attempt, heartbeat age and state."""
        rows = self._rows("board_running", {"limit": int(limit)})
        return [{"id": r[0], "host": r[1], "worker": r[2], "attempt": r[3], "heartbeat_age_s": _num(r[4]),
                 "running_s": _num(r[5]), "state": decode_row(r[6], r[7])[0]} for r in rows]

    def timeline(self, bucket_s: float, since: float = 0.0, limit: int = 2000) -> list[tuple[float, int, int]]:
        """(bucket start, status, jobs ended then) for the last ``limit`` buckets from ``since``
        (epoch seconds) on, oldest first."""
        rows = self._rows("board_timeline", {"bucket_s": float(bucket_s), "since": float(since), "limit": int(limit)})
        return sorted((float(t), int(s), int(n)) for t, s, n in rows)

    def page(self, *, offset: int, limit: int, sort: str = "id", desc: bool = False,
             statuses: Sequence[int] | None = None, select: dict[str, Any] | None = None) -> Page:
        """Jobs matching ``statuses`` and ``select`` (key = value), ordered by ``sort`` (a column
        or a state key, missing values last, then id), rows ``offset`` to ``offset + limit``.

        In id order without a key filter, the primary key serves the page; any other order or a
        key filter is served from a :class:`SortedIds` kept current from the rows written since
        the last refresh (see :mod:`.sorted_ids`)."""
        if not 1 <= limit <= MAX_PAGE_ROWS or offset < 0:
            raise UsageError(f"page offset {offset} / limit {limit}: expected offset >= 0 and "
                             f"1 <= limit <= {MAX_PAGE_ROWS}")
        where = self.store.where_clause(None, statuses, select)
        if where is None:
            return Page([], 0)
        clause, params = where
        expr, typ = ("id", T_INT) if sort == "id" else self._sort_expr(sort)
        if sort == "id" and not select:
            return self._sql_page(offset, limit, sort, desc, statuses, select)
        json_text = typ == T_JSON and self.sql.name == "sqlite"
        for _ in range(2):
            ids = self._sorted(expr, clause, params, json_text)
            window = ids.window(offset, limit, desc)
            rows = {r["id"]: r for r in self._by_id(window)}
            if len(rows) == len(window):
                break
            # rows deleted by hand (no write of jobman deletes one): read everything again
            self._sorted_ids.pop((expr, clause, _frozen(params)), None)
        return Page([rows[i] for i in window if i in rows], len(ids))

    def _sql_page(self, offset: int, limit: int, sort: str, desc: bool, statuses: Sequence[int] | None,
                  select: dict[str, Any] | None) -> Page:
        """A page sorted and counted by the database."""
        where = self.store.where_clause(None, statuses, select)
        assert where is not None  # checked by page()
        clause, params = where
        total = self.store.count(statuses=statuses, select=select)
        params = dict(params, limit=int(limit), offset=int(offset))
        rows = self._rows("board_page", params, where=clause, order=self._order(sort, desc))
        return Page([_page_row(r) for r in rows], total)

    def _sorted(self, expr: str, clause: str, params: dict[str, Any], json_text: bool = False) -> SortedIds:
        """The sorted ids of (``expr``, filter), built or brought up to date by one statement;
        ``json_text``: the expression gives JSON text (SQLite's view of a JSON key), decoded here."""
        key = (expr, clause, _frozen(params))
        ids = self._sorted_ids.pop(key, None)
        since, after_id = (FIRST_READ_SINCE_S, 0) if ids is None else (ids.since, ids.max_id)
        rows = self._rows("board_sorted_rows", dict(params, since=since, after_id=after_id), where=clause, expr=expr)
        clock = float(rows[0][0])
        changes = [(int(r[1]), json.loads(r[2]) if json_text and r[2] is not None else r[2], r[3])
                   for r in rows if r[1] is not None]
        if ids is None:
            ids = SortedIds(clock)
            ids.load(changes)
        else:
            ids.apply(clock, changes)
        self._sorted_ids[key] = ids  # most recently used last
        while len(self._sorted_ids) > MAX_SORTED_VIEWS:
            self._sorted_ids.pop(next(iter(self._sorted_ids)))
        return ids

    def _by_id(self, ids: list[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return [_page_row(r) for r in self._rows("board_rows_by_id", {"ids": self.sql.list_param(ids)})]

    def _sort_expr(self, sort: str) -> tuple[str, str]:
        """The SQL expression of a sort column or state key, and its type (the key is a quoted
        literal there, checked against the table's keys first)."""
        if sort in SORT_COLUMNS:
            expr, typ = self.sql.quote(SORT_COLUMNS[sort]), T_TEXT
        else:
            keys = self.store.keys()
            if sort not in keys:
                raise UsageError(f"unknown sort key {sort!r}: expected one of {', '.join(SORT_COLUMNS)} "
                                 "or a key of the table")
            typ = keys[sort]
            if sort in MIRROR_COLUMNS:
                expr = self.sql.quote(MIRROR_COLUMNS[sort][0])
            else:
                expr = self.sql.view_expr(sort, typ)
        if self.sql.name == "postgres":  # psycopg reads % in the text as a placeholder
            expr = expr.replace("%", "%%")
        return expr, typ

    def _order(self, sort: str, desc: bool) -> str:
        """An ORDER BY list: a column, or a state key as its typed view expression."""
        direction = "DESC" if desc else "ASC"
        if sort in NOT_NULL_COLUMNS:
            return f"{self.sql.quote(sort)} {direction}" + ("" if sort == "id" else f", id {direction}")
        expr = self._sort_expr(sort)[0]
        return f"({expr}) IS NULL, ({expr}) {direction}, id {direction}"

    def errors(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last jobs in an error status, with their traceback and state."""
        rows = self._rows("board_errors", {"limit": int(limit)})
        return [{"id": r[0], "status": r[1], "end_reason": r[2], "host": r[3], "attempt": r[4],
                 "ended": _num(r[5]), "error": r[6], "state": decode_row(r[7], r[8])[0]} for r in rows]


def _page_row(r: Sequence[Any]) -> dict[str, Any]:
    return {"id": r[0], "status": r[1], "priority": float(r[2]), "host": r[3], "attempt": r[4],
            "ended": _num(r[5]), "state": decode_row(r[6], r[7])[0]}


def _frozen(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
