"""``jobman dashboard DB [--port P] [--host H] [--read-only]``: a live web page on the job table.

It shows counts by status and over time, running jobs (progress, host, heartbeat age), a sortable,
filterable results table paged by the database (with CSV download), learning curves of chosen
jobs, the objective against each hyper-parameter and parallel coordinates, errors with their
traceback and stderr tail, and actions (cancel, requeue, priority) that need the token printed at
start-up. It binds 127.0.0.1 by default: from a laptop, ``ssh -L 8080:127.0.0.1:8080 LOGIN_NODE``
then open the printed address there.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UsageError
from ..store.jobs import SqlStore
from .base import CommandParser, check_url, open_store

HELP = "serve a live web page on the job table: dashboard DB [--port P] [--host H] [--read-only]"
DEFAULT_PORT = 8080


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1])
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="P",
                   help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", metavar="H",
                   help="address to bind (default 127.0.0.1: reach it through an ssh tunnel)")
    p.add_argument("--read-only", "--read_only", dest="read_only", action="store_true",
                   help="refuse every action (cancel, requeue, priority)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..report.dashboard.api import Api
    from ..report.dashboard.server import make_server, serve

    check_url(args.db)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"bad --port {args.port}: expected 0 to 65535")
    store = open_store(args.db, create=False)
    if not isinstance(store, SqlStore):
        raise UsageError(f"{args.db!r} is not a SQL job table")
    try:
        server = make_server(Api(store, read_only=args.read_only), args.host, args.port)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror}") from None
    if args.read_only:
        print(f"jobman dashboard: {server.url} (read-only)", flush=True)
    else:
        print(f"jobman dashboard: {server.url}#token={server.token}", flush=True)
        print("  actions (cancel, requeue, priority) need that token: keep the address private", flush=True)
    print("  Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        serve(server)
    finally:
        store.close()
    return 0
