"""``jobman plot DB METRIC PARAM [PARAM2] [-o OUT.png]``: a PNG of METRIC against PARAM, one point per
finished job, coloured by PARAM2 when given; ``jobman plot DB --curves METRIC [--jobs IDS]``: the
learning curves of METRIC (``channel.report``), one line per job. Drawn with matplotlib (the extra
``[plot]``).

An axis whose values are all positive and span two decades or more is drawn on a log scale
(``--logx``/``--logy``/``--logc`` force it, ``--linear`` turns the automatic choice off). The
plotted ids and values are stored in the PNG as JSON (a ``tEXt`` chunk named ``jobman-plot``).
Learning curves show at most CURVES_MAX_JOBS jobs (the lowest ids unless ``--jobs`` names them).
Jobs lacking a key, or whose value is NaN or infinite, are left out and counted on stderr; a
value that is not a number is an error.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any

from ..errors import UsageError
from ..report import plots as png
from ..status import DONE, Status
from ..store.base import MIRRORED_KEYS, Job
from ..store.urls import parse_url
from .base import CommandParser
from .export import check_writable, write_atomic

HELP = ("write a PNG of a metric against one or two hyper-parameters, or learning curves: "
        "plot DB METRIC PARAM [PARAM2] [-o OUT] | plot DB --curves METRIC")
CURVES_MAX_JOBS = 20


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"invalid --size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 800x600")
    w, h = int(m.group(1)), int(m.group(2))
    if not (png.MIN_WIDTH_PX <= w <= png.MAX_SIDE_PX and png.MIN_HEIGHT_PX <= h <= png.MAX_SIDE_PX):
        raise UsageError(
            f"invalid --size {text!r}: expected width {png.MIN_WIDTH_PX}..{png.MAX_SIDE_PX} and height "
            f"{png.MIN_HEIGHT_PX}..{png.MAX_SIDE_PX} pixels")
    return w, h


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1],
                                epilog="S: " + Status.accepted())
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("metric", metavar="METRIC", nargs="?", default=None,
                   help="the key on the y axis, e.g. best_validation_loss")
    p.add_argument("param", metavar="PARAM", nargs="?", default=None, help="the key on the x axis, e.g. learning_rate")
    p.add_argument("param2", metavar="PARAM2", nargs="?", default=None,
                   help="a key shown as the markers' colour, e.g. n_hidden")
    p.add_argument("-o", "--output", metavar="OUT.png", default=None,
                   help="the file to write (default: TABLE_METRIC_vs_PARAM[_by_PARAM2].png here)")
    p.add_argument("--status", action="append", default=[], metavar="S",
                   help="plot the jobs with status S (repeatable; default DONE)")
    p.add_argument("--curves", metavar="METRIC", default=None,
                   help="learning curves of METRIC (reported with channel.report) instead of a scatter")
    p.add_argument("--jobs", metavar="IDS", default=None,
                   help=f"with --curves: these job ids, comma-separated (default: up to {CURVES_MAX_JOBS} jobs)")
    p.add_argument("--logx", action="store_true", help="log scale on the x axis")
    p.add_argument("--logy", action="store_true", help="log scale on the y axis")
    p.add_argument("--logc", action="store_true", help="log scale for the colour")
    p.add_argument("--linear", action="store_true",
                   help="no automatic log scale (values spanning decades get one by default)")
    p.add_argument("--title", default=None, help="the title (default: TABLE: METRIC vs PARAM)")
    p.add_argument("--size", default=f"{png.DEFAULT_WIDTH_PX}x{png.DEFAULT_HEIGHT_PX}",
                   metavar="WxH", help=f"image size in pixels (default {png.DEFAULT_WIDTH_PX}x{png.DEFAULT_HEIGHT_PX})")
    return p


def default_output(table: str, metric: str, param: str, param2: str | None) -> str:
    name = f"{table}_{metric}_vs_{param}" + (f"_by_{param2}" if param2 else "")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"


def _value(job: Job, key: str) -> float | None:
    """The job's value of ``key`` as a float; None when missing or not finite; an error when it is
    not a number at all (a string, a list, a boolean)."""
    if key not in job.state or job.state[key] is None:
        return None
    v = job.state[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UsageError(f"non-numeric value {v!r} of {key!r} in job {job.id}: plot needs numbers "
                         "(use 'jobman export' for other values)")
    f = float(v)
    return f if math.isfinite(f) else None


def collect(jobs: list[Job], metric: str, param: str, param2: str | None) -> tuple[list[png.Point], int]:
    """The points, and how many jobs were left out for a missing or non-finite value."""
    points, skipped = [], 0
    for job in jobs:
        y, x = _value(job, metric), _value(job, param)
        c = _value(job, param2) if param2 else None
        if y is None or x is None or (param2 and c is None):
            skipped += 1
            continue
        points.append(png.Point(job.id, x, y, c))
    return points, skipped


def _log_flag(forced: bool, linear: bool) -> bool | None:
    return True if forced else (False if linear else None)


def run(args: argparse.Namespace) -> int:
    if args.curves is not None:
        return run_curves(args)
    if args.metric is None or args.param is None:
        raise UsageError("missing METRIC PARAM: expected 'plot DB METRIC PARAM [PARAM2]' or 'plot DB --curves METRIC'")
    return run_scatter(args)


def _ids(text: str) -> list[int]:
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        ids = []
    if not ids:
        raise UsageError(f"invalid --jobs {text!r}: expected job ids separated by commas, e.g. 3,7,12")
    return ids


def run_curves(args: argparse.Namespace) -> int:
    """``--curves METRIC``: one line per job, from the metric history."""
    from ..store import open_db

    url = parse_url(args.db)
    width, height = _size(args.size)
    ids = _ids(args.jobs) if args.jobs is not None else None
    output = args.output or default_output(url.table, "curves", args.curves, None)
    check_writable(output)
    statuses = sorted({Status.parse(s) for s in args.status}) or None
    with open_db(args.db, create=False) as db:
        jobs = db.jobs(ids=ids, statuses=statuses if ids is None else None, limit=CURVES_MAX_JOBS)
        series = db.metrics.series([j.id for j in jobs], args.curves) if jobs else {}
    if not series:
        raise UsageError(f"no points of metric {args.curves!r} in table {url.table!r} for "
                         f"{'jobs ' + args.jobs if ids else 'its jobs'}: was it reported with channel.report?")
    title = args.title if args.title is not None else f"{url.table}: {args.curves}"
    try:
        data, _ = png.curves_png({job: [(s, v) for _, s, v in pts] for job, pts in series.items()},
                                 metric=args.curves, title=title, width=width, height=height,
                                 logy=_log_flag(args.logy, args.linear), meta={"table": url.table})
    except ValueError as e:
        raise UsageError(f"cannot plot the curves of {args.curves!r}: {e}") from None
    write_atomic(output, data)
    print(f"wrote {output}: {len(series)} curve{'s' if len(series) != 1 else ''} of {args.curves}")
    return 0


def run_scatter(args: argparse.Namespace) -> int:
    """METRIC against PARAM (coloured by PARAM2), one point per job."""
    from ..store import open_db

    url = parse_url(args.db)
    statuses = sorted({Status.parse(s) for s in args.status}) or [DONE]
    names = [k for k in (args.metric, args.param, args.param2) if k is not None]
    if len(set(names)) != len(names):
        raise UsageError(f"the same key twice in {' '.join(names)!r}: expected different keys for the axes")
    width, height = _size(args.size)
    output = args.output or default_output(url.table, args.metric, args.param, args.param2)
    check_writable(output)
    which = "/".join(Status.name_of(s) for s in statuses)
    with open_db(args.db, create=False) as db:
        keys = db.keys()
        for k in names:
            if k not in keys:
                known = ", ".join(x for x in keys if x not in MIRRORED_KEYS) or "none yet"
                raise UsageError(f"unknown key {k!r}: the table's keys are {known}")
        jobs = db.jobs(statuses=statuses)
    if not jobs:
        raise UsageError(f"no {which} jobs in table {url.table!r}: nothing to plot (--status=S picks others)")
    points, skipped = collect(jobs, args.metric, args.param, args.param2)
    if not points:
        raise UsageError(f"none of the {len(jobs)} {which} jobs has a finite value of every one of "
                         f"{', '.join(map(repr, names))}: nothing to plot")
    title = args.title if args.title is not None else f"{url.table}: {args.metric} vs {args.param}"
    meta: dict[str, Any] = {"table": url.table, "statuses": [Status.name_of(s) for s in statuses],
                            "skipped": skipped}
    try:
        data, _ = png.scatter_png(points, title=title, xlabel=args.param, ylabel=args.metric, clabel=args.param2,
                                  logx=_log_flag(args.logx, args.linear), logy=_log_flag(args.logy, args.linear),
                                  logc=_log_flag(args.logc, args.linear), width=width,
                                  height=height, meta=meta)
    except ValueError as e:
        raise UsageError(f"cannot plot {args.metric!r} against {args.param!r}: {e}") from None
    write_atomic(output, data)
    if skipped:
        print(f"left out {skipped} job(s) lacking a finite value of {', '.join(names)}", file=sys.stderr)
    print(f"wrote {output}: {len(points)} point{'s' if len(points) != 1 else ''} "
          f"({args.metric} vs {args.param}{f', colour {args.param2}' if args.param2 else ''})")
    return 0
