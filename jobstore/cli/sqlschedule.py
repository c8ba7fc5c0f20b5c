"""``jobman sqlschedule [-f] DB EXPERIMENT PARAMS...``: schedule one job.

Prints ``ADDING {...}`` (or ``SKIPPING {...}`` when an identical job exists) with the flat state,
``jobman.experiment``, ``jobman.status`` and ``jobman.sql.priority`` included, as the tutorial shows.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import ParamError, UsageError
from ..params.expansion import split_segments
from ..params.parser import ParamParser
from ..sql import job_state
from ..worker.codeinfo import schedule_keys
from .base import CommandParser, check_experiment, check_url, open_store
from .skipped import skipped_lines

HELP = "schedule one job: sqlschedule [-f] DB EXPERIMENT PARAMS..."

PARAMS_HELP = ("key=value (a Python literal, else a string), key:=expression (run now, e.g. "
               "lr:=@numpy.random.uniform(1e-6,1e-1)), key::builder, prefix <- file.conf, or a conf file; "
               "merged left to right, the last assignment wins")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                epilog="DB: postgresql://user@host[:port]/dbname?table=NAME or "
                                       "sqlite:///path.db?table=NAME; the table is created if missing.")
    p.add_argument("-f", "--force", action="store_true", help="insert even if an identical job exists")
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("experiment", metavar="EXPERIMENT", help="dotted name of experiment(state, channel)")
    p.add_argument("params", metavar="PARAMS", nargs="*", help=PARAMS_HELP)
    return p


def line(inserted: bool, state: dict) -> str:
    return ("ADDING " if inserted else "SKIPPING ") + repr(state)


def refuse_braces(params: list[str]) -> None:
    """``sqlschedule`` schedules one job as written: a ``{{a,b}}`` would be stored as that string."""
    for arg in params:
        if "{{" in arg or "}}" in arg:
            try:
                sweep = any(isinstance(part, list) for part in split_segments(arg))
            except ParamError:
                sweep = True
            if sweep:
                raise UsageError(f"{arg!r}: {{{{...}}}} expands with jobman sqlschedules (plural); "
                                 "jobman sqlschedule schedules one job as written")


def run(args: argparse.Namespace) -> int:
    url = check_url(args.db)
    refuse_braces(args.params)
    experiment = check_experiment(args.experiment)
    state = job_state(ParamParser().parse(args.params), experiment)
    with open_store(args.db, create=True) as db:
        result = db.insert_jobs([{**state, **schedule_keys(experiment)}], force=args.force)[0]
        skipped = skipped_lines(db, [result], args.db, url)
    print(line(result.inserted, state))
    for text in skipped:  # which job it is and how to requeue it, on stderr
        print(f"jobman sqlschedule: {text}", file=sys.stderr)
    return 0
