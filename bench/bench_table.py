"""The tutorial's whole results table through the real path, timed: the 12 jobs scheduled with
``jobman sqlschedules``, N local ``jobman sql -n 0`` workers (2 by default: this machine's cores),
results read back from the table; each row set against the published one.

    .venv/bin/python bench/bench_table.py [--pg] [--workers 2] [--baseline]

``--pg`` runs against a throwaway PostgreSQL server (tests/infra/pgserver.py) and also prints the
tutorial's ``psql`` query on the view; the default is a SQLite file. ``--baseline`` then runs the same
table once more in the same run with ``JOBMAN_SGD_STEP=per-step`` (the per-step SGD the deferred step
replaces) and prints the ratio. Wall time is from the workers' start to the last one's exit; the
per-job minutes are those the jobs recorded (``minutes_trained``). The machine is shared: compare
the two runs of one invocation, not invocations.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import JOBMAN, ROOT, PgServer, child_env

CONF = str(ROOT / "conf" / "mlp_jobman.conf")
EXPERIMENT = "models.mlp_jobman.experiment"
SWEEPS = [["n_iter=1", "n_hidden={{10,20,30}}"],
          ["learning_rate={{0.01,0.05,0.1}}", "n_hidden={{50,100}}"],
          ["learning_rate={{0.05,0.1}}", "n_hidden=150"],
          ["learning_rate=0.02", "n_hidden=50"]]
# (learning_rate, n_hidden, n_iter) -> published (best_validation_loss, test_score): seed-tutorial.txt
PUBLISHED = {(0.05, 100, 50): (0.0202, 0.0216), (0.05, 150, 50): (0.0204, 0.019),
             (0.1, 150, 50): (0.0208, 0.0214), (0.1, 100, 50): (0.0226, 0.0227),
             (0.02, 50, 50): (0.0255, 0.0276), (0.05, 50, 50): (0.0265, 0.0284),
             (0.1, 50, 50): (0.0267, 0.028), (0.01, 100, 50): (0.0267, 0.0272),
             (0.01, 50, 50): (0.0288, 0.0303), (0.01, 30, 1): (0.1173, 0.1187),
             (0.01, 20, 1): (0.1266, 0.1352), (0.01, 10, 1): (0.1491, 0.1563)}
TOLERANCE = {50: 0.004, 1: 0.02}  # the acceptance limits
KEYS = "learning_rate,n_hidden,n_iter,best_validation_loss,test_score,minutes_trained"
PSQL_QUERY = ("select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore "
              "from mlp_dumi_view where jobman_status=2 order by bestvalidationloss;")


def run(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def table(db: str, workdir: Path, workers: int, step: str) -> tuple[float, list[dict[str, str]]]:
    """Schedule the 12 jobs into ``db``, run them with ``workers`` workers; (wall seconds, rows)."""
    for sweep in SWEEPS:
        run(JOBMAN, "sqlschedules", "-q", db, EXPERIMENT, CONF, *sweep)
    run(JOBMAN, "sqlview", "-q", db, "mlp_dumi_view")
    env = child_env(JOBMAN_SGD_STEP=step)
    started = time.perf_counter()
    procs = [subprocess.Popen([JOBMAN, "sql", "-n", "0", db, str(workdir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(workdir / f"worker{i}.err", "w"))
             for i in range(workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        sys.exit(f"a worker failed (exit codes {codes}); see {workdir}/worker*.err")
    out = run(JOBMAN, "export", db, "--status=DONE", f"--keys={KEYS}")
    return wall, list(csv.DictReader(io.StringIO(out)))


def report(name: str, wall: float, rows: list[dict[str, str]]) -> bool:
    print(f"\n{name}: {len(rows)} jobs done, {wall:.1f} s wall, "
          f"{sum(float(r['minutes_trained']) for r in rows) * 60:.1f} s of training in all")
    print(f"{'lr':>5s} {'n_hidden':>8s} {'epochs':>6s} {'valid':>7s} {'published':>9s} {'test':>7s} "
          f"{'published':>9s} {'max dev':>8s} {'minutes':>8s}")
    worst = {50: 0.0, 1: 0.0}
    for r in sorted(rows, key=lambda r: float(r["best_validation_loss"])):
        key = (float(r["learning_rate"]), int(r["n_hidden"]), int(r["n_iter"]))
        valid, test = float(r["best_validation_loss"]), float(r["test_score"])
        pv, pt = PUBLISHED[key]
        dev = max(abs(valid - pv), abs(test - pt))
        worst[key[2]] = max(worst[key[2]], dev)
        print(f"{key[0]:5g} {key[1]:8d} {key[2]:6d} {valid:7.4f} {pv:9.4f} {test:7.4f} {pt:9.4f} {dev:8.4f} "
              f"{float(r['minutes_trained']):8.3f}")
    ok = len(rows) == len(PUBLISHED) and all(worst[e] <= TOLERANCE[e] for e in worst)
    print(f"largest deviation: 50-epoch rows {worst[50]:.4f} (limit {TOLERANCE[50]}), 1-epoch rows "
          f"{worst[1]:.4f} (limit {TOLERANCE[1]}): {'within' if ok else 'OUTSIDE'} the limits")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL server instead of SQLite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", action="store_true", help="also run with JOBMAN_SGD_STEP=per-step")
    args = parser.parse_args()
    steps = ["auto"] + (["per-step"] if args.baseline else [])
    server = None
    tmp = Path(tempfile.mkdtemp(prefix="bench_table."))
    try:
        if args.pg:
            server = PgServer()
        walls, ok = {}, True
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {args.workers} workers, "
              f"{'PostgreSQL' if server else 'SQLite'}")
        for step in steps:
            workdir = tmp / step
            workdir.mkdir()
            if server is not None:
                db = server.url(server.createdb(f"bench_{step.replace('-', '_')}"), "mlp_dumi")
            else:
                db = f"sqlite:///{workdir}/jobs.db?table=mlp_dumi"
            walls[step], rows = table(db, workdir, args.workers, step)
            ok = report(f"JOBMAN_SGD_STEP={step}", walls[step], rows) and ok
            if server is not None and shutil.which("psql") and step == steps[0]:
                dbname = db.rsplit("/", 1)[1].split("?")[0]
                print("\n$ psql -c '" + PSQL_QUERY + "'")
                print(run("psql", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", dbname,
                          "-c", PSQL_QUERY), end="")
        if args.baseline:
            print(f"\nwall time, deferred (auto) / per-step: {walls['auto']:.1f} s / {walls['per-step']:.1f} s = "
                  f"{walls['auto'] / walls['per-step']:.2f}x")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
