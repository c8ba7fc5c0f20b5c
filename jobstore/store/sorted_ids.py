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
SQLite does, and PostgreSQL's "C" collation), NaN after every number; a key holding JSON of
several types orders numbers, then text, then lists and objects by their JSON text.
"""
from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

CLOCK_MARGIN_S = 30.0
# The since of the first read: no row is "changed", every row is read once as new (ids above 0).
FIRST_READ_SINCE_S = 1e11
BLOCK_ITEMS = 500  # the sorted lists are kept in blocks of about this size: an edit moves one block
# Past this fraction of changed rows in one refresh, the lists are sorted again instead of edited.
RESORT_FRACTION = 0.2

SortKey = tuple[int, Any]


def sort_key(value: Any) -> SortKey:
    """How a non-null value orders: numbers, then NaN, then text, then lists and objects (a key
    holding JSON: by their JSON text), then anything else (datetimes)."""
    if isinstance(value, (bool, int, Decimal)):
        return (0, value)
    if isinstance(value, float):
        return (1, 0.0) if math.isnan(value) else (0, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, (list, dict)):
        return (3, json.dumps(value, sort_keys=True))
    return (4, value)


class Blocks:
    """A sorted list kept in blocks of about BLOCK_ITEMS items, so that an insert or a removal
    costs O(log n + BLOCK_ITEMS), not a move of the whole list (the idea of sortedcontainers'
    SortedList, reduced to what the pages need)."""

    def __init__(self, items: list[Any]) -> None:
        items = sorted(items)
        self.blocks = [items[i:i + BLOCK_ITEMS] for i in range(0, len(items), BLOCK_ITEMS)]
        self.maxes = [b[-1] for b in self.blocks]
        self.size = len(items)

    def add(self, item: Any) -> None:
        if not self.blocks:
            self.blocks, self.maxes, self.size = [[item]], [item], 1
            return
        i = min(bisect.bisect_left(self.maxes, item), len(self.blocks) - 1)
        block = self.blocks[i]
        bisect.insort(block, item)
        self.maxes[i] = block[-1]
        self.size += 1
        if len(block) > 2 * BLOCK_ITEMS:
            self.blocks[i:i + 1] = [block[:BLOCK_ITEMS], block[BLOCK_ITEMS:]]
            self.maxes[i:i + 1] = [block[BLOCK_ITEMS - 1], block[-1]]

    def remove(self, item: Any) -> None:
        i = bisect.bisect_left(self.maxes, item)
        block = self.blocks[i]
        block.pop(bisect.bisect_left(block, item))
        self.size -= 1
        if block:
            self.maxes[i] = block[-1]
        else:
            del self.blocks[i], self.maxes[i]

    def slice(self, start: int, stop: int) -> list[Any]:
        """Items ``start`` to ``stop`` in ascending order."""
        out: list[Any] = []
        seen = 0
        for block in self.blocks:
            if seen + len(block) > start and seen < stop:
                out.extend(block[max(0, start - seen):stop - seen])
            seen += len(block)
            if seen >= stop:
                break
        return out


class SortedIds:
    """Every job id matching one filter, in the order of one sort key; see the module docstring.

    ``clock`` is the database time (epoch seconds) at which the contents were read: the next
    refresh asks for the rows changed since ``clock - CLOCK_MARGIN_S``."""

    def __init__(self, clock: float) -> None:
        self.clock = clock
        self.max_id = 0  # the highest id read: new rows are those above it
        self.keys: dict[int, SortKey | None] = {}  # id -> its sort key, None without the key
        self.valued = Blocks([])  # (sort key, id), ascending
        self.nulls = Blocks([])  # ids without the key, ascending

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def since(self) -> float:
        return self.clock - CLOCK_MARGIN_S

    def load(self, rows: Iterable[tuple[int, Any, Any]]) -> None:
        """The first read: every row of the table, ``(id, value, matches)``."""
        keys = self.keys
        for job, value, matches in rows:
            self.max_id = max(self.max_id, job)
            if matches:
                keys[job] = None if value is None else sort_key(value)
        self.valued = Blocks([(k, j) for j, k in keys.items() if k is not None])
        self.nulls = Blocks([j for j, k in keys.items() if k is None])

    def apply(self, clock: float, rows: Iterable[tuple[int, Any, Any]]) -> None:
        """Take in ``(id, value, matches)`` rows read at database time ``clock``: each one replaces
        what was known of its job (dropped when it no longer matches the filter)."""
        self.clock = max(self.clock, clock)
        latest = {job: (value, matches) for job, value, matches in rows}  # a row may come twice
        self.max_id = max([self.max_id, *latest])
        changed = []
        for job, (value, matches) in latest.items():
            key = None if value is None else sort_key(value)
            if bool(matches) != (job in self.keys) or (matches and self.keys[job] != key):
                changed.append((job, key, bool(matches)))  # a heartbeat changes nothing here
        if len(changed) > RESORT_FRACTION * len(self.keys):
            for job, key, matches in changed:
                self.keys.pop(job, None)
                if matches:
                    self.keys[job] = key
            self.valued = Blocks([(k, j) for j, k in self.keys.items() if k is not None])
            self.nulls = Blocks([j for j, k in self.keys.items() if k is None])
            return
        for job, key, matches in changed:
            if job in self.keys:
                self._remove(job, self.keys.pop(job))
            if matches:
                self.keys[job] = key
                self._add(job, key)

    def _add(self, job: int, key: SortKey | None) -> None:
        if key is None:
            self.nulls.add(job)
        else:
            self.valued.add((key, job))

    def _remove(self, job: int, key: SortKey | None) -> None:
        if key is None:
            self.nulls.remove(job)
        else:
            self.valued.remove((key, job))

    def window(self, offset: int, limit: int, desc: bool) -> list[int]:
        """The ids of rows ``offset`` to ``offset + limit`` in the page's order: the jobs with a
        value (ascending, or descending), then those without, ties by id in the same direction."""
        n_valued, n = self.valued.size, len(self.keys)
        stop = min(offset + limit, n)
        if offset >= stop:
            return []
        out: list[int] = []
        if offset < n_valued:  # the part among the valued rows
            lo, hi = offset, min(stop, n_valued)
            part = self.valued.slice(n_valued - hi, n_valued - lo)[::-1] if desc else self.valued.slice(lo, hi)
            out.extend(j for _, j in part)
        if stop > n_valued:  # the part among the nulls
            lo, hi = max(offset, n_valued) - n_valued, stop - n_valued
            n_nulls = self.nulls.size
            out.extend(self.nulls.slice(n_nulls - hi, n_nulls - lo)[::-1] if desc else self.nulls.slice(lo, hi))
        return out
