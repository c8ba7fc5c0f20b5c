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

Retries, all with jittered exponential backoff:

- **Refused connections** (too many clients, a server starting up, shutting down or in recovery,
  connection refused or reset) are waited out for up to :attr:`Connector.connect_timeout_s` — long
  for a worker (``jobman sql --connect-timeout``, 10 minutes: a cluster-wide start of hundreds of
  workers against a server's connection limit), short for the commands
  (:data:`COMMAND_CONNECT_TIMEOUT_S`). One line on the ``jobstore`` logger when the wait starts and
  one when it ends, not one per try.
- **A lost connection or a deadlock** once connected (server restarted, connection dropped) is
  retried for up to :data:`RETRY_TOTAL_S` (``$JOBMAN_RETRY_TOTAL`` overrides it), with one warning
  line per retry. A reconnect after the first contact waits no longer than that either.
- What retrying cannot fix (a bad URL, wrong credentials, no such database) is reported at once.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..backoff import Backoff
from ..errors import DatabaseError, UsageError
from ..units import parse_seconds
from .urls import DbUrl

logger = logging.getLogger("jobstore")

RETRY_TOTAL_S = 60.0
"""How long a lost connection or a deadlock is retried; ``$JOBMAN_RETRY_TOTAL`` (seconds, 0 = not
at all) overrides it: longer for a server that takes minutes to fail over, shorter to hear sooner."""
RETRY_TOTAL_ENV = "JOBMAN_RETRY_TOTAL"
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 8.0
COMMAND_CONNECT_TIMEOUT_S = 30.0
"""How long a command (sqlschedule, sqlstatus, ...) waits for a database that refuses connections;
``$JOBMAN_CONNECT_TIMEOUT`` (seconds, 0 = not at all) overrides it."""
CONNECT_TIMEOUT_ENV = "JOBMAN_CONNECT_TIMEOUT"
WORKER_CONNECT_TIMEOUT_S = 600.0
"""How long a worker waits for a database that refuses connections (``--connect-timeout``)."""
CONNECT_FIRST_S = 0.5
CONNECT_MAX_S = 15.0

_R = TypeVar("_R")


def _env_seconds(name: str, default_s: float, environ: dict[str, str] | None) -> float:
    """Seconds from the environment variable ``name`` (0 allowed), else ``default_s``; a bad value
    is a one-line :class:`UsageError`."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default_s
    try:
        return parse_seconds(text, f"${name}", zero_ok=True)
    except ValueError as e:
        raise UsageError(str(e)) from None


def command_connect_timeout_s(environ: dict[str, str] | None = None) -> float:
    """The commands' wait for a refusing database: ``$JOBMAN_CONNECT_TIMEOUT`` or the default."""
    return _env_seconds(CONNECT_TIMEOUT_ENV, COMMAND_CONNECT_TIMEOUT_S, environ)


def retry_total_s(environ: dict[str, str] | None = None) -> float:
    """How long a lost connection is retried: ``$JOBMAN_RETRY_TOTAL`` or :data:`RETRY_TOTAL_S`."""
    return _env_seconds(RETRY_TOTAL_ENV, RETRY_TOTAL_S, environ)


def one_line(exc: BaseException) -> str:
    """The driver's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


class Connector(abc.ABC):
    """One database connection, opened on demand, with the retry policy of the module docstring."""

    def __init__(self, url: DbUrl, *, connect_timeout_s: float | None = None) -> None:
        self.url = url
        self.connect_timeout_s = command_connect_timeout_s() if connect_timeout_s is None else connect_timeout_s
        self.retry_total_s = retry_total_s()
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
        other = type(self)(self.url, connect_timeout_s=self.connect_timeout_s)
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
        """Run ``fn(connection)``, connecting first if needed, waiting out refused connections and
        retrying transient failures (see the module docstring); any other driver error becomes a
        one-line :class:`DatabaseError`."""
        with self._lock:
            failures = Backoff(RETRY_FIRST_S, RETRY_MAX_S, self.retry_total_s)
            # The long wait is for the first contact (a cluster-wide start); a reconnect later (after a
            # release, with a job's lease running) waits no longer than other failures.
            wait_s = self.connect_timeout_s if not self._connected_once else min(self.connect_timeout_s, self.retry_total_s)
            refusals = Backoff(CONNECT_FIRST_S, CONNECT_MAX_S, wait_s)
            waiting_since: float | None = None
            while True:
                conn = self._conn
                try:
                    if conn is None:
                        conn = self._conn = self.connect()
                        self._connected_once = True
                        if waiting_since is not None:
                            logger.warning("jobstore: reached %s after %.1f s (%d tries)", self.url.display(),
                                           time.monotonic() - waiting_since, refusals.tries + 1)
                            waiting_since = None
                    return fn(conn)
                except (DatabaseError, UsageError):
                    raise
                except Exception as exc:
                    if not self.is_driver_error(exc):
                        raise
                    connecting = self._conn is None or conn is not self._conn
                    transient = self.is_transient(exc, None if connecting else self._conn)
                    if transient or (conn is not None and getattr(conn, "closed", False)):
                        self._close_conn()
                    if not (transient and retry):
                        error = self.translate(exc)
                        error.transient = transient or getattr(conn, "closed", False)
                        raise error from None
                    if connecting:
                        delay = refusals.next_delay()
                        if delay is None:
                            error = DatabaseError(
                                f"cannot connect to {self.url.display()}: still refused after "
                                f"{wait_s:g} s ({refusals.tries + 1} tries): {one_line(exc)}")
                            error.transient = True
                            raise error from None
                        if waiting_since is None:
                            waiting_since = time.monotonic()
                            logger.warning("jobstore: %s refuses connections (%s); waiting up to %g s",
                                           self.url.display(), one_line(exc), wait_s)
                    else:
                        delay = failures.next_delay()
                        if delay is None:
                            error = DatabaseError(
                                f"gave up on {self.url.display()} after {failures.tries + 1} tries in "
                                f"{self.retry_total_s:g} s ({what}): {one_line(exc)}")
                            error.transient = True
                            raise error from None
                        logger.warning("jobstore: %s on %s failed (%s); retry %d in %.1f s", what,
                                       self.url.display(), one_line(exc), failures.tries, delay)
                    time.sleep(delay)
