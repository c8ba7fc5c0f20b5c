"""``jobman sqlschedules [-f] [-r N] [-q] DB EXPERIMENT PARAMS...``: schedule a sweep.

``{{a,b,...}}`` in the parameters expands to one job per combination (cartesian product across
arguments, the first argument varying slowest; several segments in one argument work too). Every
job gets its own ``:=`` draw. Prints the expanded argument lists and the varying ones, one
``ADDING``/``SKIPPING`` line per job, and ``Added X on Y jobs`` (X really inserted). The jobs are
inserted in one transaction; with ``-r N`` and without ``-f`` the repeats of a new job follow in a
second one (a job that already existed is not repeated). The jobs skipped as already scheduled are
named on stderr with their ids and statuses, and how to requeue the failed ones (:mod:`.skipped`).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

from ..errors import ParamError, UsageError
from ..params.expansion import count_combinations, expand_arg, expand_braces, split_segments
from ..params.parser import ParamParser
from ..report.progress import Progress
from ..sql import complete_state
from ..store.base import InsertResult
from ..worker.codeinfo import schedule_keys
from .base import PROGRESS_MIN_JOBS, CommandParser, check_experiment, check_url, open_store
from .skipped import skipped_lines
from .sqlschedule import PARAMS_HELP, line

HELP = "schedule a {{a,b}} sweep: sqlschedules [-f] [-r N] [-q] DB EXPERIMENT PARAMS..."


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1],
                                epilog="DB: postgresql://user@host[:port]/dbname?table=NAME or "
                                       "sqlite:///path.db?table=NAME; the table is created if missing.")
    p.add_argument("-f", "--force", action="store_true", help="insert even if identical jobs exist")
    p.add_argument("-r", "--repeat", type=int, default=1, metavar="N",
                   help="schedule every combination N times (without -f: only if it was new)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the 'Added X on Y jobs' line")
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("experiment", metavar="EXPERIMENT", help="dotted name of experiment(state, channel)")
    p.add_argument("params", metavar="PARAMS", nargs="*", help=PARAMS_HELP + "; {{a,b,c}} expands")
    return p


def build_jobs(params: list[str], experiment: str, repeat: int,
               progress: Progress | None = None) -> list[list[dict[str, Any]]]:
    """Expand and parse: for each combination (in :func:`expand_braces` order) its ``repeat``
    states, each with its own ``:=`` draws. Every distinct argument is parsed once."""
    parser = ParamParser()
    plans = [[parser.plan([alt]) for alt in expand_arg(arg)[0]] for arg in params]
    show = progress if progress is not None and progress.enabled else None
    total = count_combinations(params) * repeat if show else 0
    jobs: list[list[dict[str, Any]]] = []
    for n, combo in enumerate(itertools.product(*plans), 1):
        jobs.append([complete_state(parser.evaluate_plans(combo), experiment) for _ in range(repeat)])
        if show:
            show.show(f"parsing {n * repeat}/{total}", force=n * repeat == total)
    return jobs


def refuse_empty_braces(params: list[str]) -> None:
    """``k={{}}`` expands to the one value '' (jobdispatch uses that): in a sweep it is a slip."""
    for arg in params:
        if any(part == [""] for part in split_segments(arg)):
            key = arg.split("=", 1)[0] if "=" in arg else arg
            raise ParamError(f"empty '{{{{}}}}' in {arg!r} (key {key!r}): expected {{{{a,b,...}}}} with the "
                             "values to sweep")


def run(args: argparse.Namespace) -> int:
    url = check_url(args.db)
    if args.repeat < 1:
        raise UsageError(f"invalid --repeat {args.repeat}: expected a number of copies >= 1")
    refuse_empty_braces(args.params)
    experiment = check_experiment(args.experiment)
    # Parse everything before connecting: bad input fails with the table untouched.
    total = count_combinations(args.params) * args.repeat
    progress = Progress(enabled=total >= PROGRESS_MIN_JOBS)
    jobs = build_jobs(args.params, experiment, args.repeat, progress)
    out: list[str] = []
    if not args.quiet:
        combos = expand_braces(args.params)
        out.append(f"{[a for a, _ in combos]} {[v for _, v in combos]}")
    progress.show(f"inserting {total} jobs...", force=True)
    inserted = 0
    code = schedule_keys(experiment)  # into the rows, not the lines printed

    def insert(states: list[dict[str, Any]], force: bool = False) -> list[InsertResult]:
        return db.insert_jobs([{**s, **code} for s in states], force=force)

    with open_store(args.db, create=True) as db:
        if args.force or args.repeat == 1:
            flat = [s for copies in jobs for s in copies]
            results = firsts = insert(flat, force=args.force)
            inserted = sum(r.inserted for r in results)
            if not args.quiet:
                out.extend(line(r.inserted, s) for r, s in zip(results, flat))
        else:
            firsts = insert([copies[0] for copies in jobs])
            again = [s for r, copies in zip(firsts, jobs) if r.inserted for s in copies[1:]]
            repeats = iter(insert(again, force=True) if again else [])
            inserted = sum(r.inserted for r in firsts)
            for r, copies in zip(firsts, jobs):
                if not args.quiet:
                    out.append(line(r.inserted, copies[0]))
                    if not r.inserted:
                        out.append("The last cmd failed to insert, we won't repeat it...")
                if r.inserted:
                    for s in copies[1:]:
                        rr = next(repeats)
                        inserted += rr.inserted
                        if not args.quiet:
                            out.append(line(rr.inserted, s))
        skipped = skipped_lines(db, firsts, args.db, url)
    progress.end()
    out.append(f"Added {inserted} on {total} jobs")
    sys.stdout.write("\n".join(out) + "\n")
    if skipped:  # on stderr: stdout stays Jobman's output
        sys.stderr.write("\n".join(f"jobman sqlschedules: {ln}" for ln in skipped) + "\n")
    return 0
