"""``jobman export DB [-o FILE] [--status=S] [--keys=A,B] [--sort=KEY] [--format=csv|table|json]``: the jobs as
CSV, for pandas and spreadsheets, or as a table like psql's.

One row per job: ``id``, ``status`` (its name), ``priority``, then one column per key of the
state, in the order the table first stored them (stable from one export to the next). A value
missing from a job is an empty cell; lists and dicts are written as JSON; floats with all their
digits (``repr``), so that ``pandas.read_csv`` gives back the stored numbers. A text cell a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR, and not a
number) is prefixed with ``'``; ``--raw-formulas`` keeps it as stored.

``--format=table`` prints what ``psql`` prints for a query on the ``sqlview`` view: ``id``, ``status``,
``priority`` and the keys, named by Jobman's view rule (``best_validation_loss`` → ``bestvalidationloss``),
each cell on one line, floats to 6 digits, long values cut in the middle.

``--metrics`` writes the metric history instead (``channel.report``), in long format: one row per
point, ``job,attempt,step,name,value,time`` (time in epoch seconds from the database clock; a
non-finite value is an empty cell), ordered by job, name, attempt and step.

``--json`` (``--format=json``) writes one JSON object a line per job, the records of
``sqlstatus --json`` (:mod:`jobstore.report.records`).
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import UsageError
from ..files import atomic_write
from ..report import jobinfo, records
from ..report.export import (
    columns_for,
    metrics_csv,
    sort_jobs,
    to_csv,
    to_table,
)
from ..status import Status
from ..store.urls import parse_url
from .base import CommandParser

HELP = "write the jobs as CSV, one row per job and one column per key: export DB [-o FILE] [--status=S]"


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1],
                                epilog="S: " + Status.accepted())
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="write to FILE, replaced atomically (default: standard output)")
    p.add_argument("--status", action="append", default=[], metavar="S",
                   help="only the jobs with status S (repeatable; default: every job)")
    p.add_argument("--keys", metavar="A,B", default=None,
                   help="only these keys as columns, in this order (after id, status, priority): keys of the state, "
                        "or of the row: " + ", ".join(jobinfo.ROW_KEYS) + " (times in ISO 8601)")
    p.add_argument("--sort", metavar="KEY", default=None,
                   help="order the jobs by KEY (missing values last; default: by id)")
    p.add_argument("--desc", action="store_true", help="with --sort: largest first")
    p.add_argument("--format", choices=("csv", "table", "json"), default="csv",
                   help="csv (default), a table like psql's output, or json (one object a line, as sqlstatus --json)")
    p.add_argument("--json", action="store_const", const="json", dest="format", help="the same as --format=json")
    p.add_argument("--raw-formulas", "--raw_formulas", dest="raw_formulas", action="store_true",
                   help="csv: keep cells starting with = + - @ as they are (default: prefixed with ' so that "
                        "a spreadsheet shows them as text instead of running them)")
    p.add_argument("--metrics", action="store_true",
                   help="write the metric history (channel.report) as CSV, one row per point: "
                        "job,attempt,step,name,value,time")
    return p


def check_writable(path: str) -> None:
    """Fail before any work when ``path`` cannot be written (a missing or read-only directory)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path!r}: it is a directory; expected a file path")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: no directory {folder!r}; expected a path in an existing directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path!r}: directory {folder!r} is not writable")


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place: a reader never sees
    half a file, and a failure (disk full) leaves nothing behind."""
    check_writable(path)
    try:
        atomic_write(path, data, mode=0o666)
    except OSError as e:
        raise UsageError(f"cannot write {path!r}: {e.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from ..store import open_db

    parse_url(args.db)
    statuses = sorted({Status.parse(s) for s in args.status}) or None
    wanted = None
    if args.keys is not None:
        wanted = [k.strip() for k in args.keys.split(",") if k.strip()]
        if not wanted:
            raise UsageError(f"empty --keys {args.keys!r}: expected key names separated by commas")
    to_file = args.output not in ("-", "")
    if to_file:
        check_writable(args.output)
    with open_db(args.db, create=False) as db:
        if args.metrics:
            text, n = metrics_csv(db)
            _emit(args.output if to_file else None, text, f"{n} point{'s' if n != 1 else ''}")
            return 0
        jobs = db.jobs(statuses=statuses)
        keys = columns_for(db, jobs, wanted)
        if args.sort is not None:
            if args.sort not in keys and args.sort not in columns_for(db, jobs, None):
                raise UsageError(f"unknown key {args.sort!r} in --sort: "
                                 f"{jobinfo.unknown_key_hint(columns_for(db, jobs, None), args.sort)}")
            jobs = sort_jobs(jobs, args.sort, args.desc)
        if args.format == "json":
            text = "".join(records.dumps(records.job_record(j, wanted)) + "\n" for j in jobs)
        elif args.format == "table":
            text = to_table(jobs, keys)
        else:
            text = to_csv(jobs, keys, args.raw_formulas)
    _emit(args.output if to_file else None, text, f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}")
    return 0


def _emit(path: str | None, text: str, what: str) -> None:
    """Write ``text`` to ``path`` atomically (saying how much on stderr), or to standard output."""
    if path is not None:
        write_atomic(path, text.encode("utf-8"))
        print(f"wrote {what} to {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
