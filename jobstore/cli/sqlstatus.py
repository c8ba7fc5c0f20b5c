"""``jobman sqlstatus [options] DB [ID...]``: show, count or change selected jobs.

The selection is the union of the given ids, ``--all``, every ``--status=S`` and the jobs
matching all ``--select=key=value``; it is printed one job per line
(``Job id N, status=S jobman.sql.priority=P [KEY=value ...]``), counted (``--ret_nb_jobs``) or
changed (``--set_status``, ``--reset_prio``). Without any selection the command shows the table's
summary (:func:`summary`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..errors import UsageError
from ..params.parser import parse_select
from ..report import jobinfo, records
from ..report import summary as glance
from ..report.table import printable
from ..status import CANCELED, DEFAULT_PRIORITY, RUNNING, Status
from ..store.base import Job, Store
from .base import CommandParser, check_url, open_store

HELP = "show, count or change jobs: sqlstatus [--all] [--status=S] [--select=k=v] [--print=KEY] ... DB [ID...]"

STATUS_HELP = "S: " + Status.accepted()
_MISSING = object()
# --select keys that are columns of the table rather than keys of the stored state
_COLUMN_KEYS = {"jobman.sql.priority": "priority", "jobman.experiment": "experiment", "jobman.hash": "hash"}


def _job_ids(text: str) -> list[int]:
    """``3``, ``3,`` or ``3,4`` (the tutorial writes ``JOB_ID1, JOB_ID2, ...``)."""
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid job id {text!r}: expected integers") from None


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1], epilog=STATUS_HELP)
    p.add_argument("--all", action="store_true", help="add every job of the table")
    p.add_argument("--status", action="append", default=[], metavar="S",
                   help="add the jobs with status S (repeatable)")
    p.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                   help="add the jobs matching all the --select (repeatable; values typed like parameters)")
    p.add_argument("--print", action="append", default=[], metavar="KEY", dest="print_",
                   help="show KEY=value on each job line (repeatable)")
    p.add_argument("--print-keys", "--print_keys", action="store_true", dest="print_keys",
                   help="print the keys in the state of the first selected job")
    p.add_argument("--reset_prio", "--resert_prio", "--reset-prio", action="store_true", dest="reset_prio",
                   help=f"put the priority of the selected jobs back to {DEFAULT_PRIORITY}")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-job lines")
    p.add_argument("--traceback", metavar="ID", action="append", default=[], type=_job_ids,
                   help="print the whole error of job ID (the traceback) and the path of its stderr file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--set_status", "--set-status", metavar="S", dest="set_status",
                       help="set the status of the selected jobs")
    group.add_argument("--ret_nb_jobs", "--ret-nb-jobs", action="store_true", dest="ret_nb_jobs",
                       help="print only the number of selected jobs (every job when none is selected)")
    add_summary_arguments(p)  # --summary, --watch[=SECONDS], --best=KEY, --best-max, --top=K
    add_script_arguments(p)  # --json, --check, --max-errors
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("ids", metavar="ID", nargs="*", type=_job_ids, help="job ids")
    return p


@dataclass
class Selection:
    """What the options select; the union of its non-empty parts."""

    ids: list[int] = field(default_factory=list)
    all: bool = False
    statuses: list[int] = field(default_factory=list)
    select: dict[str, Any] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.ids or self.all or self.statuses or self.select)


def selection_from(args: argparse.Namespace) -> Selection:
    """Check every option value before connecting (bad input fails with nothing done)."""
    sel = Selection(ids=sorted({i for group in args.ids for i in group}), all=args.all,
                    statuses=sorted({Status.parse(s) for s in args.status}))
    for token in args.select:
        key, value = parse_select(token)
        if key == "jobman.status":
            value = Status.parse(value)
        sel.select[key] = value
    return sel


def _select_query(select: Mapping[str, Any]) -> tuple[dict[str, Any], list[int] | None, list[int] | None, dict[str, Any]]:
    """Split --select into (state filter, ids, statuses, column filters applied here)."""
    state = dict(select)
    ids = [int(state.pop("jobman.id"))] if "jobman.id" in state else None
    statuses = [state.pop("jobman.status")] if "jobman.status" in state else None
    columns = {k: state.pop(k) for k in list(state) if k in _COLUMN_KEYS}
    return state, ids, statuses, columns


def _matches_columns(job: Job, columns: Mapping[str, Any]) -> bool:
    return all(getattr(job, _COLUMN_KEYS[k]) == v for k, v in columns.items())


def count_selected(db: Store, sel: Selection) -> int:
    """The size of the selection, with one COUNT whenever it has a single part."""
    if sel.all:
        return db.count()
    parts = sum(bool(x) for x in (sel.ids, sel.statuses, sel.select))
    if parts == 1 and sel.ids:
        return db.count(ids=sel.ids)
    if parts == 1 and sel.statuses:
        return db.count(statuses=sel.statuses)
    if parts == 1:
        state, ids, statuses, columns = _select_query(sel.select)
        if not columns:
            return db.count(ids=ids, statuses=statuses, select=state or None)
    return len(fetch_selected(db, sel))


def fetch_selected(db: Store, sel: Selection) -> list[Job]:
    """The selected jobs, by id, each once."""
    if sel.all:
        return db.jobs()
    found: dict[int, Job] = {}
    if sel.ids:
        found.update((j.id, j) for j in db.jobs(ids=sel.ids))
    if sel.statuses:
        found.update((j.id, j) for j in db.jobs(statuses=sel.statuses))
    if sel.select:
        state, ids, statuses, columns = _select_query(sel.select)
        found.update((j.id, j) for j in db.jobs(ids=ids, statuses=statuses, select=state or None)
                     if _matches_columns(j, columns))
    return [found[i] for i in sorted(found)]


def job_line(job: Job, keys: Iterable[str]) -> str:
    """Jobman's job line; ``--print`` keys from the state or the row (``error`` shows its last line)."""
    text = f"Job id {job.id}, status={job.status} jobman.sql.priority={job.priority}"
    if job.undecodable is not None:
        text += f" <undecodable: {job.undecodable}>"
    for key in keys:
        value = jobinfo.value_of(job, key, _MISSING)
        text += f" {key}={'KeyDontExist' if value is _MISSING else jobinfo.one_line(value)}"
    return printable(text)  # values from the table never drive the terminal


def check_keys(db: Store, sel: Selection, printed: Sequence[str]) -> None:
    """A --select key that no job of the table ever had would select nothing: one line naming it,
    with the closest keys. A --print key no job has keeps Jobman's ``KeyDontExist``, with a warning
    when it looks misspelt (a close key exists)."""
    known = db.keys()
    state_keys = [k for k in known if not k.startswith("jobman.")]
    for key in sel.select:
        if key not in known:
            raise UsageError(f"unknown key {key!r} in --select: "
                             + jobinfo.unknown_key_hint(state_keys, key, rows=False))
    for key in printed:
        if key not in known and not jobinfo.row_key(key):
            hint = jobinfo.unknown_key_hint(state_keys, key)
            if hint.startswith("did you mean"):
                print(f"jobman sqlstatus: warning: no job has key {key!r} (--print shows KeyDontExist): {hint}",
                      file=sys.stderr)


def refuse_unselected(args: argparse.Namespace) -> None:
    """A change with nothing selected would do nothing, silently: say what selects."""
    action = (f"--set_status={args.set_status}" if args.set_status is not None
              else "--reset_prio" if args.reset_prio else None)
    if action:
        raise UsageError(f"{action} changes the selected jobs, and none is selected: add job ids, --all, "
                         "--status=S or --select=KEY=VALUE")


def show_tracebacks(db: Store, ids: Sequence[int]) -> int:
    """``--traceback ID``: each job's whole error and its stderr path; exit 2 for an unknown id."""
    for n, i in enumerate(ids):
        job = db.get(i)
        if job is None:
            raise UsageError(f"no job {i} in table {db.table!r}: expected the id of one of its "
                             f"{db.count()} jobs (jobman sqlstatus --all lists them)")
        print(("\n" if n else "") + jobinfo.traceback_text(job, db.error_history(i)), end="")
    return 0


def summary(db_url: str, args: argparse.Namespace) -> int:
    """The table at a glance, with --summary or --watch or when no job is selected (counts per
    status, running jobs and their progress, best results, errors): :mod:`jobstore.report.summary`."""
    return run_summary(lambda: open_store(db_url, create=False), args)


def run(args: argparse.Namespace) -> int:
    check_url(args.db)
    sel = selection_from(args)
    new_status = Status.parse(args.set_status) if args.set_status is not None else None
    if sel.empty():
        refuse_unselected(args)
        if args.ret_nb_jobs:  # no selection: the whole table
            sel.all = True
    if args.traceback:
        with open_store(args.db, create=False) as db:
            return show_tracebacks(db, [i for group in args.traceback for i in group])
    if args.check:
        return run_check(args)
    if summary_wanted(args) or (sel.empty() and not args.print_keys):
        return summary(args.db, args)
    with open_store(args.db, create=False) as db:
        check_keys(db, sel, args.print_)
        if sel.empty():  # --print-keys alone: every key of the table
            keys = db.keys()
            print(records.dumps({"keys": keys}) if args.json else "Keys in the table " + " ".join(keys))
            return 0
        if args.ret_nb_jobs:
            n = count_selected(db, sel)
            print(records.dumps({"count": n}) if args.json else n)
            return 0
        return _show_and_change(db, sel, args, new_status)


def _show_and_change(db: Store, sel: Selection, args: argparse.Namespace, new_status: int | None) -> int:
    jobs = fetch_selected(db, sel)
    out: list[str] = []
    if args.print_keys and jobs:
        out.append("Keys in the state of the first jobs " + " ".join(jobs[0].state))
    existing = {j.id for j in jobs}
    missing = [i for i in sel.ids if i not in existing]
    if missing and (new_status is not None or args.reset_prio):  # nothing changed on a mistyped id
        raise UsageError(f"no job {_ids_text(missing)} in table {db.table!r}: nothing changed; expected ids "
                         f"of its {db.count()} jobs (jobman sqlstatus --all lists them)")
    if args.json:  # the jobs on stdout, one JSON object a line; what was done goes to stderr
        sys.stdout.write("".join(records.dumps(records.job_record(j, args.print_ or None)) + "\n" for j in jobs))
    elif not args.quiet:
        out.extend(job_line(j, args.print_) for j in jobs)
    ids = [j.id for j in jobs]
    if new_status is not None:
        running = [j.id for j in jobs if j.status == RUNNING]
        if running and new_status != RUNNING:
            verb = "canceled" if new_status == CANCELED else "changed"
            out.append(f"WARNING: {len(running)} selected job(s) were RUNNING ({_ids_text(running)}): they are "
                       f"{verb} now and their workers' later writes are refused")
        n = db.set_status(ids, new_status) if ids else 0
        out.append(f"Changed the status to {Status.name_of(new_status)} for {n} job{'' if n == 1 else 's'}")
    if args.reset_prio:
        if ids:
            db.set_priority(ids, DEFAULT_PRIORITY)
        out.append("Reset the priority to the default value")
    if out:
        print("\n".join(out), file=sys.stderr if args.json else sys.stdout)
    if missing:  # Jobman's line, then exit 2 as for any bad input
        print("\n".join(f"Job id {i} don't exist in the db" for i in missing), file=sys.stderr)
        return 2
    return 0


def _ids_text(ids: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


# -- the summary's options -----------------------------------------------------------------------

def _watch_argv(argv: Sequence[str]) -> list[str]:
    """argparse's ``nargs='?'`` is greedy: ``--watch DB`` would take the URL as the interval.
    A bare ``--watch`` not followed by a number becomes ``--watch=<default>``."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--watch":
            nxt = out[i + 1] if i + 1 < len(out) else None
            try:
                float(nxt)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                out[i] = f"--watch={glance.DEFAULT_WATCH_INTERVAL_S:g}"
    return out


def add_summary_arguments(parser: CommandParser) -> None:
    """Add ``--summary``, ``--watch[=SECONDS]``, ``--best=KEY``, ``--best-max`` and ``--top=K`` to
    a command's parser (``jobman sqlstatus``). Progress keys come from the command's ``--print``."""
    group = parser.add_argument_group("results at a glance")
    group.add_argument("--summary", action="store_true",
                       help="print counts per status, running jobs with their progress (keys from --print, "
                            "default epoch/n_iter, valid_error...), the best finished jobs and the errors")
    group.add_argument("--watch", nargs="?", type=float, const=glance.DEFAULT_WATCH_INTERVAL_S, default=None,
                       metavar="SECONDS",
                       help=f"refresh the summary every SECONDS (default {glance.DEFAULT_WATCH_INTERVAL_S:g}) until ^C; "
                            "in a pipe, print time-stamped snapshots and stop when no job is START or RUNNING")
    group.add_argument("--best", metavar="KEY", default=None,
                       help=f"rank finished jobs by KEY (default {glance.DEFAULT_BEST_KEY} when the table has it)")
    group.add_argument("--best-max", "--best_max", dest="best_max", action="store_true",
                       help="the highest value of --best is the best (default: the lowest)")
    group.add_argument("--top", metavar="K", type=int, default=glance.DEFAULT_TOP,
                       help=f"how many of the best jobs to show (default {glance.DEFAULT_TOP})")
    parser.rewrite_argv(_watch_argv)


def summary_wanted(args: argparse.Namespace) -> bool:
    """Whether the options ask for the summary rather than the job listing."""
    return bool(getattr(args, "summary", False)) or getattr(args, "watch", None) is not None


def run_summary(open_store: Callable[[], Store], args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``jobman sqlstatus --summary|--watch``: print the summary once, or watch it."""
    out = sys.stdout if out is None else out
    progress = getattr(args, "print_", None) or getattr(args, "print", None) or None
    kw: dict[str, Any] = {"progress_keys": progress, "best_key": args.best,
                          "best_max": args.best_max, "top": args.top}
    as_json = getattr(args, "json", False)
    if args.watch is not None:
        render = (lambda s: records.dumps(records.summary_record(s)) + "\n") if as_json else None
        return glance.watch(open_store, args.watch, out=out, render=render, **kw)
    with open_store() as store:
        s = glance.build_summary(store, **kw)
    out.write(records.dumps(records.summary_record(s)) + "\n" if as_json else glance.render_summary(s))
    return 0


# -- for scripts ----------------------------------------------------------------------------------

CHECK_HELP = ("print one line and exit 0 when no job failed, 1 when jobs ended ERR_* (more than "
              "--max-errors), 3 when jobs wait and no worker holds a live lease (2: bad input or no database)")


def add_script_arguments(parser: CommandParser) -> None:
    """``--json``, ``--check`` and ``--max-errors N``: the output cron jobs and monitors read."""
    group = parser.add_argument_group("for scripts")
    group.add_argument("--json", action="store_true",
                       help="JSON instead of text, one object a line: the summary, each job, or the count "
                            "(stable keys, documented in the README)")
    group.add_argument("--check", action="store_true", help=CHECK_HELP)
    group.add_argument("--max-errors", "--max_errors", dest="max_errors", type=int, default=0, metavar="N",
                       help="with --check: up to N jobs in error still pass (default 0)")


def run_check(args: argparse.Namespace) -> int:
    """``--check``: the summary reduced to one line and an exit status (:func:`records.check`)."""
    if args.max_errors < 0:
        raise UsageError(f"invalid --max-errors {args.max_errors}: expected a number of jobs >= 0")
    with open_store(args.db, create=False) as db:
        s = glance.build_summary(db, top=0)
    code, line = records.check(s, args.max_errors)
    if args.json:
        line = records.dumps({**records.summary_record(s), "check": {"exit": code, "message": line}})
    print(line)
    return code
