"""Results at a glance: the summary printed by ``jobman sqlstatus --summary`` and refreshed by
``--watch``.

A summary holds the job counts per status, the running jobs with their progress (host, attempt,
time since start, lease, and progress keys the experiment saves in its state, such as ``epoch``
and ``valid_error``), the best finished jobs by a metric, and the jobs in error with the last line
of their traceback. :func:`build_summary` reads it through the store API only;
:func:`render_summary` turns it into text; :func:`watch` repeats both.

Durations use the client clock against the times the database recorded; a skew between the two
shows up in "running since" and "lease" only.
"""
from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..errors import DatabaseError, UsageError
from ..status import DONE, ERR_RUN, ERR_START, ERR_SYNC, RUNNING, START, Status
from ..store.base import MIRRORED_KEYS, Job, Store
from ..store.searches import SearchProgress
from .jobinfo import unknown_key_hint
from .pace import Pace, pace_of
from .table import align, printable

DEFAULT_BEST_KEY = "best_validation_loss"
DEFAULT_TOP = 5
DEFAULT_WATCH_INTERVAL_S = 5.0
MIN_WATCH_INTERVAL_S = 0.1
# Keys shown as progress of a running job when --print names none (epoch as epoch/n_iter).
DEFAULT_PROGRESS_KEYS = ("epoch", "iter", "valid_error", "validation_error", "valid_loss",
                         "train_loss", "best_validation_loss")
MAX_RUNNING_SHOWN = 20
MAX_ERRORS_SHOWN = 10
MAX_PARAM_COLUMNS = 6
EXCERPT_CHARS = 100
# In a pipe, give up after this many refreshes in a row failed to reach the database.
MAX_WATCH_FAILURES = 5
CLEAR_SCREEN = "\x1b[H\x1b[2J"
ERROR_STATUSES = (ERR_START, ERR_SYNC, ERR_RUN)


@dataclass
class RunningJob:
    id: int
    host: str
    attempt: int
    running_s: float | None
    lease_left_s: float | None
    progress: list[tuple[str, Any]]


@dataclass
class ErrorJob:
    id: int
    status: int
    end_reason: str
    excerpt: str


@dataclass
class Summary:
    """Everything one refresh shows; built by :func:`build_summary`."""

    table: str
    counts: dict[int, int]
    now: float
    running: list[RunningJob] = field(default_factory=list)
    running_total: int = 0
    best_key: str | None = None
    best_max: bool = False
    best: list[tuple[Job, float]] = field(default_factory=list)
    best_columns: list[str] = field(default_factory=list)
    ranked: int = 0  # finished jobs with a numeric value of best_key
    errors: list[ErrorJob] = field(default_factory=list)
    errors_total: int = 0
    searches: list[SearchProgress] = field(default_factory=list)
    pace: Pace | None = None
    workers_alive: int = 0  # RUNNING jobs whose lease has not expired: a worker holds each

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def active(self) -> int:
        """Jobs still to run or running: a watch in a pipe stops when this reaches 0."""
        return self.counts.get(START, 0) + self.counts.get(RUNNING, 0)

    @property
    def stalled(self) -> bool:
        """Jobs wait and no worker holds a live lease: nothing will move until workers start."""
        return self.counts.get(START, 0) > 0 and self.workers_alive == 0

    def fingerprint(self) -> tuple[Any, ...]:
        """What a refresh shows, without the clock: two summaries with the same fingerprint differ only
        in durations, so ``--watch`` in a pipe prints only when this changes."""
        return (sorted(self.counts.items()), self.running_total,
                [(r.id, r.attempt, repr(r.progress)) for r in self.running],
                [(j.id, v) for j, v in self.best], [(e.id, e.status) for e in self.errors],
                [repr(p) for p in self.searches])


def _number(value: Any) -> float | None:
    """The value as a finite float, or None (strings, None, NaN, lists... are not metrics)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _progress(state: dict[str, Any], keys: Sequence[str] | None) -> list[tuple[str, Any]]:
    if keys:
        return [(k, state.get(k, "-")) for k in keys]
    out: list[tuple[str, Any]] = []
    for k in DEFAULT_PROGRESS_KEYS:
        if k not in state:
            continue
        if k == "epoch" and "n_iter" in state:
            out.append(("epoch", f"{_fmt(state['epoch'])}/{_fmt(state['n_iter'])}"))
        else:
            out.append((k, state[k]))
    return out


# ``models.errors.ParamError: ...`` → ``ParamError: ...``: the message, not the package, fills the excerpt.
_PACKAGE_PREFIX_RE = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")


def error_excerpt(job: Job) -> str:
    """The last non-empty line of the job's error (the exception, for a traceback)."""
    lines = [ln.strip() for ln in (job.error or "").splitlines() if ln.strip()]
    text = _PACKAGE_PREFIX_RE.sub("", lines[-1]) if lines else f"({job.end_reason or 'no error text'})"
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 3] + "..."


def _varying_keys(jobs: Sequence[Job], order: Sequence[str], skip: set[str]) -> list[str]:
    """Keys (in ``order``) whose values differ between ``jobs``: the hyper-parameters explored."""
    out = []
    for k in order:
        if k in skip or k.startswith("jobman."):
            continue
        values = {repr(j.state.get(k)) for j in jobs}
        if len(values) > 1:
            out.append(k)
    return out


def build_summary(store: Store, *, progress_keys: Sequence[str] | None = None, best_key: str | None = None,
                  best_max: bool = False, top: int = DEFAULT_TOP, now: float | None = None) -> Summary:
    """Read the summary of ``store``'s table. ``best_key`` None means :data:`DEFAULT_BEST_KEY`
    when the table has it; an explicit key the table never stored is a :class:`UsageError`."""
    if top < 0:
        raise UsageError(f"invalid --top {top}: expected a number of jobs >= 0")
    keys = store.keys()
    if best_key is not None and best_key not in keys:
        raise UsageError(f"unknown key {best_key!r} for --best: "
                         + unknown_key_hint([k for k in keys if k not in MIRRORED_KEYS], best_key, rows=False))
    if best_key is None and DEFAULT_BEST_KEY in keys:
        best_key = DEFAULT_BEST_KEY
    summary = Summary(table=store.table, counts=dict(store.count_by_status()),
                      now=time.time() if now is None else now, best_key=best_key, best_max=best_max)

    running = store.jobs(statuses=[RUNNING])
    summary.running_total = len(running)
    summary.workers_alive = sum(1 for j in running if j.lease_until is None or j.lease_until > summary.now)
    for job in running[:MAX_RUNNING_SHOWN]:
        summary.running.append(RunningJob(
            id=job.id, host=job.host or "-", attempt=job.attempt,
            running_s=None if job.started is None else summary.now - job.started,
            lease_left_s=None if job.lease_until is None else job.lease_until - summary.now,
            progress=_progress(job.state, progress_keys)))

    done = store.jobs(statuses=[DONE])
    if best_key is not None and top > 0:
        scored = [(j, v) for j in done if (v := _number(j.state.get(best_key))) is not None]
        scored.sort(key=lambda jv: (-jv[1] if best_max else jv[1], jv[0].id))
        summary.ranked = len(scored)
        summary.best = scored[:top]
        summary.best_columns = _varying_keys([j for j, _ in scored], list(keys), {best_key})[:MAX_PARAM_COLUMNS]

    errors = store.jobs(statuses=list(ERROR_STATUSES))
    summary.errors_total = len(errors)
    summary.errors = [ErrorJob(j.id, j.status, j.end_reason or "-", error_excerpt(j))
                      for j in errors[-MAX_ERRORS_SHOWN:]]
    summary.searches = store.searches().progress()
    summary.pace = pace_of(done, errors, running, summary.active, summary.now)
    return summary


# -- text -----------------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    """A state value in a table cell: floats to 4 digits, long texts cut, newlines shown as ``\\n``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 24 else text[:21] + "..."


def format_duration(seconds: float) -> str:
    """``45s``, ``12m05s``, ``3h02m``, ``2d04h``."""
    s = int(round(abs(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _lease(left_s: float | None) -> str:
    if left_s is None:
        return "-"
    return f"in {format_duration(left_s)}" if left_s >= 0 else f"EXPIRED {format_duration(left_s)} ago"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool]) -> list[str]:
    cells = [[c if isinstance(c, str) else _fmt(c) for c in row] for row in rows]
    return align(header, cells, numeric=numeric, indent="  ")


def counts_line(counts: dict[int, int]) -> str:
    """``START 3  RUNNING 1  DONE 10 ... total 14``; unknown codes are listed after CANCELED."""
    codes = [m.value for m in Status] + sorted(c for c in counts if c not in Status._value2member_map_)
    parts = [f"{Status.name_of(c)} {counts.get(c, 0)}" for c in codes]
    return "  " + "   ".join(parts) + f"   total {sum(counts.values())}"


def render_summary(s: Summary) -> str:
    rows: list[tuple[Any, ...]]
    lines = [f"table {s.table}: {s.total} job{'s' if s.total != 1 else ''}", counts_line(s.counts)]
    lines += pace_lines(s)
    if s.running_total:
        lines += ["", f"running ({s.running_total}):"]
        rows = [(r.id, r.host, r.attempt, "-" if r.running_s is None else format_duration(r.running_s),
                 _lease(r.lease_left_s), "  ".join(f"{k} {_fmt(v)}" if k == "epoch" and "/" in str(v)
                                                   else f"{k}={_fmt(v)}" for k, v in r.progress))
                for r in s.running]
        lines += _table(("id", "host", "attempt", "running", "lease", "progress"), rows,
                        (True, False, True, False, False, False))
        if s.running_total > len(s.running):
            lines.append(f"  ... and {s.running_total - len(s.running)} more")
    lines.append("")
    if s.best_key is None:
        lines.append(f"best: no {DEFAULT_BEST_KEY!r} in the table; rank finished jobs with --best=KEY")
    elif not s.best:
        lines.append(f"best by {s.best_key}: no finished job has a numeric {s.best_key!r} yet")
    else:
        order = "highest" if s.best_max else "lowest"
        lines.append(f"best {len(s.best)} of {s.ranked} finished by {s.best_key} ({order} first):")
        header = ("id", s.best_key, *s.best_columns)
        rows = [(j.id, v, *(_fmt(j.state.get(k, "-")) for k in s.best_columns)) for j, v in s.best]
        numeric = [True, True] + [all(_number(j.state.get(k)) is not None for j, _ in s.best)
                                  for k in s.best_columns]
        lines += _table(header, rows, numeric)
    if s.errors_total:
        lines += ["", f"errors ({s.errors_total}):"]
        if s.errors_total > len(s.errors):
            lines.append(f"  ... {s.errors_total - len(s.errors)} earlier ones not shown "
                         "(jobman sqlstatus --status=ERR_RUN --print=error lists them)")
        rows = [(e.id, Status.name_of(e.status), e.end_reason, e.excerpt) for e in s.errors]
        lines += _table(("id", "status", "reason", "error"), rows, (True, False, False, False))
        lines.append(f"  whole error and stderr path: jobman sqlstatus --traceback {s.errors[-1].id} DB")
    lines += render_searches(s.searches)
    return "\n".join(printable(line) for line in lines) + "\n"  # table text never drives the terminal


def pace_lines(s: Summary) -> list[str]:
    """``elapsed 1h02m  12 ended (11.6 jobs/hour)  mean job 4m10s  ETA 26m`` and, when jobs wait with
    no live worker, ``4 waiting, none running: are workers up?``."""
    lines = []
    p = s.pace
    if p is not None and p.elapsed_s is not None:
        parts = [f"elapsed {format_duration(p.elapsed_s)}",
                 f"{p.finished} ended" + (f" ({p.jobs_per_hour:.3g} jobs/hour)" if p.jobs_per_hour else "")]
        if p.mean_job_s is not None:
            parts.append(f"mean job {format_duration(p.mean_job_s)}")
        if s.active:
            parts.append("ETA " + (format_duration(p.eta_s) if p.eta_s is not None else "unknown until a job ends"))
        lines.append("  " + "   ".join(parts))
    if s.stalled:
        waiting = s.counts.get(START, 0)
        held = "none running" if not s.running_total else f"{s.running_total} RUNNING with expired leases"
        lines.append(f"  {waiting} waiting, {held}: are workers up? (jobdispatch ... jobman sql -n 0 DB EXPROOT)")
    return lines


def render_searches(searches: Sequence[SearchProgress]) -> list[str]:
    """One line per search (``jobman sqlsearch``): its jobs done, running, failed, the budget left,
    and the best objective so far with its job; nothing when the table has no search."""
    if not searches:
        return []
    rows = [(p.search.name or "-", p.search.sampler, p.search.objective,
             "max" if p.search.direction == "maximize" else "min", p.done, p.running, p.failed, p.left,
             "-" if p.best is None else p.best, "-" if p.best_job is None else p.best_job) for p in searches]
    header = ("search", "sampler", "objective", "goal", "done", "running", "failed", "left", "best", "job")
    return ["", f"searches ({len(searches)}):",
            *_table(header, rows, (False, False, False, False, True, True, True, True, True, True))]


# -- watch ----------------------------------------------------------------------------------------

def _stamp(now: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))


def _show(out: TextIO, summary: Summary, interval_s: float, tty: bool,
          render: Callable[[Summary], str] | None) -> None:
    """One refresh: the screen redrawn on a terminal, a stamped snapshot (or a JSON line) in a pipe."""
    if render is not None:
        out.write(render(summary))
    elif tty:
        out.write(f"{CLEAR_SCREEN}{_stamp(summary.now)}  (every {interval_s:g}s, ^C to stop)\n"
                  f"{render_summary(summary)}")
    else:
        out.write(f"=== {_stamp(summary.now)} ===\n{render_summary(summary)}\n")
    out.flush()


def watch(open_store: Callable[[], Store], interval_s: float = DEFAULT_WATCH_INTERVAL_S, *,
          out: TextIO | None = None, tty: bool | None = None, max_snapshots: int | None = None,
          render: Callable[[Summary], str] | None = None, **build_kw: Any) -> int:
    """Print the summary every ``interval_s`` seconds. On a terminal the screen is redrawn; in a
    pipe a snapshot under a time stamp is printed only when something changed (a status, a running
    job's progress, a result: :meth:`Summary.fingerprint`), not for a clock that ticked. Both end
    once no job is START or RUNNING, since nothing can change then (so that
    ``jobman sqlstatus --watch DB | tee log`` terminates), or at ^C. ``render`` replaces the text
    (``--json``: one JSON object per line). A database that cannot be reached is retried (forever
    on a terminal)."""
    if not (math.isfinite(interval_s) and interval_s >= MIN_WATCH_INTERVAL_S):
        raise UsageError(f"invalid watch interval {interval_s!r}: expected seconds >= {MIN_WATCH_INTERVAL_S}")
    out = sys.stdout if out is None else out
    tty = out.isatty() if tty is None else tty
    store: Store | None = None
    failures = shown = 0
    last: tuple[Any, ...] | None = None
    try:
        while True:
            try:
                if store is None:
                    store = open_store()
                summary = build_summary(store, **build_kw)
                failures = 0
            except DatabaseError as e:
                failures += 1
                if store is not None:
                    try:
                        store.close()
                    except DatabaseError:
                        pass
                    store = None
                if not tty and failures >= MAX_WATCH_FAILURES:
                    raise
                out.write(f"{_stamp(time.time())} database unreachable ({e}); retrying in {interval_s:g}s\n")
                out.flush()
                time.sleep(interval_s)
                continue
            if tty or summary.fingerprint() != last:
                _show(out, summary, interval_s, tty, render)
                last = summary.fingerprint()
                shown += 1
            if summary.active == 0 or (max_snapshots is not None and shown >= max_snapshots):
                if tty:
                    out.write("nothing waiting or running: watch ended\n")
                return 0
            time.sleep(interval_s)
    except KeyboardInterrupt:
        if tty:
            out.write("\n")
            return 0
        raise
    finally:
        if store is not None:
            store.close()
