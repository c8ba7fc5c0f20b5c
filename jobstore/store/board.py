"""The reads behind ``jobman dashboard``: one statement per view, shaped for paging and live
refresh on tables of 100,000 jobs (queries in ``queries/<dialect>/board.sql``).

Rows come back as plain values (epoch seconds, decoded flat states); formatting is the
dashboard's (``jobstore/report/dashboard``): the store never formats output.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .codec import decode_row
from .jobs import SqlStore
from .views import MIRROR_COLUMNS

# Columns of the table that a page can be sorted by, besides the state's keys.
SORT_COLUMNS = {"id": "id", "status": "status", "priority": "priority", "host": "host", "ended": "ended"}
NOT_NULL_COLUMNS = ("id", "status", "priority")  # ordered by the column alone: the primary key serves id
MAX_PAGE_ROWS = 500


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
        or a state key, missing values last, then id), rows ``offset`` to ``offset + limit``."""
        if not 1 <= limit <= MAX_PAGE_ROWS or offset < 0:
            raise UsageError(f"page offset {offset} / limit {limit}: expected offset >= 0 and "
                             f"1 <= limit <= {MAX_PAGE_ROWS}")
        where = self.store.where_clause(None, statuses, select)
        if where is None:
            return Page([], 0)
        clause, params = where
        total = self.store.count(statuses=statuses, select=select)
        params = dict(params, limit=int(limit), offset=int(offset))
        rows = self._rows("board_page", params, where=clause, order=self._order(sort, desc))
        return Page([{"id": r[0], "status": r[1], "priority": float(r[2]), "host": r[3], "attempt": r[4],
                      "ended": _num(r[5]), "state": decode_row(r[6], r[7])[0]} for r in rows], total)

    def _order(self, sort: str, desc: bool) -> str:
        """An ORDER BY list: a column, or a state key as its typed view expression (the key is a
        quoted literal there, checked against the table's keys first)."""
        direction = "DESC" if desc else "ASC"
        if sort in NOT_NULL_COLUMNS:
            return f"{self.sql.quote(sort)} {direction}" + ("" if sort == "id" else f", id {direction}")
        if sort in SORT_COLUMNS:
            expr = self.sql.quote(SORT_COLUMNS[sort])
        else:
            keys = self.store.keys()
            if sort not in keys:
                raise UsageError(f"unknown sort key {sort!r}: expected one of {', '.join(SORT_COLUMNS)} "
                                 "or a key of the table")
            if sort in MIRROR_COLUMNS:
                expr = self.sql.quote(MIRROR_COLUMNS[sort][0])
            else:
                expr = self.sql.view_expr(sort, keys[sort])
        if self.sql.name == "postgres":  # psycopg reads % in the text as a placeholder
            expr = expr.replace("%", "%%")
        return f"({expr}) IS NULL, ({expr}) {direction}, id {direction}"

    def errors(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last jobs in an error status, with their traceback and state."""
        rows = self._rows("board_errors", {"limit": int(limit)})
        return [{"id": r[0], "status": r[1], "end_reason": r[2], "host": r[3], "attempt": r[4],
                 "ended": _num(r[5]), "error": r[6], "state": decode_row(r[7], r[8])[0]} for r in rows]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
