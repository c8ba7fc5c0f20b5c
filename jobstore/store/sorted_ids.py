"""The dashboard's sorted and filtered pages without sorting the table on every refresh.

A page sorted by a state key (or filtered by one) cannot be served by an index of the job table:
the database would read and sort every row's JSON state each time (76-105 ms on 100,000 jobs).
Instead :class:`SortedIds` keeps, for one sort key and one filter, every matching job id in the
page's order, with the key's value. It is built by one read of ``(id, value, matches)`` for the
whole table, then kept current from the rows written since the last refresh, read through indexes:
- every change of a row sets its ``updated`` column (claims, heartbeats, saves, finishes, hand
  changes), so a refresh reads the rows with ``updated`` at or after the previous refresh's
  database clock less :data:`CLOCK_MARGIN_S` (the margin covers a transaction that took its time
  before that reading and committed after it: jobman's writes last milliseconds, a hand change of
  many jobs seconds); rows read twice are simply applied twice;
- a new row (``updated = created``) is found by its id, above the highest id seen: inserts are
  serialised by a transaction-scoped lock, so ids grow in commit order.
The page's rows themselves are then read by id. Rows deleted by hand (jobman deletes none) are
noticed when a page misses one, and everything is read again.

The order is the one the database gave before: non-null values ascending (or descending), then
the jobs without the key, ties by id in the same direction. Text compares by code point (as
SQLite does, and PostgreSQL's "C" collation), NaN after every number.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

CLOCK_MARGIN_S = 30.0
# Past this many changed rows in one refresh, the list is sorted again instead of edited in place.
RESORT_FRACTION = 0.05

SortKey = tuple[int, Any]


def sort_key(value: Any) -> SortKey:
    """How a non-null value orders: numbers, then NaN, then text, then anything else (datetimes)."""
    if isinstance(value, (bool, int, Decimal)):
        return (0, value)
    if isinstance(value, float):
        return (1, 0.0) if math.isnan(value) else (0, value)
    if isinstance(value, str):
        return (2, value)
    return (3, value)


class SortedIds:
    """Every job id matching one filter, in the order of one sort key; see the module docstring.

    ``clock`` is the database time (epoch seconds) at which the contents were read: the next
    refresh asks for the rows written since ``clock - CLOCK_MARGIN_S``."""

    def __init__(self, clock: float) -> None:
        self.clock = clock
        self.max_id = 0  # the highest id read: new rows are those above it
        self.keys: dict[int, SortKey | None] = {}  # id -> its sort key, None without the key
        self.valued: list[tuple[SortKey, int]] = []  # sorted ascending
        self.nulls: list[int] = []  # sorted ascending

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def since(self) -> float:
        return self.clock - CLOCK_MARGIN_S

    def apply(self, clock: float, rows: Iterable[tuple[int, Any, Any]]) -> None:
        """Take in ``(id, value, matches)`` rows read at database time ``clock``: each one replaces
        what was known of its job (dropped when it no longer matches the filter)."""
        rows = list(rows)
        self.clock = max(self.clock, clock)
        self.max_id = max([self.max_id, *(job for job, _, _ in rows)])
        if len(rows) > RESORT_FRACTION * max(len(self.keys), 1):
            for job, value, matches in rows:
                self.keys.pop(job, None)
                if matches:
                    self.keys[job] = None if value is None else sort_key(value)
            self._resort()
            return
        for job, value, matches in rows:
            self._remove(job)
            if matches:
                self._insert(job, None if value is None else sort_key(value))

    def _resort(self) -> None:
        self.valued = sorted((k, j) for j, k in self.keys.items() if k is not None)
        self.nulls = sorted(j for j, k in self.keys.items() if k is None)

    def _remove(self, job: int) -> None:
        if job not in self.keys:
            return
        key = self.keys.pop(job)
        if key is None:
            self.nulls.pop(bisect.bisect_left(self.nulls, job))
        else:
            self.valued.pop(bisect.bisect_left(self.valued, (key, job)))

    def _insert(self, job: int, key: SortKey | None) -> None:
        self.keys[job] = key
        if key is None:
            bisect.insort(self.nulls, job)
        else:
            bisect.insort(self.valued, (key, job))

    def window(self, offset: int, limit: int, desc: bool) -> list[int]:
        """The ids of rows ``offset`` to ``offset + limit`` in the page's order."""
        n_valued = len(self.valued)
        out: list[int] = []
        for i in range(offset, min(offset + limit, len(self.keys))):
            if i < n_valued:
                out.append(self.valued[n_valued - 1 - i if desc else i][1])
            else:
                k = i - n_valued
                out.append(self.nulls[len(self.nulls) - 1 - k if desc else k])
        return out
