"""The ``jobman`` commands end to end on PostgreSQL, each next to a baseline measured in the same
run on the same server:

* ``jobman sqlschedules -q`` of a 100,000-job sweep (a conf file, a 1000 x 100 ``{{}}`` grid and a
  ``:=`` random draw per job), run as a real process (start-up, import of the experiment, parsing,
  expansion, insertion), beside ``Store.insert_jobs`` of the same number of pre-built states
  (the store alone).
* ``jobman sqlstatus --ret_nb_jobs --status=START`` and the tutorial's query on a view, on a
  1,000,000-row table (1% of it DONE with results), beside the plain ``select count(*)`` through
  psycopg; the command's time includes the interpreter's start-up, also shown alone.

    .venv/bin/python bench/bench_commands.py [--jobs 100000] [--rows 1000000] [--repeat 3]

Figures are medians of ``--repeat`` runs; the machine is shared, so they are noisy. Targets
(issue 2): scheduling >= 30,000 jobs/s; the count and the view query under 1 s each."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg
from benchlib import JOBMAN, PgServer, child_env

from jobstore.status import DONE, EndReason
from jobstore.store import open_db

EXP = "tutorial_exp.experiment"
CONF = "learning_rate=0.01\nL1_reg=0.00\nL2_reg=0.0001\nn_iter=50\nbatch_size=20\nn_hidden=10\n"
QUERY = ("select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore "
         "from bench_view where jobman_status=2 order by bestvalidationloss")


def timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=child_env(experiments=True), capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
    return dt, p.stdout.strip()


def sweep_args(jobs: int) -> list[str]:
    a = 1000 if jobs >= 1000 else jobs
    b = max(1, jobs // a)
    return ["mlp_jobman.conf", "n_hidden={{" + ",".join(map(str, range(1, a + 1))) + "}}",
            "batch_size={{" + ",".join(map(str, range(1, b + 1))) + "}}",
            "learning_rate:=@numpy.random.uniform(1e-6, 1e-1)"]


def states(n: int, offset: int = 0) -> list[dict]:
    return [{"learning_rate": 0.01, "L1_reg": 0.0, "L2_reg": 0.0001, "n_iter": 50, "batch_size": 20,
             "n_hidden": offset + i, "jobman.experiment": EXP} for i in range(n)]


def bench_schedule(server: PgServer, db: str, work: str, jobs: int, repeat: int) -> None:
    cli, store = [], []
    for i in range(repeat):
        dt, out = timed([JOBMAN, "sqlschedules", "-q", server.url(db, f"cli{i}"), EXP, *sweep_args(jobs)], work)
        n = int(out.split()[1])
        cli.append(n / dt)
        with open_db(server.url(db, f"store{i}")) as s:
            pre = states(n)
            t0 = time.perf_counter()
            s.insert_jobs(pre)
            store.append(n / (time.perf_counter() - t0))
    c, s = statistics.median(cli), statistics.median(store)
    print(f"scheduling {n:,} jobs, median of {repeat}:")
    print(f"  jobman sqlschedules -q (whole process) {c:10,.0f} jobs/s  ({c / s:.2f}x the store alone)")
    print(f"  Store.insert_jobs (baseline)          {s:10,.0f} jobs/s")
    print(f"  target >= 30,000 jobs/s: {'met' if c >= 30_000 else 'NOT met'}")


def fill(url: str, rows: int) -> None:
    chunk = 100_000
    with open_db(url) as s:
        for off in range(0, rows, chunk):
            s.insert_jobs(states(min(chunk, rows - off), off))
        s.create_view("bench_view")
        for i in range(rows // 100):  # 1% finished, with the tutorial's result keys
            job = s.claim(worker="bench", host="localhost", lease_s=600, max_attempts=3)
            st = dict(job.state, best_validation_loss=0.02 + (i % 977) / 1e4, test_score=0.03,
                      minutes_trained=1.5, iter=500)
            s.finish(job.id, job.attempt, status=DONE, end_reason=EndReason.COMPLETED, state=st)


def bench_count(server: PgServer, db: str, work: str, rows: int, repeat: int) -> None:
    url = server.url(db, "big")
    t0 = time.perf_counter()
    fill(url, rows)
    print(f"\n{rows:,}-row table filled in {time.perf_counter() - t0:.0f} s")
    cmd_t, start_t, raw_t, view_t = [], [], [], []
    for _ in range(repeat):
        dt, out = timed([JOBMAN, "sqlstatus", "--ret_nb_jobs", "--status=START", url], work)
        assert int(out) == rows - rows // 100, out
        cmd_t.append(dt)
        start_t.append(timed([sys.executable, "-c", "import jobstore.cli, jobstore.cli.sqlstatus, psycopg"], work)[0])
        with psycopg.connect(server.dsn(db)) as c:
            t0 = time.perf_counter()
            c.execute("select count(*) from big where status = 0").fetchone()
            raw_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            got = c.execute(QUERY).fetchall()
            view_t.append(time.perf_counter() - t0)
            assert len(got) == rows // 100
    med = statistics.median
    print(f"on {rows:,} rows, median of {repeat}:")
    print(f"  jobman sqlstatus --ret_nb_jobs --status=START  {med(cmd_t):.3f} s "
          f"(of which interpreter + imports {med(start_t):.3f} s)")
    print(f"  plain select count(*) ... where status = 0   {med(raw_t):.3f} s (baseline; "
          f"command / baseline = {med(cmd_t) / med(raw_t):.1f}x)")
    print(f"  the tutorial's query on the view ({rows // 100:,} DONE rows)  {med(view_t):.3f} s")
    print(f"  target < 1 s each: count {'met' if med(cmd_t) < 1 else 'NOT met'}, "
          f"view query {'met' if med(view_t) < 1 else 'NOT met'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server = PgServer()
    try:
        db = server.createdb("bench")
        with tempfile.TemporaryDirectory() as work:
            with open(os.path.join(work, "mlp_jobman.conf"), "w") as f:
                f.write(CONF)
            print("2-core shared machine: figures are noisy\n")
            bench_schedule(server, db, work, args.jobs, args.repeat)
            bench_count(server, db, work, args.rows, args.repeat)
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
