"""What differs between the SQL dialects beyond the connection: the queries (``queries/<dialect>/``,
loaded by name), identifier quoting, list parameters, JSON key filters, typed view columns and bulk
loading. A dialect object holds no connection and no state but its rendered queries, so one serves
every connection to its table."""
from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import queries
from .urls import DbUrl

if TYPE_CHECKING:
    from .inserts import Batch


class Dialect(abc.ABC):
    """The SQL of one dialect for one table (``url.table``); see the module docstring."""

    name = ""  # the folder under queries/
    streams_direct = False  # whether insert_direct consumes a batch as it is encoded
    read_options: Mapping[str, Any] = {}  # passed to the driver's execute by read()

    def __init__(self, url: DbUrl) -> None:
        self.url = url
        t = url.table
        names = {
            "table": t, "meta": f"{t}__meta", "keys": f"{t}__keys", "views": f"{t}__views",
            "claim_index": f"{t}__claim", "lease_index": f"{t}__lease", "status_index": f"{t}__status",
            "unique_hash": f"{t}__hash_copy", "metrics": f"{t}__metrics",
            "ended_index": f"{t}__ended", "updated_index": f"{t}__updated",
            "searches": f"{t}__searches", "search_jobs": f"{t}__search_jobs",
            "search_jobs_index": f"{t}__search_jobs_search",
            "jobdirs": f"{t}__jobdirs",
            "errors": f"{t}__errors", "errors_index": f"{t}__errors_job",
        }
        self.q = queries.render_all(self.name, names, self.quote)
        self._cursor: tuple[Any, Any] | None = None  # (connection, cursor) for read()

    @staticmethod
    @abc.abstractmethod
    def quote(name: str) -> str:
        """A quoted SQL identifier."""

    def exec(self, conn: Any, name: str, params: Mapping[str, Any] | Sequence[Any] | None = None,
             **fragments: str) -> Any:
        """Run the query ``name`` with bound ``params``, its ``{fragment}`` placeholders filled in."""
        text = self.q[name]
        if fragments:
            text = queries.render(text, fragments, literal_braces=False)
        return conn.execute(text, params) if params is not None else conn.execute(text)

    def read(self, conn: Any, name: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> Any:
        """:meth:`exec` through one cursor kept for the last connection used, for a result read at
        once (the next call reuses the cursor). A new psycopg cursor per statement cost about
        15 us of the worker's CPU per job (``bench/bench_claim.py``). These are the worker's
        statements (claims, finishes, heartbeats, saves) and the store's fixed queries, with
        :attr:`read_options` (PostgreSQL: prepared at their first run)."""
        last = self._cursor
        if last is None or last[0] is not conn:
            last = self._cursor = (conn, conn.cursor())
        text = self.q[name]
        if params is None:
            return last[1].execute(text, **self.read_options)
        return last[1].execute(text, params, **self.read_options)

    def exec_script(self, conn: Any, name: str) -> None:
        """Run the statements of the query ``name`` one by one."""
        for statement in self.q[name].split(";"):
            if statement.strip():
                conn.execute(statement)

    @abc.abstractmethod
    def bulk_load(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Load (ord, experiment, priority, state, types, hash, copy) rows into jobstore_insert."""

    def insert_direct(self, conn: Any, batch: Batch) -> list[int | None] | None:
        """Insert the jobs of ``batch`` straight into the table with copy 0, encoding them as they
        are sent, and return their ids in input order (None for a repeat within the batch), or
        None (and nothing written) if one of them is already in the table; then the general path
        sorts out which. A dialect may leave it to that."""
        return None

    @abc.abstractmethod
    def list_param(self, values: Sequence[Any]) -> Any:
        """A list of values as one bound parameter."""

    @abc.abstractmethod
    def key_filter(self, n: int, key: str, candidates: list[Any], params: dict[str, Any]) -> str:
        """A WHERE clause: the state's ``key`` equals one of ``candidates`` (parameters added to ``params``)."""

    @abc.abstractmethod
    def view_expr(self, key: str, typ: str) -> str:
        """The SQL expression of a view column showing ``key`` with its SQL type ``typ``."""
