"""The dashboard's JSON endpoints, as plain functions of a store and a query string: what the page
shows (``GET /api/<view>``) and the write actions (``POST /api/action``). The HTTP server
(:mod:`.server`) only routes, checks the token and serialises.

Each view costs the database one light statement per refresh (``overview`` two: the counts and
the timeline; ``jobs`` two: the rows written since the last refresh and the page's rows); the results table is paged and sorted by the database, never loaded whole, except
for the CSV download, which is the export's CSV of the same filter.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import UsageError
from ...status import CANCELED, DONE, START, Status
from ...store.board import Board
from ...store.jobs import SqlStore
from ...worker.provenance import PREFIX
from ..export import columns_for, sort_jobs, to_csv

PAGE_ROWS = 50
PARAMS_JOBS = 2000  # the objective-against-parameter plots show the first this many DONE jobs
STDERR_TAIL_BYTES = 4000
SEARCH_TRIALS = 5000  # trials per answer of the searches view: the page asks for the rest next time
OBJECTIVES = ("best_validation_loss", "test_score", "validation_error")

Query = Mapping[str, str]


class Api:
    """The endpoints of one table; ``read_only`` refuses every action."""

    def __init__(self, store: SqlStore, *, read_only: bool = False) -> None:
        self.store = store
        self.board = Board(store)
        self.read_only = read_only
        self.views: dict[str, Callable[[Query], Any]] = {
            "config": self.config, "overview": self.overview, "running": self.running, "jobs": self.jobs,
            "metric_names": self.metric_names, "curves": self.curves, "params": self.params,
            "errors": self.errors, "searches": self.searches,
        }

    # -- views ----------------------------------------------------------------------------------
    def config(self, q: Query) -> dict[str, Any]:
        return {"table": self.store.table, "db": self.store.url.display(), "read_only": self.read_only,
                "statuses": {s.name: int(s) for s in Status}, "page_rows": PAGE_ROWS}

    def overview(self, q: Query) -> dict[str, Any]:
        """Counts by status, and the timeline from ``since`` on (the page asks for its last bucket
        onwards: a refresh reads only the recently ended jobs)."""
        bucket_s = _number(q, "bucket_s", 60.0, low=1.0)
        since = _number(q, "since", 0.0, low=0.0)
        counts = {Status.name_of(s): n for s, n in self.store.count_by_status().items()}
        timeline = [[t, Status.name_of(s), n] for t, s, n in self.board.timeline(bucket_s, since)]
        return {"counts": counts, "timeline": timeline, "bucket_s": bucket_s, "since": since}

    def running(self, q: Query) -> dict[str, Any]:
        jobs = []
        for r in self.board.running():
            state = r.pop("state")
            r["progress"] = _progress(state)
            r["epoch"] = _jsonable(state.get("epoch"))
            jobs.append(r)
        return {"jobs": jobs}

    def jobs(self, q: Query) -> dict[str, Any]:
        page = self.board.page(offset=int(_number(q, "offset", 0, low=0)),
                               limit=int(_number(q, "limit", PAGE_ROWS, low=1)),
                               sort=q.get("sort") or "id", desc=q.get("desc") == "1",
                               statuses=_statuses(q), select=_select(q))
        columns = [k for k in self.store.keys() if not k.startswith("jobman.")]
        rows = [{"id": r["id"], "status": Status.name_of(r["status"]), "priority": r["priority"],
                 "host": r["host"], "values": [_jsonable(r["state"].get(k)) for k in columns]}
                for r in page.rows]
        return {"total": page.total, "columns": columns, "rows": rows}

    def jobs_csv(self, q: Query) -> str:
        """Every job matching the table's filter and sort, as ``jobman export`` writes them."""
        jobs = self.store.jobs(statuses=_statuses(q), select=_select(q))
        sort = q.get("sort") or "id"
        if sort != "id":
            jobs = sort_jobs(jobs, sort, q.get("desc") == "1")
        return to_csv(jobs, columns_for(self.store, jobs, None))

    def metric_names(self, q: Query) -> dict[str, Any]:
        return {"names": self.store.metrics.names(_ids(q))}

    def curves(self, q: Query) -> dict[str, Any]:
        name = q.get("name", "")
        if not name:
            raise UsageError("missing metric name: expected name=<metric>")
        series = self.store.metrics.series(_ids(q), name)
        return {"name": name, "series": {str(job): {"attempt": [a for a, _, _ in pts], "step": [s for _, s, _ in pts],
                                                    "value": [_jsonable(v) for _, _, v in pts]}
                                         for job, pts in series.items()}}

    def params(self, q: Query) -> dict[str, Any]:
        """The objective and every numeric key of the first PARAMS_JOBS DONE jobs, column-wise."""
        jobs = self.store.jobs(statuses=[DONE], limit=PARAMS_JOBS)
        numeric = _numeric_keys(jobs)
        objective = q.get("objective") or next((k for k in (*OBJECTIVES, *numeric) if k in numeric), "")
        if objective and objective not in numeric:
            raise UsageError(f"unknown objective {objective!r}: expected a numeric key of the DONE jobs "
                             f"({', '.join(numeric) or 'none yet'})")
        keys = [k for k in numeric if k != objective]
        cols = {k: [_jsonable(j.state.get(k)) for j in jobs] for k in [objective, *keys] if k}
        return {"objective": objective, "keys": keys, "ids": [j.id for j in jobs], "columns": cols,
                "numeric": numeric}

    def searches(self, q: Query) -> dict[str, Any]:
        """The trials of every search above the job id ``after`` (the page asks from its oldest
        unfinished trial on), column-wise per search: job ids in creation order, statuses, and
        the objective of the DONE ones (None for failed, running or waiting trials). The page
        draws each search's best so far against trials from them."""
        after = int(_number(q, "after", 0, low=0))
        trials = self.store.searches().trials(after, SEARCH_TRIALS)
        out: dict[int, dict[str, Any]] = {}
        for t in trials:
            s = out.setdefault(t.search_id, {"id": t.search_id, "name": t.name, "objective": t.objective,
                                             "direction": t.direction, "budget": t.budget,
                                             "job": [], "status": [], "value": []})
            s["job"].append(t.job_id)
            s["status"].append(Status.name_of(t.status))
            s["value"].append(t.value if t.status == DONE else None)
        return {"after": after, "searches": list(out.values()), "truncated": len(trials) == SEARCH_TRIALS}

    def errors(self, q: Query) -> dict[str, Any]:
        out = []
        for r in self.board.errors():
            state = r.pop("state")
            r["status"] = Status.name_of(r["status"])
            r["stderr_tail"] = _stderr_tail(state.get(PREFIX + "host_workdir"))
            out.append(r)
        return {"jobs": out}

    # -- actions --------------------------------------------------------------------------------
    def action(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """cancel, requeue (back to START) or priority (``priority``) on the jobs ``ids``."""
        if self.read_only:
            raise PermissionError("the dashboard is read-only (--read-only)")
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise UsageError(f"bad ids {ids!r}: expected a non-empty list of job ids")
        kind = body.get("action")
        if kind == "cancel":
            n = self.store.set_status(ids, CANCELED)
        elif kind == "requeue":
            n = self.store.set_status(ids, START)
        elif kind == "priority":
            p = body.get("priority")
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
                raise UsageError(f"bad priority {p!r}: expected a finite number")
            n = self.store.set_priority(ids, float(p))
        else:
            raise UsageError(f"unknown action {kind!r}: expected cancel, requeue or priority")
        return {"action": kind, "changed": n}


# -- query-string helpers --------------------------------------------------------------------------
def _number(q: Query, name: str, default: float, low: float) -> float:
    text = q.get(name)
    if text in (None, ""):
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low:
        raise UsageError(f"bad {name} {text!r}: expected a number >= {low:g}")
    return value


def _ids(q: Query) -> list[int]:
    text = q.get("ids", "")
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"bad ids {text!r}: expected job ids separated by commas") from None
    if not ids or len(ids) > 100:
        raise UsageError(f"bad ids {text!r}: expected 1 to 100 job ids")
    return ids


def _statuses(q: Query) -> list[int] | None:
    text = q.get("status", "")
    return sorted({int(Status.parse(t)) for t in text.split(",") if t.strip()}) or None


def _select(q: Query) -> dict[str, Any] | None:
    """``where=key=value`` filters, several separated by ``;``; values read as numbers when they are."""
    text = q.get("where", "").strip()
    if not text:
        return None
    out: dict[str, Any] = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"bad filter {part!r}: expected key=value (several separated by ';')")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# -- value helpers ---------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """A value JSON (and JavaScript) can carry: non-finite floats become None, containers and
    other objects their text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _numeric_keys(jobs: list[Any]) -> list[str]:
    keys: dict[str, None] = {}
    for j in jobs:
        for k, v in j.state.items():
            if (not k.startswith("jobman.") and isinstance(v, (int, float)) and not isinstance(v, bool)):
                keys.setdefault(k, None)
    return sorted(keys)


def _progress(state: Mapping[str, Any]) -> float | None:
    """epoch / n_iter when the state has both (the tutorial's MLP), else None."""
    epoch, total = state.get("epoch"), state.get("n_iter")
    if isinstance(epoch, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return max(0.0, min(1.0, float(epoch) / float(total)))
    return None


def _stderr_tail(job_dir: Any) -> str | None:
    """The end of the job's stderr file, when its directory is reachable from here."""
    if not isinstance(job_dir, str):
        return None
    try:
        with open(os.path.join(job_dir, "stderr"), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - STDERR_TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None
