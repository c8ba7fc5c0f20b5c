"""How the dashboard holds up on a big table: 100,000 jobs and 1,000,000 metric points on a
throwaway PostgreSQL server (benchlib's PgServer).

Prints, for the dashboard's own HTTP server in this process:
- time to first view: every request the page makes when it opens (page, assets, config and each
  view), one after the other, as a cold browser would (they are served one at a time anyway);
- each view's time per refresh (median of REPEATS requests) and the whole live refresh (the
  views the page polls every interval), end to end through HTTP: an upper bound on its database time;
- the results table sorted or filtered by a state key: its first view, its refresh while nothing
  is written and while a busy sweep writes (BUSY_ROWS rows within the refresh's clock margin),
  beside the default page's refresh;
- the database time of each refresh statement alone (EXPLAIN ANALYZE's execution time), and of
  the statement that served a sorted page before (the database sorting the whole table);
- the baseline from the same run: what loading the whole table (``store.jobs()``, what a page
  without server-side paging would do) costs.

    python bench/bench_dashboard.py [--jobs 100000] [--points 1000000]
"""
from __future__ import annotations

import argparse
import http.client
import statistics
import threading
import time

import benchlib

from jobstore.report.dashboard.api import Api
from jobstore.report.dashboard.server import make_server
from jobstore.store import open_db

REPEATS = 15
METRICS = ("validation_error", "test_score")
FIRST_VIEW = ["/", "/app.js", "/app.css", "/uPlot.iife.min.js", "/uPlot.min.css", "/api/config",
              "/api/overview", "/api/running", "/api/jobs?offset=0&sort=id&desc=0", "/api/params", "/api/errors"]
REFRESH = ["/api/overview?since=%(since)s", "/api/running", "/api/jobs?offset=0&sort=id&desc=0",
           "/api/metric_names?ids=1,2,3,4,5", "/api/curves?ids=1,2,3,4,5&name=validation_error",
           "/api/searches?after=%(search_after)s"]
# the searches' trials read in full: every 4th interval
EXTRA = ["/api/jobs?offset=50000&sort=id&desc=0", "/api/searches?after=0"]
SEARCH_TRIALS = 1000  # the first jobs, as the trials of one search
# the results table sorted or filtered by a state key: polled like the default page while shown
SORTED = ["/api/jobs?offset=0&sort=best_validation_loss&desc=0", "/api/jobs?offset=0&sort=learning_rate&desc=1&status=DONE",
          "/api/jobs?offset=0&sort=id&desc=0&where=n_hidden=30", "/api/jobs?offset=40000&sort=seed&desc=1"]
SORTED_BY_KEY = ("((state ->> 'best_validation_loss')::double precision) IS NULL, "
                 "((state ->> 'best_validation_loss')::double precision) ASC, id ASC")
BUSY_ROWS = 2000  # rows written within the refresh's clock margin: 1,000 workers heartbeating every 60 s


def populate(url: str, n_jobs: int, n_points: int, conninfo: dict) -> None:
    """n_jobs jobs (90% DONE with results, ended over the last hour, 50 RUNNING, 1% ERR_RUN, the
    rest START) and n_points metric points (50 epochs x 2 metrics for the first DONE jobs)."""
    import psycopg

    t0 = time.perf_counter()
    with open_db(url) as db:
        db.insert_jobs({"jobman.experiment": "models.mlp_jobman.experiment", "learning_rate": 10 ** (-5 + 4 * i / n_jobs),
                        "n_hidden": 10 * (1 + i % 8), "seed": i, "best_validation_loss": 1.0, "test_score": 1.0}
                       for i in range(n_jobs))  # the result keys registered (and typed) as a finish would
    register_search(url)
    per_job = 50 * len(METRICS)
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute("""UPDATE jobs SET status = 2, attempt = 1, host = 'node' || (id %% 40),
                       started = now() - (id %% 3600) * interval '1 second' - interval '1 hour',
                       ended = now() - (id %% 3600) * interval '1 second',
                       state = state || jsonb_build_object('best_validation_loss', 0.02 + random() / 10,
                                                           'test_score', 0.02 + random() / 10)
                     WHERE id <= %s""", (int(n_jobs * 0.9),))
        c.execute("UPDATE jobs SET state = state - 'best_validation_loss' - 'test_score' WHERE id > %s",
                  (int(n_jobs * 0.9),))
        c.execute("""UPDATE jobs SET status = 5, error = 'Traceback (most recent call last):\n  ...\nValueError: boom',
                       ended = now(), end_reason = 'error' WHERE id > %s AND id <= %s""",
                  (int(n_jobs * 0.9), int(n_jobs * 0.91)))
        c.execute("""UPDATE jobs SET status = 1, attempt = 1, host = 'gpu1', started = now(), updated = now(),
                       lease_until = now() + interval '1 minute',
                       state = state || '{"epoch": 3, "n_iter": 10}' WHERE id > %s AND id <= %s""",
                  (int(n_jobs * 0.91), int(n_jobs * 0.91) + 50))
        c.execute("""INSERT INTO jobs__metrics (job, attempt, name, step, value, time)
                     SELECT j, 1, m, e, 1.0 / (e + 1) + random() / 100, now()
                     FROM generate_series(1, %s) AS j, generate_series(0, 49) AS e,
                          unnest(%s::text[]) AS m""", (max(1, n_points // per_job), list(METRICS)))
        # a sweep scheduled two hours ago: every write set updated (a finish at its end, the
        # running jobs' heartbeats now), the waiting jobs were never written since their insert
        c.execute("""UPDATE jobs SET created = now() - interval '2 hours',
                       updated = CASE WHEN status = 1 THEN now() WHEN ended IS NOT NULL THEN ended
                                      ELSE now() - interval '2 hours' END""")
        c.execute("VACUUM ANALYZE jobs")
        c.execute("VACUUM ANALYZE jobs__metrics")
        (n,) = c.execute("SELECT count(*) FROM jobs__metrics").fetchone()
    print(f"table: {n_jobs} jobs, {n} metric points (filled in {time.perf_counter() - t0:.1f} s)")


def register_search(url: str) -> None:
    """A search whose trials are the first SEARCH_TRIALS jobs (linked as a worker's claim would)."""
    from jobstore.store.searches import Search

    with open_db(url) as db:
        search = db.searches().register(Search(
            name="bench", experiment="models.mlp_jobman.experiment", space=[], fixed={}, sampler="tpe",
            objective="best_validation_loss", direction="minimize", budget=SEARCH_TRIALS))
        db.db.run("link", lambda c: c.execute(  # type: ignore[attr-defined]
            "INSERT INTO jobs__search_jobs (job_id, search_id) SELECT id, %s FROM jobs WHERE id <= %s",
            (search.id, SEARCH_TRIALS)))


def get(conn: http.client.HTTPConnection, path: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status}")
    return time.perf_counter() - t0


def explain_ms(conninfo: dict, sql: str, params: dict) -> float:
    import psycopg

    with psycopg.connect(**conninfo, autocommit=True) as c:
        plan = c.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0]
    return float(plan[0]["Execution Time"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    server_pg = benchlib.PgServer()
    try:
        name = server_pg.createdb()
        url = server_pg.url(name, "jobs")
        store = open_db(url)
        conninfo = store.url.conninfo()  # type: ignore[attr-defined]
        populate(url, args.jobs, args.points, conninfo)
        run(store, conninfo)
    finally:
        server_pg.destroy()


def touch(conninfo: dict, n: int) -> None:
    """Write ``n`` DONE jobs as a live sweep would (a new result, ``updated`` now)."""
    import psycopg

    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute("""UPDATE jobs SET updated = now(), state = state || jsonb_build_object('best_validation_loss', random() / 10)
                     WHERE id IN (SELECT id FROM jobs WHERE status = 2 ORDER BY random() LIMIT %s)""", (n,))


def sorted_refresh(conn: http.client.HTTPConnection, conninfo: dict) -> None:
    """The results table sorted or filtered by a state key: its first view (the sorted ids read
    once), its refresh as the sweep left it (the jobs ended in the last 30 s read again), and its
    refresh during a busy sweep (BUSY_ROWS rows given a new result within the margin, and 20
    more before each refresh)."""
    print(f"\nresults table sorted/filtered by a state key (median of {REPEATS}; the default page beside it):")
    default = statistics.median(get(conn, "/api/jobs?offset=0&sort=id&desc=0") for _ in range(REPEATS))
    print(f"  {default * 1000:7.1f} ms  default page (sort=id), refresh")
    first = {p: get(conn, p) for p in SORTED}
    quiet = {p: statistics.median(get(conn, p) for _ in range(REPEATS)) for p in SORTED}
    touch(conninfo, BUSY_ROWS)
    busy: dict[str, list[float]] = {p: [] for p in SORTED}
    for _ in range(REPEATS):
        touch(conninfo, 20)
        for p in SORTED:
            busy[p].append(get(conn, p))
    for p in SORTED:
        print(f"  {first[p] * 1000:7.1f} ms first view, {quiet[p] * 1000:5.1f} ms refresh, "
              f"{statistics.median(busy[p]) * 1000:5.1f} ms refresh while {BUSY_ROWS}+ rows written  {p}")


def run(store: object, conninfo: dict) -> None:
    server = make_server(Api(store, read_only=True), "127.0.0.1", 0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port))
    first = [(p, get(conn, p)) for p in FIRST_VIEW]
    print(f"\ntime to first view (cold, {len(first)} requests in sequence): {sum(t for _, t in first) * 1000:.0f} ms")
    for p, t in first:
        print(f"  {t * 1000:7.1f} ms  {p}")
    print(f"\nper refresh, median of {REPEATS} (HTTP end to end, includes the database):")
    total = 0.0
    since = (time.time() // 60 - 1) * 60  # the page's last known timeline bucket
    # the page asks for the trials from its oldest unfinished one on: none here
    refresh = [p % {"since": since, "search_after": SEARCH_TRIALS} for p in REFRESH]
    for p in refresh + EXTRA:
        med = statistics.median(get(conn, p) for _ in range(REPEATS))
        total += med if p in refresh else 0.0
        what = "   (every 4th interval)" if p.startswith("/api/searches") else "   (on demand, not polled)"
        print(f"  {med * 1000:7.1f} ms  {p}{'' if p in refresh else what}")
    print(f"  {total * 1000:7.1f} ms  one live refresh (the polled views above)")
    sorted_refresh(conn, conninfo)
    print("\ndatabase execution time (EXPLAIN ANALYZE) of the polled statements:")
    sql = store.sql  # type: ignore[attr-defined]
    key_expr = "(state ->> 'best_validation_loss')::double precision"
    for name, params, frag, label in [
        ("count_by_status", {}, {}, ""),
        ("board_timeline", {"bucket_s": 60.0, "since": time.time() - 60, "limit": 2000}, {}, ""),
        ("board_running", {"limit": 200}, {}, ""), ("count", {}, {"where": "true"}, ""),
        ("board_page", {"limit": 50, "offset": 0}, {"where": "true", "order": '"id" ASC'}, ""),
        ("metric_series", {"ids": [1, 2, 3, 4, 5], "name": "validation_error"}, {}, ""),
        ("board_sorted_rows", {"since": time.time() - 33, "after_id": 100_000_000}, {"where": "true", "expr": key_expr},
         "  (sorted by a key: the rows written in the last 33 s, busy sweep)"),
        ("board_rows_by_id", {"ids": list(range(1, 51))}, {}, "  (sorted by a key: the page's rows)"),
        ("search_trials", {"after": SEARCH_TRIALS, "limit": 5000}, {}, "  (searches: from the oldest unfinished trial)"),
        ("search_trials", {"after": 0, "limit": 5000}, {}, f"  (searches: all {SEARCH_TRIALS} trials, every 4th interval)"),
        ("board_page", {"limit": 50, "offset": 0}, {"where": "true", "order": SORTED_BY_KEY},
         "  (sorted by a key, before: the database sorting the table each refresh)"),
    ]:
        text = sql.q[name]
        for k, v in frag.items():
            text = text.replace("{" + k + "}", v)
        print(f"  {statistics.median(explain_ms(conninfo, text, params) for _ in range(5)):7.2f} ms  {name}{label}")
    t0 = time.perf_counter()
    n = len(store.jobs())  # type: ignore[attr-defined]
    print(f"\nbaseline, same run: loading the whole table (store.jobs(), {n} jobs): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
