"""Per-epoch metric history: the side table ``{table}__metrics`` (job, attempt, name, step, value,
time from the database clock).

An experiment calls ``channel.report(step, **metrics)``; the points wait in the channel and are
written by :meth:`Metrics.write` inside the transaction of the next fenced save or of the finish,
so they cost no round trip of their own and a refused attempt writes none. A retried write
(its first reply lost) replaces its own points: the key is (job, name, attempt, step).

A table created before the metrics existed has no side table until its schema is created again;
then points are dropped with a warning rather than failing the save that carries them.
"""
from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from .connector import Connector
from .dialect import Dialect

logger = logging.getLogger(__name__)


class Point(NamedTuple):
    """One reported value: ``name`` at ``step`` (an epoch, an iteration)."""

    step: int
    name: str
    value: float | None


def make_points(step: Any, metrics: dict[str, Any]) -> list[Point]:
    """Check what ``channel.report`` was given: an integral step, real-number values. A non-finite
    value (a diverged loss) is kept as None (SQL NULL): neither JSON nor every driver carries it."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"channel.report: step {step!r} is not an integer (an epoch or iteration number)")
    points = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"channel.report: metric {name!r} = {value!r} is not a real number")
        v = float(value)
        points.append(Point(int(step), str(name), v if math.isfinite(v) else None))
    return points


class Metrics:
    """The metrics of one job table: fenced writes (with a save or finish) and reads."""

    def __init__(self, db: Connector, sql: Dialect) -> None:
        self.db, self.sql = db, sql
        self._exists: bool | None = None  # checked once per store, on the first write or read

    def _table_exists(self, conn: Any) -> bool:
        if not self._exists:
            name = f"{self.sql.url.table}__metrics"
            self._exists = bool(self.sql.exec(conn, "table_exists", {"name": name}).fetchone()[0])
        return self._exists

    def write(self, conn: Any, job_id: int, attempt: int, points: Sequence[Point]) -> None:
        """Insert ``points`` on ``conn``, inside the caller's transaction (that of a fenced write
        which succeeded)."""
        if not points:
            return
        if not self._table_exists(conn):
            logger.warning("jobstore: table %s has no metrics table (created by an older jobstore): "
                           "%d points of job %d dropped", self.sql.url.table, len(points), job_id)
            return
        params = {"id": int(job_id), "attempt": int(attempt),
                  "steps": self.sql.list_param([p.step for p in points]),
                  "names": self.sql.list_param([p.name for p in points]),
                  "values": self.sql.list_param([p.value for p in points])}
        self.sql.exec(conn, "insert_metrics", params)

    def names(self, job_ids: Sequence[int]) -> list[str]:
        """The metric names reported by these jobs."""
        ids = self.sql.list_param([int(i) for i in job_ids])
        return self.db.run("metric_names", lambda c: [r[0] for r in self._rows(c, "metric_names", {"ids": ids})])

    def series(self, job_ids: Sequence[int], name: str) -> dict[int, list[tuple[int, int, float | None]]]:
        """``{job: [(attempt, step, value), ...]}`` of the metric ``name`` for these jobs."""
        ids = self.sql.list_param([int(i) for i in job_ids])
        rows = self.db.run("metric_series", lambda c: self._rows(c, "metric_series", {"ids": ids, "name": name}))
        out: dict[int, list[tuple[int, int, float | None]]] = {}
        for job, attempt, step, value in rows:
            out.setdefault(int(job), []).append((int(attempt), int(step), value))
        return out

    def rows(self) -> Iterator[tuple[int, int, int, str, float | None, float]]:
        """Every point as (job, attempt, step, name, value, epoch seconds), for export."""
        rows = self.db.run("metric_rows", lambda c: self._rows(c, "metric_rows", None))
        for job, attempt, step, name, value, time in rows:
            yield int(job), int(attempt), int(step), name, value, float(time)

    def _rows(self, conn: Any, query: str, params: dict[str, Any] | None) -> list[Any]:
        if not self._table_exists(conn):
            return []
        return list(self.sql.exec(conn, query, params).fetchall())
