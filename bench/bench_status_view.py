"""Queries on a 1,000,000-row job table in PostgreSQL: counting START jobs (through the store and
through ``jobman sqlstatus --ret_nb_jobs --status=START``), the tutorial's view query, and the
claim latency at 10,000 versus 1,000,000 rows.

    .venv/bin/python bench/bench_status_view.py [--rows 1000000] [--repeat 5]

The table is built fast: one job through ``insert_jobs`` (so the key registry and the view know
every key), the rest generated server-side with ``generate_series``; 10% are DONE with results.
Each figure is the median of ``--repeat`` runs, next to its baseline measured in the same run
(a plain ``SELECT count(*)`` with psycopg; the same view query on a 10,000-row table). Targets
(issue 2): the count and the view query under 1 s; (issue 3) claim latency within 2x."""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

import psycopg
from benchlib import JOBMAN, PgServer

from jobstore.status import DONE, START
from jobstore.store import open_db

VIEW_QUERY = ("select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore "
              "from {view} where jobman_status=2 order by bestvalidationloss")
TARGET_S = 1.0

FILL = """
INSERT INTO {table} (status, priority, experiment, state, hash, copy)
SELECT CASE WHEN g %% 10 = 0 THEN 2 ELSE 0 END, 1.0, 'models.mlp_jobman.experiment',
       jsonb_build_object('n_iter', 10, 'learning_rate', 0.1 / (1 + g %% 97), 'n_hidden', 10 + g %% 500,
                          'batch_size', 20, 'L1_reg', 0.0, 'L2_reg', 0.0001)
       || CASE WHEN g %% 10 = 0 THEN jsonb_build_object(
            'best_validation_loss', (g %% 7919) / 7919.0, 'test_score', (g %% 7907) / 7907.0,
            'minutes_trained', 1.5, 'iter', 10) ELSE '{{}}'::jsonb END,
       md5(g::text) || md5((g + 1)::text), 0
FROM generate_series(2, %(rows)s) AS g
"""


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(server: PgServer, db: str, table: str, rows: int) -> str:
    url = server.url(db, table)
    with open_db(url) as store:
        store.insert_jobs([{"jobman.experiment": "models.mlp_jobman.experiment", "n_iter": 10, "learning_rate": 0.01,
                            "n_hidden": 1, "batch_size": 20, "L1_reg": 0.0, "L2_reg": 0.0001,
                            "best_validation_loss": 0.5, "test_score": 0.5, "minutes_trained": 1.5, "iter": 10}])
        store.create_view(f"{table}_view")
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute(FILL.format(table=table), {"rows": rows})
        conn.execute(f"UPDATE {table} SET status = {DONE} WHERE id = 1")
    return url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    server = PgServer()
    try:
        db = server.createdb("bench")
        t0 = time.perf_counter()
        big = build(server, db, "big", args.rows)
        small = build(server, db, "small", args.small)
        print(f"built {args.rows:,} + {args.small:,} rows in {time.perf_counter() - t0:.1f} s "
              "(2-core shared machine: figures are noisy)")
        jobman = JOBMAN if shutil.which(JOBMAN) else None
        with open_db(big) as store, psycopg.connect(server.dsn(db), autocommit=True) as conn:
            for phase in ("just loaded", "after VACUUM ANALYZE"):
                if phase != "just loaded":
                    conn.execute("VACUUM ANALYZE big")
                    conn.execute("VACUUM ANALYZE small")
                print(f"-- {phase}")
                n = store.count(statuses=[START])
                raw = median_time(lambda: conn.execute(f"SELECT count(*) FROM big WHERE status = {START}").fetchone(),
                                  args.repeat)
                ours = median_time(lambda: store.count(statuses=[START]), args.repeat)
                print(f"  count(START) = {n:,}: store {ours * 1000:7.1f} ms   plain SQL {raw * 1000:7.1f} ms")
                if jobman:
                    cmd = [jobman, "sqlstatus", "--ret_nb_jobs", "--status=START", big]
                    out = subprocess.run(cmd, capture_output=True, text=True)
                    cli = median_time(lambda c=cmd: subprocess.run(c, capture_output=True, check=True), args.repeat)
                    start = median_time(lambda: subprocess.run([jobman, "--help"], capture_output=True), args.repeat)
                    print(f"  jobman sqlstatus --ret_nb_jobs --status=START: {cli * 1000:7.1f} ms "
                          f"(prints {out.stdout.strip()[:20]!r}; `jobman --help` alone {start * 1000:.0f} ms)")
                for limit in ("", " limit 10"):
                    q_big = VIEW_QUERY.format(view="big_view") + limit
                    q_small = VIEW_QUERY.format(view="small_view") + limit
                    nrows = len(conn.execute(q_big).fetchall())
                    tb = median_time(lambda q=q_big: conn.execute(q).fetchall(), args.repeat)
                    ts = median_time(lambda q=q_small: conn.execute(q).fetchall(), args.repeat)
                    print(f"  view query{limit or ' (all DONE rows)'}: {nrows:,} rows in {tb * 1000:7.1f} ms "
                          f"(same query on {args.small:,} rows: {ts * 1000:.1f} ms)")
        print("-- claim latency (reap + claim, one job each, median of 200)")
        lat = {}
        for name, url in (("small", small), ("big", big)):
            with open_db(url) as store:
                store.claim(worker="warm", host="bench", lease_s=600, max_attempts=3)
                times = []
                for _ in range(200):
                    t0 = time.perf_counter()
                    store.claim(worker="bench", host="bench", lease_s=600, max_attempts=3)
                    times.append(time.perf_counter() - t0)
                lat[name] = statistics.median(times)
        print(f"  {args.small:,} rows: {lat['small'] * 1000:.2f} ms   {args.rows:,} rows: {lat['big'] * 1000:.2f} ms "
              f"  ratio {lat['big'] / lat['small']:.2f} (target <= 2)")
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
