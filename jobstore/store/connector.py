"""The connection to one database, apart from what the store does with it (procrastinate's
connector/manager split): connect, retry, transactions, and the translation of driver errors into
:class:`~jobstore.errors.DatabaseError`. A dialect (``postgres.py``, ``sqlite.py``) supplies the
driver-specific steps; :class:`~jobstore.store.jobs.SqlStore` holds a connector and never sees the
driver's exceptions.

Connection policy: the connection is opened lazily and kept; :meth:`Connector.release` closes it
(the worker does so while an experiment computes) and the next operation reconnects. Statements
run in autocommit; writes that need several statements use one short explicit transaction. A
connector may be shared by threads (a lock serializes its operations); the worker's heartbeat
thread uses its own :meth:`~Connector.clone`.

Retries: once a connector has reached its database, a lost connection (server restarted,
connection dropped) or a deadlock is retried with jittered exponential backoff for up to
:data:`RETRY_TOTAL_S`, with one warning line per retry on the ``jobstore`` logger. Errors on the
first connection (no server, wrong password, no such database) are reported at once.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..backoff import Backoff
from ..errors import DatabaseError, UsageError
from .urls import DbUrl

logger = logging.getLogger("jobstore")

RETRY_TOTAL_S = 60.0
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 8.0

_R = TypeVar("_R")


def one_line(exc: BaseException) -> str:
    """The driver's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


class Connector(abc.ABC):
    """One database connection, opened on demand, with the retry policy of the module docstring."""

    def __init__(self, url: DbUrl) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connected_once = False

    # -- what a dialect supplies --------------------------------------------------------------
    @abc.abstractmethod
    def connect(self) -> Any:
        """A new driver connection in autocommit mode."""

    @abc.abstractmethod
    def transaction(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """One transaction (write-locking on SQLite); nested → a savepoint."""

    def batch(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """Statements that are each atomic on their own, sent together (a transaction by default)."""
        return self.transaction(conn)

    @abc.abstractmethod
    def is_driver_error(self, exc: BaseException) -> bool: ...

    @abc.abstractmethod
    def is_transient(self, exc: BaseException, conn: Any) -> bool:
        """A lost connection or a deadlock: worth reconnecting and retrying."""

    @abc.abstractmethod
    def translate(self, exc: BaseException) -> DatabaseError: ...

    # -- the policy -----------------------------------------------------------------------------
    def clone(self) -> Connector:
        """A connector to the same database with a connection of its own (for another thread)."""
        other = type(self)(self.url)
        other._connected_once = self._connected_once
        return other

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def release(self) -> None:
        """Close the connection; the next operation opens a new one."""
        with self._lock:
            self._close_conn()

    def run(self, what: str, fn: Callable[[Any], _R], *, retry: bool = True) -> _R:
        """Run ``fn(connection)``, reconnecting and retrying transient failures (see module doc);
        any other driver error becomes a one-line :class:`DatabaseError`."""
        with self._lock:
            backoff = Backoff(RETRY_FIRST_S, RETRY_MAX_S, RETRY_TOTAL_S)
            while True:
                conn = self._conn
                try:
                    if conn is None:
                        conn = self._conn = self.connect()
                        self._connected_once = True
                    return fn(conn)
                except (DatabaseError, UsageError):
                    raise
                except Exception as exc:
                    if not self.is_driver_error(exc):
                        raise
                    transient = self.is_transient(exc, self._conn)
                    if transient or (conn is not None and getattr(conn, "closed", False)):
                        self._close_conn()
                    if not (transient and retry and self._connected_once):
                        raise self.translate(exc) from None
                    delay = backoff.next_delay()
                    if delay is None:
                        raise DatabaseError(
                            f"gave up on {self.url.display()} after {backoff.tries + 1} tries in "
                            f"{RETRY_TOTAL_S:.0f} s ({what}): {one_line(exc)}") from None
                    logger.warning("jobstore: %s on %s failed (%s); retry %d in %.1f s", what,
                                   self.url.display(), one_line(exc), backoff.tries, delay)
                    time.sleep(delay)
