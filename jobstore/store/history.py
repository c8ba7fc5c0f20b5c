"""The attempt history of errors: the side table ``{table}__errors`` (job, attempt, status,
end_reason, error, ended, cleared — times from the database clock).

A row holds the error of the last attempt that ended. When a user requeues jobs by hand after a fix
(``jobman sqlstatus --set_status=START``), the row starts afresh — its error cleared, so that the
summary no longer lists it — but the error is not lost: it is copied here first, in the same
transaction, and ``sqlstatus --traceback ID`` shows it under the current one. The table is in
``create_schema`` and is also created on first use, so tables made before it need no migration.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .connector import Connector
from .dialect import Dialect

__all__ = ["PastError", "ErrorHistory"]


@dataclass(frozen=True)
class PastError:
    """An error cleared from a job's row by a requeue, with the attempt that raised it."""

    attempt: int
    status: int
    end_reason: str | None
    error: str
    ended: float | None  # epoch seconds
    cleared: float


class ErrorHistory:
    """Archives errors before a requeue clears them, and reads them back, for one table."""

    def __init__(self, db: Connector, sql: Dialect) -> None:
        self.db, self.sql = db, sql

    def archive(self, conn: Any, ids: Sequence[int]) -> int:
        """Copy the errors of the rows ``ids`` (inside the caller's transaction); how many."""
        # the side table comes with the schema: every table reaching version 4 ran create_schema
        return int(self.sql.exec(conn, "errors_archive", {"ids": self.sql.list_param(list(ids))}).rowcount)

    def _exists(self, conn: Any) -> bool:
        return bool(self.sql.exec(conn, "table_exists", {"name": f"{self.sql.url.table}__errors"}).fetchone()[0])

    def of(self, job_id: int) -> list[PastError]:
        """The errors cleared from job ``job_id``, oldest first (none while the table is missing:
        nothing was ever requeued by hand)."""
        def op(conn: Any) -> list[PastError]:
            if not self._exists(conn):
                return []
            rows = self.sql.exec(conn, "errors_of", {"id": int(job_id)}).fetchall()
            return [PastError(int(a), int(s), r, str(e), None if t is None else float(t), float(c))
                    for a, s, r, e, t, c in rows]
        return self.db.run("errors_of", op)
