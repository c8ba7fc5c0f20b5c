"""``jobman sql [-n K] [options] DB EXPROOT`` (alias ``jobman worker``): run jobs from the table."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import DatabaseError, UsageError
from ..files import warn_if_world_writable
from ..status import START
from ..store.base import Store
from ..store.connector import WORKER_CONNECT_TIMEOUT_S
from ..units import parse_seconds
from ..worker.allow import ALLOW_ENV, parse_allow
from ..worker.importer import IMPORT_TIMEOUT_S
from ..worker.jobdir_archive import DEFAULT_MAX_MB, JOBDIR_MODES
from ..worker.loop import run_worker
from ..worker.options import HEARTBEAT_FRACTION, LEASE_S, MAX_ATTEMPTS, WorkerOptions
from ..worker.outcome import WorkerReport
from ..worker.selfrequeue import DEFAULT_MAX_REQUEUES, REQUEUE_ENV, parse_max, requeue_after_stop
from ..worker.walltime import resolve_deadline
from .base import CommandParser, whole_number

HELP = "run jobs from a table (the worker; N copies are what jobdispatch launches)"

EPILOG = """\
Each job runs in EXPROOT/<dbname>/<table>/<id>/ (EXPROOT '.' is the current directory), which
holds orig.conf (first run), current.conf (every save), stdout and stderr (appended across
attempts; file-descriptor level, so subprocesses are captured) and what the experiment writes.
<table>/.jobman-table names the table that owns it (a UUID): a namesake table (another database of
the same name, a table re-created) uses <table>@<uuid8>/ instead; a job directory whose orig.conf
(first line) or .jobman-job names another job is refused. The job's row says its directory
(jobman.sql.host_workdir).

A claimed job holds a lease renewed by a heartbeat while it runs; if the worker dies, the job is
claimable again once the lease expires, and after --max-attempts such losses it ends as ERR_RUN
(end_reason 'lost'). SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 make channel.switch() return 'stop': the
experiment checkpoints and returns channel.INCOMPLETE, the job goes back to START with priority
>= 2.0, and the worker claims no more jobs. A second SIGTERM or SIGINT stops an experiment that
never calls switch(): the job is handed back (START) and the worker exits; if the experiment is
stuck in native code, the worker exits 5 s later anyway and the job goes back to START when its
lease expires.

Exit status: 0 when every job it ran was handed back (DONE, or START after INCOMPLETE or a stop
signal); 1 when a job ended in ERR_RUN/ERR_START, a result could not be recorded (it is then kept
in the job's result-<attempt>.json), or the database became unreachable while it ran; 130 after a second ^C, 143 after a second SIGTERM;
2 for bad input, a database that cannot be reached at start-up (after --connect-timeout), a table
that does not exist (only jobman sqlschedule(s) creates one), or an experiment that does not import
where the worker runs (its job is handed back untouched and the worker stops).
The worker's directory is appended to the Python path, so an experiment module there is found.

--requeue (or $JOBMAN_REQUEUE=MAX, set by jobdispatch --requeue): a worker stopped by a signal while
jobs are still waiting asks its scheduler to run its task again (SLURM: scontrol requeue, the script
needs --requeue; HTCondor: on_exit_remove keeps a job that exits 75) and exits 75, at most
--max-requeues times per task.

--min-time-left S: before each claim the worker compares S with what remains of its time (under
SLURM the job's EndTime, read once at start-up; elsewhere --walltime S counted from its start) and,
when less remains, claims no new job, says so and ends as when the table is empty (with --requeue,
its task is requeued while jobs wait)."""


def _positive(what: str):
    return _seconds(what, zero_ok=False)


def _requeues(text: str) -> int:
    try:
        value = parse_max(text, "--max-requeues")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return DEFAULT_MAX_REQUEUES if value is None else value


def _seconds(option: str, zero_ok: bool):
    def parse(text: str) -> float:
        try:
            return parse_seconds(text, option, zero_ok=zero_ok)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid --jobdir-max-mb {text!r}: expected a size in MB > 0")
    return value


def build_parser(prog: str) -> CommandParser:
    p = CommandParser(prog=prog, description=HELP, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no per-job lines ('Selected job id=...', 'No more jobs...'); warnings and errors still show")
    p.add_argument("-n", dest="n", type=int, default=1, metavar="K",
                   help="run up to K jobs one after the other (default 1); K <= 0: until none is claimable")
    p.add_argument("--finish-up-after", "--finish_up_after", dest="finish_up_after", metavar="S",
                   type=_positive("--finish-up-after"), default=None,
                   help="channel.switch() returns 'finish-up' once, S seconds after the experiment started")
    p.add_argument("--save-every", "--save_every", dest="save_every", metavar="S",
                   type=_positive("--save-every"), default=None,
                   help="channel.switch() returns 'save' every S seconds")
    p.add_argument("--import", dest="imports", metavar="A,B", default="",
                   help="import these modules (comma-separated) before contacting the database")
    p.add_argument("--lease", dest="lease", metavar="S", type=_positive("--lease"), default=LEASE_S,
                   help=f"lease of a claimed job in seconds, renewed by the heartbeat (default {LEASE_S:g})")
    p.add_argument("--heartbeat", dest="heartbeat", metavar="S", type=_positive("--heartbeat"), default=None,
                   help=f"heartbeat interval in seconds, counted from the last heartbeat or channel.save() "
                        f"(default: lease * {HEARTBEAT_FRACTION:g})")
    p.add_argument("--max-attempts", "--max_attempts", dest="max_attempts", metavar="N", type=whole_number("--max-attempts"),
                   default=MAX_ATTEMPTS,
                   help=f"a job whose lease expired this many times ends as ERR_RUN (default {MAX_ATTEMPTS})")
    p.add_argument("--allow", dest="allow", metavar="PREFIX,...", default=None,
                   help=f"run only experiments under these dotted module prefixes (default ${ALLOW_ENV}; "
                        "unset: any experiment a row names); any other job ends ERR_START, unimported")
    p.add_argument("--group-access", "--group_access", dest="group_access", action="store_true",
                   help="job directories readable by your group (0750; default 0700)")
    p.add_argument("--connect-timeout", "--connect_timeout", dest="connect_timeout", metavar="S",
                   type=_positive("--connect-timeout"), default=WORKER_CONNECT_TIMEOUT_S,
                   help="wait up to S seconds for a database that refuses connections (at its connection "
                        f"limit, starting up) before giving up (default {WORKER_CONNECT_TIMEOUT_S:g}: "
                        "a cluster-wide start)")
    p.add_argument("--jobdir", dest="jobdir", choices=JOBDIR_MODES, default="shared",
                   help="shared (default): job directories stay in EXPROOT, which every node must see; db: "
                        "each attempt's directory is stored in the database when it ends and restored on "
                        "the next claim, on any machine (jobman jobdir DB ID extracts it)")
    p.add_argument("--jobdir-max-mb", "--jobdir_max_mb", dest="jobdir_max_mb", metavar="MB", type=_megabytes,
                   default=DEFAULT_MAX_MB, help=f"with --jobdir=db: a job directory larger than this once "
                                                f"compressed ends the job ERR_RUN (default {DEFAULT_MAX_MB:g})")
    p.add_argument("--requeue", dest="requeue", action="store_true",
                   help=f"stopped by a signal while jobs wait: have the batch scheduler run this task again "
                        f"(default: on when ${REQUEUE_ENV} is set)")
    p.add_argument("--max-requeues", "--max_requeues", dest="max_requeues", metavar="N", type=_requeues,
                   default=None, help=f"requeue one task at most N times (default ${REQUEUE_ENV}, else "
                                      f"{DEFAULT_MAX_REQUEUES})")
    p.add_argument("--import-timeout", "--import_timeout", dest="import_timeout", metavar="S",
                   type=_positive("--import-timeout"), default=IMPORT_TIMEOUT_S,
                   help="a job whose experiment is still importing after S seconds ends ERR_START and the "
                        f"worker stops (default {IMPORT_TIMEOUT_S:g}); the lease is kept alive meanwhile")
    p.add_argument("--walltime", dest="walltime", metavar="S", type=_seconds("--walltime", False), default=None,
                   help="this worker has S seconds from its start (default under SLURM: its job's EndTime)")
    p.add_argument("--min-time-left", "--min_time_left", dest="min_time_left", metavar="S",
                   type=_seconds("--min-time-left", True), default=None,
                   help="claim no new job once less than S seconds of the walltime remain (default 0 with "
                        "--walltime; off otherwise)")
    p.add_argument("db", metavar="DB", help="database URL: postgresql://user@host/db?table=T or "
                                             "sqlite:///path.db?table=T")
    p.add_argument("exproot", metavar="EXPROOT", help="root of the job directories ('.' = here)")
    return p


def _stopped_by_limit(store: Store, report: WorkerReport, n: int) -> str | None:
    """When -n K (default 1) ended the run with jobs still waiting, say so: a forgotten -n 0 looks
    like a finished sweep otherwise."""
    if n <= 0 or len(report.outcomes) < n or report.no_more_jobs or report.stop_signal or report.db_error \
            or report.import_error or report.interrupted or report.node_error:
        return None
    try:
        waiting = store.count(statuses=[START])
    except DatabaseError:
        return None
    if not waiting:
        return None
    jobs = "job" if n == 1 else "jobs"
    return f"stopped after {n} {jobs} (-n {n}); {waiting} still waiting; -n 0 runs until the table is empty"


def _max_requeues(args: argparse.Namespace) -> int | None:
    """The maximum number of self-requeues, or None when self-requeue is off."""
    try:
        from_env = parse_max(os.environ.get(REQUEUE_ENV), f"${REQUEUE_ENV}")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not args.requeue and from_env is None:
        return None
    if args.max_requeues is not None:
        return int(args.max_requeues)
    return DEFAULT_MAX_REQUEUES if from_env is None else from_env


def _waiting_for_requeue(store: Store, report: WorkerReport, max_requeues: int | None) -> int:
    """After a stop signal or out of time, with self-requeue on: how many jobs are still claimable
    (0: no requeue)."""
    if max_requeues is None or not (report.stop_signal or report.out_of_time) or report.interrupted \
            or report.exit_code != 0:
        return 0
    try:
        return store.count(statuses=[START])
    except DatabaseError as e:
        print(f"jobman sql: cannot count the waiting jobs ({e}): this task is not requeued", file=sys.stderr)
        return 0


def _log(message: str) -> None:
    print(f"jobman sql: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.heartbeat is not None and args.heartbeat >= args.lease:
        raise UsageError(f"invalid --heartbeat {args.heartbeat:g}: expected less than the lease "
                         f"({args.lease:g} s), e.g. {args.lease * HEARTBEAT_FRACTION:g}")
    if os.path.exists(args.exproot) and not os.path.isdir(args.exproot):
        raise UsageError(f"invalid EXPROOT {args.exproot!r}: it exists and is not a directory")
    allow = parse_allow(args.allow if args.allow is not None else os.environ.get(ALLOW_ENV),
                        "--allow" if args.allow is not None else f"${ALLOW_ENV}")
    max_requeues = _max_requeues(args)
    deadline = resolve_deadline(args.walltime, args.min_time_left, _log)
    warn_if_world_writable(args.exproot, "EXPROOT")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)
    for name in filter(None, (m.strip() for m in args.imports.split(","))):
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UsageError(f"cannot import module {name!r} given to --import: {e}") from None

    from ..store import open_db  # after --import: a module may register something the store needs

    options = WorkerOptions(n=args.n, finish_up_after_s=args.finish_up_after, save_every_s=args.save_every,
                            lease_s=args.lease, heartbeat_s=args.heartbeat, max_attempts=args.max_attempts,
                            group_access=args.group_access, allow=allow, jobdir=args.jobdir,
                            jobdir_max_mb=args.jobdir_max_mb, import_timeout_s=args.import_timeout,
                            deadline=deadline)
    # create=False: a misspelt table must not be created and "run"
    store = open_db(args.db, create=False, connect_timeout_s=args.connect_timeout)
    try:
        if args.quiet:
            with open(os.devnull, "w") as quiet:
                report = run_worker(store, args.exproot, options, out=quiet)
        else:
            report = run_worker(store, args.exproot, options)
        limit_note = _stopped_by_limit(store, report, args.n)
        waiting = _waiting_for_requeue(store, report, max_requeues)
    finally:
        store.close()
    if limit_note:
        print(f"jobman sql: {limit_note}", file=sys.stderr)
    summary = report.summary()
    if summary:
        print(f"jobman sql: {summary}", file=sys.stderr)
    if report.import_error:
        print(f"jobman sql: error: {report.import_error}", file=sys.stderr)
    if report.node_error:
        print(f"jobman sql: stopped: {report.node_error}", file=sys.stderr)
    if report.db_error:
        print(f"jobman sql: stopped: the database could not be reached: {report.db_error}", file=sys.stderr)
    if report.stop_signal and not report.interrupted:
        print(f"jobman sql: stopped by {report.stop_signal} after handing back its job "
              f"({len(report.outcomes)} job{'' if len(report.outcomes) == 1 else 's'} run)", file=sys.stderr)
    if waiting and max_requeues is not None:  # last: the scheduler ends this run once it is asked
        code = requeue_after_stop(max_requeues, waiting, _log)
        if code is not None:
            return code
    return report.exit_code
