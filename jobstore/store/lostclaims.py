"""Claims whose reply was lost: the connection dropped after a claim committed and before its
answer arrived, the store retried on a new connection, and the job the lost try claimed would sit
RUNNING under this worker until its lease expired (then counted as lost, though it never ran).

A claim run through :func:`claiming` is watched for that: after a retried claim, :func:`hand_back`
sends such jobs back to START at once (the query ``hand_back_lost_claims``: RUNNING under the
worker's name and host, claimed since the call began by the database clock, not the job the retry
returned). ``finish_claim`` counts its tries itself (through the fenced write) and calls
:func:`hand_back`. PostgreSQL only: SQLite's transient errors
all come before a commit."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import DatabaseError
from .base import Job
from .connector import Connector
from .dialect import Dialect

__all__ = ["MARGIN_S", "claiming", "hand_back"]

logger = logging.getLogger("jobstore")

MARGIN_S = 2.0
"""Added to the call's duration: how far back, by the database clock, a lost try's claim is looked for."""


def hand_back(db: Connector, sql: Dialect, claim: Mapping[str, Any], kept_id: int | None, began: float) -> int:
    """Hand back the jobs that the lost tries of a claim begun at ``began`` (``time.monotonic()``)
    claimed for ``claim["worker"]`` on ``claim["host"]``, other than ``kept_id``; how many. If that
    fails too, their leases expire as before."""
    if "hand_back_lost_claims" not in sql.q:
        return 0
    params = {"worker": claim["worker"], "host": claim["host"], "keep": kept_id,
              "window_s": time.monotonic() - began + MARGIN_S}
    try:
        n = int(db.run("hand_back_lost_claims", lambda c: sql.read(c, "hand_back_lost_claims", params).rowcount))
    except DatabaseError as e:
        logger.warning("jobstore: a claim was retried and a job it may have claimed could not be handed "
                       "back (%s): it goes back to START when its lease expires", e)
        return 0
    if n:
        logger.warning("jobstore: a claim whose reply was lost had claimed %d job(s): handed back to START", n)
    return n


def claiming(db: Connector, sql: Dialect, what: str, op: Callable[[Any], Job | None],
             claim: Mapping[str, Any]) -> Job | None:
    """``db.run(what, op)`` for an ``op`` that claims a job for ``claim["worker"]`` on
    ``claim["host"]``; when it had to be retried, the jobs its lost tries claimed are handed back."""
    began, tries = time.monotonic(), [0]

    def counted(conn: Any) -> Job | None:
        tries[0] += 1
        return op(conn)

    job = db.run(what, counted)
    if tries[0] > 1:
        hand_back(db, sql, claim, job.id if job else None, began)
    return job
