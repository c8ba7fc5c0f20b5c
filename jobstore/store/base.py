"""The store interface: one job table, two dialects (PostgreSQL through psycopg 3, SQLite through
the standard ``sqlite3`` module). This module is the contract between the commands, the worker and
the dialects; the dialects live in ``postgres.py`` and ``sqlite.py`` with their SQL in
``queries/<dialect>/*.sql``.

The table (one row per job; see ``queries/<dialect>/schema.sql``):

    id          integer primary key (bigserial / autoincrement)
    status      Jobman's integer status (START 0, RUNNING 1, DONE 2, ERR_START 3, ERR_SYNC 4, ERR_RUN 5, CANCELED -1)
    priority    float, higher first; ties by lowest id
    experiment  the dotted name of ``experiment(state, channel)``
    state       the flat state (JSONB on PostgreSQL, JSON text on SQLite), without the mirrored keys
    types       NULL, or a tag per key whose value JSON cannot hold (tuple, set, bytes, inf, nan:
                stored as a list / base64 text / "Infinity", "-Infinity", "NaN"), so that reading
                the state gives back exactly what was written (see ``codec.py``)
    hash        content hash of the scheduled parameters: sha256 of the canonical JSON of the flat
                state and the experiment (status, priority, id excluded); UNIQUE together with
                ``copy`` (0 for the first insertion, 1, 2... for forced duplicates), so a duplicate
                is refused by the database itself
    attempt     fencing token: incremented by every claim (and by a RUNNING set by hand)
    losses      how many times the job's lease expired (its worker presumed dead)
    lease_until database time at which the claim expires unless renewed by a heartbeat
    host, worker, created, started, ended, updated (database times), error (last traceback), end_reason

Side tables: ``<table>__meta`` (schema_version, table_uuid), ``<table>__keys`` (every key ever stored, its SQL
type, in order of first appearance), ``<table>__views`` (the views kept up to date),
``<table>__searches`` and ``<table>__search_jobs`` (adaptive searches and their jobs: ``searches.py``) and
``<table>__metrics`` (per-epoch metric points, see ``metrics.py``).

Mirrored keys: ``jobman.id`` ↔ ``id``, ``jobman.status`` ↔ ``status``, ``jobman.sql.priority`` ↔
``priority``, ``jobman.experiment`` ↔ ``experiment``, ``jobman.hash`` ↔ ``hash``. They are columns,
never stored in ``state``; :attr:`Job.state` puts them back, so callers always see a complete flat
state and a ``save`` cannot overwrite a status set by another client by accident.

Times always come from the database clock (``now()`` / ``julianday('now')``), never the client's.
"""
from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .codec import Encoded
from .urls import DbUrl

if TYPE_CHECKING:
    from .metrics import Metrics, Point

MIRRORED_KEYS = frozenset(("jobman.id", "jobman.status", "jobman.sql.priority", "jobman.experiment", "jobman.hash"))


@dataclass
class Job:
    """One row of the job table, as the store returns it."""

    id: int
    status: int
    priority: float
    experiment: str
    state: dict[str, Any]  # flat, with the mirrored keys put back
    attempt: int = 0
    hash: str = ""
    host: str | None = None
    worker: str | None = None
    lease_until: float | None = None  # epoch seconds, database clock
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    end_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    undecodable: str | None = None  # why the row's state cannot be decoded (its state is then a marker)


@dataclass
class InsertResult:
    inserted: bool
    job_id: int | None  # None when skipped as a duplicate
    state: dict[str, Any]  # the flat state as scheduled (with jobman.experiment/status/sql.priority)
    hash: str = ""  # the content hash: a skipped job's existing rows are found by it


class Store(abc.ABC):
    """A job table. Obtain one with :func:`jobstore.open_db`; close it with :meth:`close` or a ``with``."""

    url: DbUrl

    @property
    def table(self) -> str:
        return self.url.table

    def table_uuid(self) -> str:
        """The table's identity, a UUID kept in its meta table (made with the table, or on first
        request for older tables): job directories carry it, so that a table re-created under the
        same name, or a namesake in another database, never reuses another table's directories."""
        raise NotImplementedError

    @property
    def dbname(self) -> str:
        """The database name used in the job directory ``EXPROOT/<dbname>/<table>/<id>/``."""
        return self.url.dbname

    # -- lifecycle -------------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def release(self) -> None:
        """Close the connection now (the worker calls it before an experiment computes); the next
        operation reconnects. Connections are opened lazily and kept until then."""

    @abc.abstractmethod
    def clone(self) -> Store:
        """A second store on the same table with its own connection (for another thread, e.g. the
        worker's heartbeat). One store may also be shared by threads: its operations are serialized."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def ensure_schema(self, create: bool = True) -> None:
        """Create the table, its side tables and indexes if missing (``DatabaseError`` instead when
        not ``create``); migrate an older schema version. Called by ``open_db``."""

    @abc.abstractmethod
    def schema_version(self) -> int: ...

    # -- scheduling ------------------------------------------------------------------------------
    @abc.abstractmethod
    def insert_jobs(self, states: Iterable[Mapping[str, Any]], *, force: bool = False,
                    priority: float | None = None) -> list[InsertResult]:
        """Insert jobs (flat states that carry ``jobman.experiment``) in bulk, in one transaction.

        Without ``force`` a job whose content hash already exists is skipped (``inserted=False``);
        with ``force`` it is inserted as a further copy. ``priority`` (else ``jobman.sql.priority``
        in the state, else 1.0) and status START are set."""

    # -- the worker's side: every write after the claim is fenced by (id, attempt) ----------------
    @abc.abstractmethod
    def claim(self, *, worker: str, host: str, lease_s: float, max_attempts: int) -> Job | None:
        """Atomically take the best claimable job, or return None when there is none.

        Claimable: status START, or RUNNING with an expired lease (its holder is presumed dead).
        Expired jobs are handed back (:meth:`reap`) by the claim itself, at most every
        ``REAP_INTERVAL_S`` per store and always before it reports that no job is left: to START with end_reason
        'lost' and priority raised to at least 2.0, or, once their lease has expired
        ``max_attempts`` times (``losses``), to ERR_RUN with end_reason 'lost' and an error text
        saying so. Order: priority DESC, id ASC. The claim sets RUNNING, attempt+1, the lease,
        host, worker and the start time, in one statement."""

    def claim_from_search(self, *, worker: str, host: str, lease_s: float) -> Job | None:
        """When :meth:`claim` found nothing: ask a search with budget left for its next point,
        insert that job and claim it, in one transaction (:mod:`.searches`); None when no
        search has budget left."""
        return None

    def searches(self) -> Any:
        """The table's searches (:class:`~.searches.Searches`: register, list, progress)."""
        raise NotImplementedError(f"{type(self).__name__} has no searches")

    @abc.abstractmethod
    def reap(self, max_attempts: int) -> int:
        """Hand back the jobs whose lease expired, as :meth:`claim` does; return how many."""

    def jobdirs(self) -> Any:
        """The job directories kept in the database (:class:`~.jobdirs.JobDirArchives`)."""
        raise UsageError(f"{type(self).__name__} keeps no job directories")

    def stale_leases(self, stale_s: float) -> tuple[int, float | None]:
        """Leased jobs whose holder is presumed dead (no heartbeat for ``stale_s``): how many, and
        the seconds until the first of those leases expires. A store without leases has none."""
        return 0, None

    @abc.abstractmethod
    def heartbeat(self, job_id: int, attempt: int, lease_s: float) -> bool:
        """Renew the lease; False if the job is no longer ours (attempt moved on or status changed).

        Fenced writes (heartbeat, save, finish) retry through a lost connection; a write whose
        first try committed but whose reply was lost is recognised by re-reading the row."""

    @abc.abstractmethod
    def save(self, job_id: int, attempt: int, state: Mapping[str, Any] | Encoded, lease_s: float,
             metrics: Sequence[Point] = ()) -> bool:
        """Store the flat state (mirrored keys ignored; or the :class:`~.codec.Encoded` one, which
        the caller checked) and renew the lease, with the ``metrics`` points reported since the
        last write; False (and nothing written) if not ours."""

    @abc.abstractmethod
    def finish(self, job_id: int, attempt: int, *, status: int, end_reason: str,
               state: Mapping[str, Any] | Encoded | None = None, priority: float | None = None,
               error: str | None = None, metrics: Sequence[Point] = ()) -> bool:
        """End the attempt: set status, end_reason, end time, clear the lease; optionally the state,
        the priority, the error text and metric points. False (and nothing written) if not ours."""

    def finish_and_claim(self, job_id: int, attempt: int, *, status: int, end_reason: str,
                         claim: Mapping[str, Any], state: Mapping[str, Any] | Encoded | None = None,
                         priority: float | None = None, error: str | None = None,
                         metrics: Sequence[Point] = ()) -> tuple[bool, Job | None]:
        """:meth:`finish`, then :meth:`claim` with the keyword arguments ``claim``: (whether the
        finish was accepted, the next job or None). For a worker that goes on; a store may do both
        in one round trip. The claim is made whether or not the finish was accepted, and not when
        the finish raises."""
        ok = self.finish(job_id, attempt, status=status, end_reason=end_reason, state=state, priority=priority,
                         error=error, metrics=metrics)
        return ok, self.claim(**claim)

    def release_lease(self, job_id: int, attempt: int) -> bool:
        """Attempt ``attempt`` stopped after its job was set to START elsewhere: drop the lease it
        kept (until then the job is not claimable: two attempts never share its directory)."""
        return False

    @property
    @abc.abstractmethod
    def metrics(self) -> Metrics:
        """The metric history (``channel.report``) of this table's jobs."""

    # -- queries and administration ----------------------------------------------------------------
    @abc.abstractmethod
    def get(self, job_id: int) -> Job | None: ...

    @abc.abstractmethod
    def jobs(self, *, ids: Sequence[int] | None = None, statuses: Sequence[int] | None = None,
             select: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Job]:
        """Jobs matching every given filter (ids, statuses, key=value equality on the state), by id.

        ``select`` compares values with their JSON type, leniently as Jobman did: ``1`` also
        matches ``1.0`` and ``True``, a string that reads as a number also matches the number.
        Mirrored keys (``jobman.status``: a name or a number) compare their column."""

    @abc.abstractmethod
    def count(self, *, statuses: Sequence[int] | None = None, ids: Sequence[int] | None = None,
              select: Mapping[str, Any] | None = None) -> int:
        """How many jobs :meth:`jobs` would return, counted by the database (use this, not
        ``len(jobs(...))``, on large tables: it reads the status index only)."""

    @abc.abstractmethod
    def count_by_status(self) -> dict[int, int]: ...

    @abc.abstractmethod
    def set_status(self, ids: Sequence[int], status: int) -> int:
        """Set the status of these jobs; return how many rows changed. A running job's worker has its
        later writes refused (they need RUNNING, and the next claim takes a new ``attempt``; a
        RUNNING set by hand takes one at once); a hand-reset itself counts no attempt. START clears
        the error (kept in :meth:`error_history`) and the lost leases; CANCELED records end_reason
        'canceled'."""

    def jobs_by_hash(self, hashes: Sequence[str]) -> list[Job]:
        """The jobs whose content hash is one of ``hashes`` (every copy), by id: the rows that made
        a scheduling command skip a job."""
        raise NotImplementedError

    def error_history(self, job_id: int) -> list[Any]:
        """The errors a hand-requeue cleared from job ``job_id``'s row, oldest first
        (:class:`~.history.PastError`); a store without that history has none."""
        return []

    @abc.abstractmethod
    def set_priority(self, ids: Sequence[int], priority: float) -> int: ...

    @abc.abstractmethod
    def keys(self) -> dict[str, str]:
        """Every key ever stored, with its SQL type name (bigint, numeric, double precision,
        boolean, text, jsonb; 'null' if only None was seen), the mirrored keys first, then in order
        of first appearance. A key seen with several types gets the wider one (int + float →
        double precision, otherwise jsonb)."""

    @abc.abstractmethod
    def create_view(self, name: str, *, replace: bool = False) -> list[str]:
        """Create (or rebuild) a view with one typed column per key, named by Jobman's rule
        (:mod:`jobstore.naming`): ``id``, the mirrored keys (``jobman_status``...), then every key.
        The view is registered and rebuilt whenever a write brings a new key, so results appear
        without calling this again. Return the column names. A view of that name that this table
        did not register (someone's own view, another table's) is replaced only if ``replace``,
        else ``UsageError``."""

    @abc.abstractmethod
    def drop_view(self, name: str) -> None:
        """Drop a view and stop maintaining it; ``UsageError`` if there is no such view."""

    @abc.abstractmethod
    def views(self) -> list[str]:
        """The views this table keeps up to date."""

    # Tutorial spelling
    def createView(self, name: str) -> list[str]:  # noqa: N802 - Jobman's API name
        return self.create_view(name)
