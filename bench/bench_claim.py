"""Claim + complete throughput of the worker on PostgreSQL, beside a minimal reference loop, and
claim latency against the table's size.

    .venv/bin/python bench/bench_claim.py [--jobs 3000] [--reps 3] [--workers 1,4,16]

Throughput: W processes (forked after the imports) drain a table of no-op jobs. "ours" runs the
real worker loop (``jobstore.worker.run_worker`` with ``worker_exps.noop``: claim, job directory,
conf files, fd redirection, the experiment, the fenced finish with the next claim in one
statement); "ours, 2 statements" is the same with the finish and the claim sent apart (as before
``finish_claim``); "ours, release per job" is the same with ``idle_release_s=0`` (start save,
connection released before each experiment, reconnect for the finish); "store" is ``store.claim`` + ``store.finish`` alone (no job directory, no experiment:
what the worker loop adds is the difference); "reference" is two plain psycopg statements per job
on a persistent autocommit connection (the SKIP LOCKED claim and an UPDATE marking the job done)
against the same table: the ideal two-statement loop. "ref,paused" (``--kinds ...,paused``) is the
reference busy between its claim and its UPDATE for the worker's extra CPU per job (measured first,
in one process): what a client that computes as much per job as the worker reaches with the ideal
statements. "store,paused" (``--kinds ...,storepaused``) is the store's own statement, the one the
worker sends (``store.finish_and_claim``, after a first ``store.claim``), busy for the worker's
CPU per job beyond that loop's: the worker's jobs without their job directories, conf files,
redirection and experiment, replaced by a busy loop as long. Against "ref,paused" it shows what the
store's statement costs (its data: the finished state written, the claimed row returned, the lease
and provenance columns), against "ours" what the worker's own Python costs beyond a busy loop of the
same CPU, once 16 processes share the cores.
Each process is timed from just before its first claim, so process start-up is excluded; the
start-up of a real ``jobman sql`` process (interpreter, imports, connection, an empty claim) is
measured separately. What a process costs once inside that span (its connection, the loop's start,
the first job's code provenance with its git calls, its end) is measured too, by draining as many
jobs as processes, beside the reference's: with --jobs 3000 over 16 workers, each worker runs about
190 jobs, and that cost is a visible part of the per-job figures (``--jobs`` larger dilutes it).

In one process each loop's wall time, its own CPU and the server's CPU per job are measured too,
with two more loops: the reference busy between its claim and its UPDATE, and the worker's
statement (store.finish_and_claim) busy before each, each as long as the worker's extra CPU per job
beyond that loop. A backend that waits for its client costs the server more per statement than one
answering a tight loop (it sleeps and wakes, on caches the client used meanwhile): those loops are
the server's shares to set the worker's beside, as on a cluster, where every worker computes
between its statements.

With ``--statements`` the server runs with pg_stat_statements, and each loop's statements are
summed per job: how many, the server's execution time (planning included) and the WAL they wrote.
The server CPU a loop costs beyond that execution time is the protocol around it (parsing the
parameters, sending the rows back, the round trips themselves); execution is timed on the wall
clock, so with more workers than cores it includes time spent descheduled.

With ``--instructions`` (needs valgrind) the client side of three loops is counted in machine
instructions per job under callgrind: the reference, the worker's statement alone
(store.finish_and_claim) and the whole worker loop, each as the difference between a run of
``--instr-jobs`` jobs and one of a fifth as many (start-up cancels out). Unlike CPU time on a
shared machine, the count is the same from run to run (within about 1%): a change to the worker's
per-job work shows in it even when it is a few percent, far below the noise of the rates. It
leaves out the kernel's share (system calls, page faults) and the server.

Latency: single-client claim (+ finish, not timed) on tables of 10,000 and 1,000,000 START rows,
median and 99th percentile, through the store and through the plain statement.
Figures are medians of ``--reps`` repetitions; the machine is shared, so they are noisy: each
repetition runs every kind back to back, and a ratio to the reference is the median of the
ratios within one repetition (same-run ratios).
"""
from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from benchlib import PgServer, child_env, import_test_experiments, server_cpu_s

from jobstore.status import DONE
from jobstore.store import Store, open_db
from jobstore.worker import WorkerOptions, run_worker

import_test_experiments()  # the forked workers import worker_exps.noop

TABLE = "jobs"
REF_CLAIM = (f'UPDATE "{TABLE}" SET status = 1 WHERE id = (SELECT id FROM "{TABLE}" WHERE status = 0 '
             "ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id")
REF_DONE = f'UPDATE "{TABLE}" SET status = 2 WHERE id = %s'


def _fill(server: PgServer, n_jobs: int) -> str:
    """A fresh database with ``n_jobs`` no-op START jobs inserted through the store; its URL."""
    db = server.createdb()
    url = server.url(db, TABLE)
    with open_db(url) as store:
        store.ensure_schema()
        store.insert_jobs([{"jobman.experiment": "worker_exps.noop", "i": i} for i in range(n_jobs)])
    return url


def _dbname(url: str) -> str:
    """The database a URL (or a DSN) made by ``_fill`` names."""
    return url.split("/")[-1].split("?")[0]


def _ref_proc(dsn: str, go, results, pause_s: float = 0.0) -> None:
    conn = psycopg.connect(dsn, autocommit=True)
    go.wait()
    t0 = time.perf_counter()
    n = _ref_loop(conn, pause_s)
    results.put((t0, time.perf_counter(), n))
    conn.close()


CLAIM = {"worker": "w", "host": "h", "lease_s": 60, "max_attempts": 3}  # the store loops' claim arguments


def _store_loop(store: Store) -> int:
    """store.claim + store.finish per job (two statements); the jobs it ran."""
    n = 0
    while (job := store.claim(**CLAIM)) is not None:
        store.finish(job.id, job.attempt, status=DONE, end_reason="completed", state=job.state)
        n += 1
    return n


def _store_proc(url: str, go, results, loop: Callable[[Store], int] = _store_loop) -> None:
    """A drain process on the store: ``loop`` (:func:`_store_loop`, or :func:`_store_fc_loop` with
    its pause) from the start line."""
    store = open_db(url)
    go.wait()
    t0 = time.perf_counter()
    n = loop(store)
    results.put((t0, time.perf_counter(), n))
    store.close()


def _busy(pause_s: float) -> None:
    """Spin for ``pause_s`` seconds (a client computing between its statements); at once for 0."""
    if pause_s <= 0:
        return
    until = time.perf_counter() + pause_s
    while time.perf_counter() < until:
        pass


def _store_fc_loop(store: Store, pause_s: float = 0.0) -> int:
    """The worker's statements alone: a claim, then ``finish_and_claim`` per job (one statement), with
    ``pause_s`` busy between them; the jobs it ran."""
    job, n = store.claim(**CLAIM), 0
    while job is not None:
        _busy(pause_s)
        _, job_next = store.finish_and_claim(job.id, job.attempt, status=DONE, end_reason="completed", claim=CLAIM,
                                             state=job.state)
        job, n = job_next, n + 1
    return n


def _ours_proc(url: str, exproot: str, idle_release_s: float | None, go, results, two_statements: bool = False) -> None:
    store = open_db(url)
    if two_statements:  # the finish, then the claim: what the worker did before finish_claim
        store.finish_and_claim = functools.partial(Store.finish_and_claim, store)
    devnull = open(os.devnull, "w")
    go.wait()
    t0 = time.perf_counter()
    report = run_worker(store, exproot, WorkerOptions(n=0, idle_release_s=idle_release_s), out=devnull)
    results.put((t0, time.perf_counter(), len(report.outcomes)))
    store.close()


def _drain(target, args: tuple, workers: int, **kwargs) -> tuple[float, int]:
    """Run ``workers`` processes of ``target``; jobs/s over the span from the first start to the last end."""
    ctx = mp.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, go, results), kwargs=kwargs) for _ in range(workers)]
    for p in procs:
        p.start()
    time.sleep(0.5 + 0.05 * workers)  # let every process connect and wait on the start line
    go.set()
    spans = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    total = sum(s[2] for s in spans)
    return total / (max(s[1] for s in spans) - min(s[0] for s in spans)), total


@dataclass
class Run:
    """One drain: jobs/s, and the CPU milliseconds per job of the workers and of the server; with
    ``--statements``, per job: statements, their execution milliseconds and WAL bytes."""
    rate: float
    client_ms: float
    server_ms: float
    statements: float | None = None
    exec_ms: float | None = None
    wal_bytes: float | None = None


STATEMENTS = "pg_stat_statements"  # per cluster: its extension, view and reset live in `postgres`


def _statement_totals(server: PgServer, db: str) -> tuple[int, float, float]:
    """Calls, execution + planning milliseconds and WAL bytes of the statements run in ``db``
    since the last reset."""
    row = server.execute(f"SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time + total_plan_time), 0), "
                         f"coalesce(sum(wal_bytes), 0) FROM {STATEMENTS} "
                         "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)", (db,))
    assert row is not None  # an aggregate always returns its row
    return int(row[0]), float(row[1]), float(row[2])


def throughput(server: PgServer, n_jobs: int, workers: int, kind: str, exproot_dirs: dict[str, str],
               statements: bool = False, pauses: dict[str, float] | None = None) -> Run:
    url = _fill(server, n_jobs)
    db = _dbname(url)
    try:
        if statements:  # the fill's statements are not the loop's
            server.execute(f"SELECT {STATEMENTS}_reset()")
        where = exproot_dirs["disk" if kind == "disk" else "tmpfs"]
        with tempfile.TemporaryDirectory(prefix="bench-claim.", dir=where) as root:
            c0, s0 = os.times(), server_cpu_s(server.data)
            if kind in ("reference", "paused"):
                rate, total = _drain(_ref_proc, (url.split("?")[0],), workers,
                                     pause_s=(pauses or {}).get(kind, 0.0))
            elif kind == "storepaused":
                rate, total = _drain(_store_proc, (url,), workers,
                                     loop=functools.partial(_store_fc_loop, pause_s=(pauses or {})[kind]))
            elif kind == "store":
                rate, total = _drain(_store_proc, (url,), workers)
            else:
                rate, total = _drain(_ours_proc, (url, root, 0.0 if kind == "release" else None), workers,
                                     two_statements=kind == "twostmt")
            c1, s1 = os.times(), server_cpu_s(server.data)
        with open_db(url) as store:
            done = store.count(statuses=[DONE]) if kind not in ("reference", "paused") else total
        if total != n_jobs or done != n_jobs:
            raise RuntimeError(f"{kind} with {workers} workers ran {total} jobs ({done} DONE) of {n_jobs}")
        client_s = c1.children_user + c1.children_system - c0.children_user - c0.children_system
        run = Run(rate, client_s / n_jobs * 1e3, (s1 - s0) / n_jobs * 1e3)
        if statements:
            calls, exec_ms, wal = _statement_totals(server, db)
            run.statements, run.exec_ms, run.wal_bytes = calls / n_jobs, exec_ms / n_jobs, wal / n_jobs
        return run
    finally:
        server.dropdb(db)


def _ref_loop(conn: psycopg.Connection, pause_s: float = 0.0) -> int:
    """The reference loop on one connection; with ``pause_s``, busy between the claim and the
    UPDATE for that long (as a worker computes between its statements). The jobs it ran."""
    n = 0
    while (row := conn.execute(REF_CLAIM).fetchone()) is not None:
        _busy(pause_s)
        conn.execute(REF_DONE, (row[0],))
        n += 1
    return n


@dataclass
class Cost:
    """One loop in one process: wall, its own CPU and the server's CPU, milliseconds per job."""
    wall_ms: float
    client_ms: float
    server_ms: float


def per_job_costs(server: PgServer, n_jobs: int, tmpfs: str) -> dict[str, Cost]:
    """Per job in one process, where the difference between the loops comes from: the two plain
    statements, store.claim + store.finish (reap, lease, returned row, state JSON), the whole
    worker (plus job directory, conf files, redirection, experiment import), the worker's statement
    alone (store.finish_and_claim), and the two plain statements and the worker's statement again,
    each with a pause as long as the worker's extra CPU per job beyond its own loop: a backend that
    waits for its client costs the server more per statement (it sleeps and wakes, on caches the
    client used meanwhile), so those loops are the server's shares to set the worker's beside."""
    out: dict[str, Cost] = {}

    def timed(key: str, loop) -> None:
        url = _fill(server, n_jobs)
        try:
            w, c, s = time.perf_counter(), time.process_time(), server_cpu_s(server.data)
            loop(url)
            out[key] = Cost(*((x / n_jobs * 1e3) for x in (time.perf_counter() - w, time.process_time() - c,
                                                           server_cpu_s(server.data) - s)))
        finally:
            server.dropdb(_dbname(url))

    timed(REFERENCE, _reference_on)
    timed("store.claim + store.finish", _store_on)
    timed(STORE_FC, _store_fc_on)
    with tempfile.TemporaryDirectory(dir=tmpfs) as exproot:
        timed(WORKER, functools.partial(_worker_on, exproot=exproot))
    timed(REF_PAUSED, functools.partial(_reference_on, pause_s=_worker_extra_s(out, REFERENCE)))
    timed(STORE_PAUSED, functools.partial(_store_fc_on, pause_s=_worker_extra_s(out, STORE_FC)))
    return out


# Each loop draining the table at ``url`` in this process, on a connection of its own.
def _reference_on(url: str, pause_s: float = 0.0) -> None:
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        _ref_loop(conn, pause_s)


def _store_on(url: str) -> None:
    with open_db(url) as store:
        _store_loop(store)


def _store_fc_on(url: str, pause_s: float = 0.0) -> None:
    with open_db(url) as store:
        _store_fc_loop(store, pause_s)


def _worker_on(url: str, exproot: str) -> None:
    """The whole worker loop, its job directories under ``exproot`` (made and removed by the caller,
    outside the measured span: a worker never removes its job directories)."""
    with open_db(url) as store, open(os.devnull, "w") as dn:
        run_worker(store, exproot, WorkerOptions(n=0), out=dn)


REFERENCE, WORKER = "reference (2 statements)", "worker loop (job dirs in RAM)"
STORE_FC = "store.finish_and_claim"
REF_PAUSED, STORE_PAUSED = "reference, paused as the worker", "finish_and_claim, paused as it"


def _worker_extra_s(costs: dict[str, Cost], base: str) -> float:
    """Seconds per job the worker's process spends on the CPU beyond the loop ``base``'s: the pause
    of that loop's paused variant."""
    return max(0.0, costs[WORKER].client_ms - costs[base].client_ms) / 1e3


def startup(server: PgServer, reps: int) -> float:
    """Seconds for `python -m jobstore.cli sql DB ROOT` on an empty table: the fixed cost per worker."""
    url = _fill(server, 0)
    env = child_env(experiments=True)
    times = []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(reps):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "jobstore.cli", "sql", url, root], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def latency(server: PgServer, rows: int, samples: int) -> dict[str, tuple[float, float]]:
    """Median and p99 claim latency (ms) with ``rows`` START rows in the table."""
    url = _fill(server, 1)
    dsn = url.split("?")[0]
    with psycopg.connect(dsn, autocommit=True) as conn:  # clone the stored row: fast bulk fill
        conn.execute(f'INSERT INTO "{TABLE}" (status, priority, experiment, state, types, hash) '
                     f'SELECT 0, 1.0, experiment, state, types, md5(g::text) FROM "{TABLE}", '
                     f'generate_series(2, %s) g WHERE id = 1', (rows,))
        conn.execute(f'VACUUM ANALYZE "{TABLE}"')
    out: dict[str, tuple[float, float]] = {}
    with open_db(url) as store:
        ts = []
        for _ in range(samples):
            t = time.perf_counter()
            job = store.claim(worker="bench", host="bench", lease_s=60, max_attempts=3)
            ts.append(time.perf_counter() - t)
            store.finish(job.id, job.attempt, status=DONE, end_reason="completed")
        out["store.claim"] = _stats(ts)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ts = []
        for _ in range(samples):
            t = time.perf_counter()
            (jid,) = conn.execute(REF_CLAIM).fetchone()
            ts.append(time.perf_counter() - t)
            conn.execute(REF_DONE, (jid,))
        out["reference claim"] = _stats(ts)
    server.dropdb(_dbname(dsn))
    return out


INSTR_LOOPS = {"reference": REFERENCE, "storefc": STORE_FC, "ours": WORKER}  # --instructions: kind -> label
INSTR_SMALL = 5  # the smaller counted run drains a fifth of the jobs of the larger


def _instr_child(kind: str, url: str, exproot: str) -> None:
    """In the process callgrind runs: drain the table with the loop ``kind``."""
    if kind == "reference":
        _reference_on(url)
    elif kind == "storefc":
        _store_fc_on(url)
    else:
        _worker_on(url, exproot)


def instructions(server: PgServer, n_jobs: int, tmpfs: str) -> dict[str, float]:
    """Client instructions per job of each loop of INSTR_LOOPS (see the module docstring)."""
    out: dict[str, float] = {}
    # The same hash seed in every run: set and dict iteration orders, and so the work, repeat.
    env = child_env(experiments=True, PYTHONHASHSEED="0")
    small = n_jobs // INSTR_SMALL
    for kind, label in INSTR_LOOPS.items():
        counts = []
        for n in (small, n_jobs):
            url = _fill(server, n)
            try:
                with tempfile.TemporaryDirectory(dir=tmpfs) as exproot:  # removed outside the count
                    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                          sys.executable, os.path.abspath(__file__), "--instr-child", kind, url, exproot],
                                         env=env, capture_output=True, text=True)
                found = re.search(r"Collected : (\d+)", run.stderr)
                if run.returncode != 0 or found is None:
                    raise RuntimeError(f"callgrind run of {kind} failed:\n{run.stderr[-2000:]}")
                counts.append(int(found.group(1)))
            finally:
                server.dropdb(_dbname(url))
        out[label] = (counts[1] - counts[0]) / (n_jobs - small)
    return out


def _stats(ts: list[float]) -> tuple[float, float]:
    ts = sorted(ts)
    return statistics.median(ts) * 1e3, ts[min(len(ts) - 1, int(0.99 * len(ts)))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=3000, help="jobs per throughput run (default 3000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per figure (default 3)")
    ap.add_argument("--workers", default="1,4,16", help="worker counts (default 1,4,16)")
    ap.add_argument("--latency-rows", default="10000,1000000", help="table sizes for the latency test")
    ap.add_argument("--samples", type=int, default=1000, help="claims timed per latency figure")
    ap.add_argument("--no-release-variant", action="store_true", help="skip 'ours, release per job'")
    ap.add_argument("--kinds", default="reference,store,ours,disk,release",
                    help="loops to run, reference first (default reference,store,ours,disk,release; also "
                         "twostmt: the worker with the finish and the next claim as two statements; paused: the "
                         "reference busy between its two statements for the worker's extra CPU per job, measured "
                         "first in one process: what a client computing as much per job reaches with the ideal "
                         "statements; storepaused: the worker's statement alone, store.finish_and_claim, busy for "
                         "the worker's extra CPU per job beyond it: what the worker reaches if its own work cost "
                         "no more than a busy loop)")
    ap.add_argument("--tmpfs", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                    help="where the job directories go for 'ours' (default /dev/shm: RAM)")
    ap.add_argument("--disk", default=tempfile.gettempdir(),
                    help="where they go for 'ours, disk' (default the temp dir)")
    ap.add_argument("--statements", action="store_true",
                    help="run the server with pg_stat_statements and print each loop's statements, server "
                         "execution time and WAL per job (the extension adds its own cost to every loop)")
    ap.add_argument("--instructions", action="store_true",
                    help="only count the client's machine instructions per job of the reference, the worker's "
                         "statement and the worker loop under callgrind (needs valgrind; exact where the rates "
                         "are noisy)")
    ap.add_argument("--instr-jobs", type=int, default=250, help="jobs per counted run (default 250)")
    args = ap.parse_args()
    if args.instructions:
        if shutil.which("valgrind") is None:
            sys.exit("bench_claim.py: --instructions needs valgrind (apt-get install valgrind)")
        if args.instr_jobs < 2 * INSTR_SMALL:
            sys.exit(f"bench_claim.py: --instr-jobs {args.instr_jobs}: need at least {2 * INSTR_SMALL}")
        server = PgServer()
        try:
            counts = instructions(server, args.instr_jobs, args.tmpfs)
        finally:
            server.destroy()
        print(f"client instructions per job (callgrind, runs of {args.instr_jobs} and {args.instr_jobs // INSTR_SMALL} "
              "jobs; thousands):")
        for label, n in counts.items():
            print(f"  {label:<32} {n / 1e3:9.1f}k  {n / counts[REFERENCE]:6.2f}x the reference")
        return
    dirs = {"tmpfs": args.tmpfs, "disk": args.disk}
    server = PgServer({"shared_preload_libraries": STATEMENTS} if args.statements else None)
    try:
        if args.statements:
            server.execute(f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS}")
        print(f"PostgreSQL on 127.0.0.1:{server.port}, {os.cpu_count()} CPUs; {args.jobs} no-op jobs per run, "
              f"median of {args.reps}; Python {sys.version.split()[0]} ({os.path.realpath(sys.executable)})", flush=True)
        kinds = ["reference"] + [k for k in args.kinds.split(",") if k != "reference"
                                 and not (k == "release" and args.no_release_variant)]
        names = {"reference": "reference", "store": "store", "ours": "ours", "disk": "ours,disk",
                 "release": "ours,release/job", "twostmt": "ours,2 statements", "paused": "ref,paused",
                 "storepaused": "store,paused"}
        # Measured first: the paused reference's pause comes from them (printed further down).
        costs = [per_job_costs(server, args.jobs, args.tmpfs) for _ in range(args.reps)]
        pauses = {kind: statistics.median(_worker_extra_s(c, base) for c in costs)
                  for kind, base in (("paused", REFERENCE), ("storepaused", STORE_FC)) if kind in kinds}
        if "paused" in pauses:
            print(f"'ref,paused': the reference busy {pauses['paused'] * 1e3:.3f} ms between its claim and its UPDATE "
                  "(the worker's CPU per job minus the reference's, in one process)")
        if "storepaused" in pauses:
            print(f"'store,paused': store.finish_and_claim busy {pauses['storepaused'] * 1e3:.3f} ms before each "
                  "statement (the worker's CPU per job minus that loop's, in one process)")
        print(f"job directories: 'ours' and 'ours,release/job' under {args.tmpfs}, 'ours,disk' under {args.disk}")
        print(f"\n{'workers':>7} " + " ".join(f"{names[k] + ' jobs/s':>22}" for k in kinds)
              + " " + " ".join(f"{names[k] + '/ref':>18}" for k in kinds[1:]))
        cpu: dict[int, dict[str, list[Run]]] = {}
        for w in (int(x) for x in args.workers.split(",")):
            runs: dict[str, list[Run]] = {k: [] for k in kinds}
            for _ in range(args.reps):  # interleaved: every kind once per repetition
                for k in kinds:
                    runs[k].append(throughput(server, args.jobs, w, k, dirs, args.statements, pauses))
            rates = {k: [r.rate for r in rs] for k, rs in runs.items()}
            cpu[w] = runs
            line = f"{w:>7} " + " ".join(f"{statistics.median(rates[k]):>22.0f}" for k in kinds)
            line += " " + " ".join(f"{statistics.median(r / ref for r, ref in zip(rates[k], rates['reference'])):>18.2f}"
                                   for k in kinds[1:])
            print(line, flush=True)
            if args.reps > 1:  # the spread: how far one repetition's ratio can be from the median
                print(f"{'':>7} each repetition's ratio: " + "; ".join(
                    f"{names[k]} " + " ".join(f"{r / ref:.2f}" for r, ref in sorted(zip(rates[k], rates["reference"]),
                                                                                     key=lambda p: p[0] / p[1]))
                    for k in kinds[1:]), flush=True)
        print("\nCPU per job (ms, median of reps; workers = the forked processes, server = the postmaster "
              "and its backends): with more workers than cores the rate follows the total")
        print(f"{'workers':>7} {'loop':>18} {'workers':>8} {'server':>8} {'total':>8} {'total/ref':>10}")
        for w, runs in cpu.items():
            ref_total = [r.client_ms + r.server_ms for r in runs["reference"]]
            for k, rs in runs.items():
                ratio = statistics.median((r.client_ms + r.server_ms) / t for r, t in zip(rs, ref_total))
                print(f"{w:>7} {names[k]:>18} {statistics.median(r.client_ms for r in rs):8.3f} "
                      f"{statistics.median(r.server_ms for r in rs):8.3f} "
                      f"{statistics.median(r.client_ms + r.server_ms for r in rs):8.3f} {ratio:10.2f}")
        if args.statements:
            print("\nServer side per job (median of reps; execution = pg_stat_statements' execution and planning "
                  "time, a wall time: with more workers than cores it includes time descheduled, and outside = server "
                  "CPU minus execution, the protocol around the statements, is then a lower bound)")
            print(f"{'workers':>7} {'loop':>18} {'statements':>10} {'execution':>10} {'outside':>8} {'WAL bytes':>10}")
            for w, runs in cpu.items():
                for k, rs in runs.items():
                    print(f"{w:>7} {names[k]:>18} {statistics.median(r.statements or 0 for r in rs):10.2f} "
                          f"{statistics.median(r.exec_ms or 0 for r in rs):10.3f} "
                          f"{statistics.median(r.server_ms - (r.exec_ms or 0) for r in rs):8.3f} "
                          f"{statistics.median(r.wal_bytes or 0 for r in rs):10.0f}")
        wmax = max(cpu)
        if wmax > 1 and "ours" in kinds:  # what each process costs once, apart from its jobs
            fixed = {k: [throughput(server, wmax, wmax, k, dirs) for _ in range(args.reps)] for k in ("reference", "ours")}
            print(f"\nCPU of one process draining {wmax} jobs with {wmax} processes (one job each: connection, "
                  "the loop's start, a first job, the end; ms, median of reps):")
            for k, rs in fixed.items():
                print(f"{names[k]:>18}   workers {statistics.median(r.client_ms for r in rs):6.1f}   server "
                      f"{statistics.median(r.server_ms for r in rs):6.1f}")
            extra = statistics.median(f.client_ms + f.server_ms - r.client_ms - r.server_ms
                                      for f, r in zip(fixed["ours"], fixed["reference"]))
            print(f"  the worker's extra, spread over {args.jobs} jobs of {wmax} workers: "
                  f"{extra * wmax / args.jobs:.3f} ms per job of the totals above")
        print("\nper job in one process (ms, median of reps): wall, the process's CPU, the server's CPU")
        for key in costs[0]:
            print(f"  {key:<32} " + " ".join(f"{statistics.median(getattr(c[key], f) for c in costs):7.3f}"
                                             for f in ("wall_ms", "client_ms", "server_ms")))
        print(f"  ('{REF_PAUSED}': busy between its claim and its UPDATE for the worker's CPU per job "
              f"minus the reference's; '{STORE_PAUSED}': busy before each statement for the worker's CPU per job "
              f"minus that of '{STORE_FC}')")
        print(f"\nstart-up of one `jobman sql` process (empty table): {startup(server, args.reps):.2f} s "
              "(excluded from the rates above)", flush=True)
        print(f"\n{'rows':>9} {'store.claim ms p50/p99':>24} {'reference ms p50/p99':>22}", flush=True)
        lat = {}
        for rows in (int(x) for x in args.latency_rows.split(",") if x):
            lat[rows] = latency(server, rows, args.samples)
            s, r = lat[rows]["store.claim"], lat[rows]["reference claim"]
            print(f"{rows:>9} {s[0]:>14.3f} / {s[1]:<7.3f} {r[0]:>12.3f} / {r[1]:<7.3f}", flush=True)
        if len(lat) >= 2:
            small, big = min(lat), max(lat)
            print(f"\nstore.claim p50 at {big} rows / at {small} rows: "
                  f"{lat[big]['store.claim'][0] / lat[small]['store.claim'][0]:.2f}x (target <= 2x)")
    finally:
        server.destroy()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--instr-child"]:
        _instr_child(*sys.argv[2:5])
    else:
        main()
