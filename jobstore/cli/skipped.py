"""What a scheduling command says about the jobs it skipped because they were already in the table.

Re-running ``jobman sqlschedules`` after fixing an experiment is the natural thing to try, and it
adds nothing: every job is a duplicate of one that failed. So the command names the existing jobs
(ids by status, summarised when many) and says how to run the failed or canceled ones again —
``jobman sqlstatus --set_status=START DB IDS`` — rather than leaving the user with a column of
``SKIPPING`` lines. (A ``:=`` draw differs on every run, so such jobs are new rather than skipped:
see the README.)
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..status import DONE, RUNNING, START, Status
from ..store.base import InsertResult, Store
from ..store.urls import DbUrl

__all__ = ["skipped_lines", "ids_text"]

MAX_IDS_SHOWN = 12  # id ranges listed per status before '... (N more)'
MAX_IDS_IN_COMMAND = 40  # beyond this the command selects by status instead of by id


def ids_text(ids: Sequence[int], limit: int = MAX_IDS_SHOWN) -> str:
    """Sorted ids as ranges (``1-4, 7, 9-10``), the first ``limit`` ranges then how many more ids."""
    ranges: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    rest = sum(b - a + 1 for a, b in ranges[limit:])
    return ", ".join(shown) + (f", ... ({rest} more)" if rest else "")


def _db_word(db_text: str, url: DbUrl) -> str:
    """The URL as the user typed it, for a command to copy; never with its password."""
    return shlex.quote(url.display() if url.password else db_text)


def skipped_lines(db: Store, results: Sequence[InsertResult], db_text: str, url: DbUrl) -> list[str]:
    """The lines about the skipped jobs of ``results`` (none when nothing was skipped)."""
    hashes = [r.hash for r in results if not r.inserted and r.hash]
    if not hashes:
        return []
    jobs = db.jobs_by_hash(hashes)
    by_status: dict[int, list[int]] = {}
    for job in jobs:
        by_status.setdefault(job.status, []).append(job.id)
    n = len(jobs)
    parts = [f"{len(ids)} {Status.name_of(s)} ({'id' if len(ids) == 1 else 'ids'} {ids_text(ids)})"
             for s, ids in sorted(by_status.items(), key=lambda kv: (kv[0] < 0, kv[0]))]
    lines = [f"Skipped {len(hashes)} job{'' if len(hashes) == 1 else 's'} already in the table "
             f"({n} existing row{'' if n == 1 else 's'}): " + ", ".join(parts)]
    again = sorted(i for s, ids in by_status.items() if s not in (START, RUNNING, DONE) for i in ids)
    if again:
        lines.append("To run the failed or canceled ones again (their errors are kept in the job's history): "
                     + _requeue_command(again, by_status, _db_word(db_text, url)))
    if by_status.get(DONE):
        lines.append("DONE jobs keep their results; -f schedules new copies of them")
    if set(by_status) <= {START, RUNNING}:
        lines.append("They are waiting or running already: nothing to requeue")
    return lines


def _requeue_command(ids: list[int], by_status: dict[int, list[int]], db_word: str) -> str:
    if len(ids) <= MAX_IDS_IN_COMMAND:
        return f"jobman sqlstatus --set_status=START {db_word} {','.join(map(str, ids))}"
    statuses = [s for s in sorted(by_status) if s not in (START, RUNNING, DONE)]
    flags = " ".join(f"--status={Status.name_of(s)}" for s in statuses)
    return (f"jobman sqlstatus --set_status=START {flags} {db_word}  (every such job of the table; "
            "add --select=KEY=VALUE to narrow it)")
