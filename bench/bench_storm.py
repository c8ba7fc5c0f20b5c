"""A start-up storm: hundreds of real ``jobman sql -n 0`` processes released onto a server that
admits 50 connections, draining a table of short jobs. Every worker must exit 0 and every job run
exactly once.

    .venv/bin/python bench/bench_storm.py [--workers 500] [--jobs 2000] [--max-connections 50]

The workers are started, each waits at a gate (``tests/experiments/storm_gate.py``, imported before
the worker contacts the database) until all have started, then all are released within
milliseconds. 500 Python processes need more memory than a small machine has: the resident
memory of a few workers at the gate is measured first, and the storm runs the largest N up to
``--workers`` that fits in 80% of MemAvailable (said in the output when it is fewer).
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import PgServer, child_env

from jobstore.status import DONE
from jobstore.store import open_db
from tests.helpers.worker import insert, wait_for, worker_cmd

MEMORY_SHARE = 0.8  # of MemAvailable, for the workers


def mem_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(n: int, url: str, exproot: str, gate: Path) -> list[subprocess.Popen[str]]:
    env = child_env(experiments=True, JOBMAN_TEST_GATE=str(gate))
    return [subprocess.Popen(worker_cmd(url, exproot, "-n", "0", "--import", "storm_gate"), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(n)]


def rss_per_worker_kb(url: str, sample: int) -> float:
    """Mean RSS of ``sample`` workers waiting at the gate (imports done, no connection yet)."""
    with tempfile.TemporaryDirectory() as tmp:
        gate = Path(tmp) / "gate"
        gate.mkdir()
        procs = start(sample, url, str(Path(tmp) / "exp"), gate)
        wait_for(lambda: len(list(gate.glob("ready.*"))) == sample, 120, "the sample at the gate")
        time.sleep(0.5)
        rss = [rss_kb(p.pid) for p in procs]
        for p in procs:
            p.kill()
            p.wait()
    return sum(rss) / len(rss)


def storm(server: PgServer, n_workers: int, n_jobs: int, job_s: float) -> None:
    url = server.url(server.createdb(), "jobs")
    with tempfile.TemporaryDirectory() as tmp:
        log, gate = Path(tmp) / "runs.log", Path(tmp) / "gate"
        gate.mkdir()
        ids = insert(url, "record", [{"log_path": str(log), "sleep_s": job_s, "i": i} for i in range(n_jobs)])
        t0 = time.monotonic()
        procs = start(n_workers, url, str(Path(tmp) / "exp"), gate)
        wait_for(lambda: len(list(gate.glob("ready.*"))) == n_workers, 900, "every worker at the gate")
        print(f"{n_workers} workers started and at the gate in {time.monotonic() - t0:.1f} s; released", flush=True)
        t1 = time.monotonic()
        (gate / "go").touch()
        results = [(p.wait(timeout=1800), p.stderr.read() if p.stderr else "") for p in procs]
        drained_s = time.monotonic() - t1
        runs = collections.Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    with open_db(url) as db:
        done = db.count(statuses=[DONE])
    failed = [(rc, err.strip().splitlines()[-1:] if err else "") for rc, err in results if rc != 0]
    waited = sum(1 for _, err in results if "refuses connections" in err)
    once = set(runs) == set(ids) and set(runs.values()) == {1}
    print(f"drained {n_jobs} jobs of {job_s:g} s in {drained_s:.1f} s; {done} DONE; every job exactly once: {once}; "
          f"workers exit 0: {n_workers - len(failed)} of {n_workers}; {waited} waited at the connection limit")
    if failed:
        print(f"first failure: {failed[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=500, help="worker processes (default 500)")
    ap.add_argument("--jobs", type=int, default=2000, help="jobs in the table (default 2000)")
    ap.add_argument("--job-s", type=float, default=0.05, help="length of a job (default 0.05 s)")
    ap.add_argument("--max-connections", type=int, default=50, help="the server's max_connections (default 50)")
    ap.add_argument("--sample", type=int, default=5, help="workers whose RSS is measured first (default 5)")
    args = ap.parse_args()
    server = PgServer(settings={"max_connections": str(args.max_connections)})
    try:
        per_kb = rss_per_worker_kb(server.url(server.createdb(), "jobs"), args.sample)
        avail_kb = mem_available_kb()
        fits = int(avail_kb * MEMORY_SHARE // per_kb)
        n = min(args.workers, fits)
        print(f"PostgreSQL max_connections={args.max_connections}; one worker at the gate: {per_kb / 1024:.0f} MiB RSS; "
              f"{args.workers} workers need {args.workers * per_kb / 2**20:.1f} GiB, MemAvailable "
              f"{avail_kb / 2**20:.1f} GiB: {'running all' if n == args.workers else f'running {n}, the most that fit'}",
              flush=True)
        storm(server, n, args.jobs, args.job_s)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
