"""``jobman jobdir DB ID [DEST]``: extract the job directory stored in the database (``jobman sql
--jobdir=db``) into DEST (default ``./<ID>``)."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import UsageError
from ..store.jobdirs import unpack
from .base import CommandParser, whole_number

HELP = "extract a job directory kept in the database (jobman sql --jobdir=db)"


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=HELP)
    p.add_argument("db", metavar="DB", help="database URL with ?table=")
    p.add_argument("job_id", metavar="ID", type=whole_number("job id"), help="the job's id")
    p.add_argument("dest", metavar="DEST", nargs="?", default=None,
                   help="directory to extract into (default ./ID); it must not exist or be empty")
    return p


def run(args: argparse.Namespace) -> int:
    dest = args.dest or str(args.job_id)
    if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise UsageError(f"invalid DEST {dest!r}: it exists and is not an empty directory")
    from ..store import open_db

    with open_db(args.db, create=False) as store:
        if store.get(args.job_id) is None:
            raise UsageError(f"no job {args.job_id} in table {store.table!r}")
        archive = store.jobdirs().get(args.job_id)
    if archive is None:
        raise UsageError(f"job {args.job_id} has no directory in the database (run with jobman sql --jobdir=db)")
    names = unpack(archive.data, dest)
    print(f"job {args.job_id}: {len(names)} entries ({archive.size} bytes, attempt {archive.attempt}) "
          f"extracted into {dest}", file=sys.stdout)
    return 0
