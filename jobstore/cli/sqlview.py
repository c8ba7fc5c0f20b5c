"""``jobman sqlview [-d] [-q] DB VIEW``: create (or drop) a view with one typed column per key.

Columns are named by Jobman's rule (underscores removed, then dots become underscores:
``best_validation_loss`` → ``bestvalidationloss``, ``jobman.status`` → ``jobman_status``). The
view keeps up with keys that appear later (results): there is no need to run ``sqlview`` again.
At most 1,000 key columns (the first keys stored; PostgreSQL allows 1,664 columns): the keys past
that are in one JSON column, ``extra_keys`` ({key: value}).
"""
from __future__ import annotations

import argparse

from ..store.urls import check_identifier
from .base import CommandParser, check_url, open_store

HELP = "create or drop a view of the table with one column per key: sqlview [-d] DB VIEW"


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                epilog=__doc__.split("\n\n")[1])
    p.add_argument("-d", "--drop", action="store_true", help="drop the view instead")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.add_argument("--replace", action="store_true",
                   help="replace a view of that name that this table's sqlview did not create (it is refused otherwise)")
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("view", metavar="VIEW", help="the view's name (letters, digits, underscores)")
    return p


def run(args: argparse.Namespace) -> int:
    url = check_url(args.db)
    name = check_identifier(args.view, "view")
    with open_store(args.db, create=False) as db:  # only the scheduling commands create tables
        if args.drop:
            db.drop_view(name)
            if not args.quiet:
                print(f"Dropped view {name}")
            return 0
        columns = db.create_view(name, replace=args.replace)
    if not args.quiet:
        print(f"Created view {name} on table {url.table} with {len(columns)} columns: {', '.join(columns)}")
    return 0
