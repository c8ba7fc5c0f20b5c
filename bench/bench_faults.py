"""Faults during a sweep: N real ``jobman sql -n 0`` workers drain M short jobs on a private
PostgreSQL cluster while the bench restarts the database, SIGKILLs workers (and starts
replacements), inserts poison rows (a JSON array as the state, a bad tag in ``types``) and fills one
worker's EXPROOT (a small tmpfs). It prints what came of it beside a fault-free baseline run of the
same size, in the same process:

    .venv/bin/python bench/bench_faults.py [--workers 8] [--jobs 200] [--seed 1]

- **jobs done / lost**: lost = a scheduled job not DONE at the end (poison rows counted apart:
  they should end ERR_START);
- **runs** from the experiment's own log (``tests/experiments/fault_bench_exp.py``: a line when a
  run starts and when it ends, with the job id, attempt and pid): a job run again after its worker
  was SIGKILLed is a legitimate re-run; two runs of one job that overlap in time (the second
  started before the first ended or its process was killed) are a fencing failure;
- **workers**: exit 0, SIGKILLed by the bench, stopped for a node fault (the full EXPROOT: exit 1
  with 'stopped:'), or crashed (anything else, or a traceback on stderr).

The full EXPROOT needs ``mount -t tmpfs`` (root); without it that fault is skipped with a note.
A run takes about a minute on two busy cores.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from benchlib import PgServer, child_env

from jobstore.status import DONE, Status
from jobstore.store import open_db
from tests.helpers.mounts import MountError, tmpfs
from tests.helpers.mounts import fill as fill_disk
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, worker_cmd

EXPERIMENT = "fault_bench_exp.logged"
LEASE_S, HEARTBEAT_S = 8, 2  # short, so that a killed worker's job comes back within the run
TIME_LIMIT_S = 150.0  # workers still running then are stopped and reported
DISK_KB = 512


@dataclass
class Worker:
    proc: subprocess.Popen
    role: str  # "worker", "replacement", "disk"
    err_path: str
    killed_at: float | None = None


@dataclass
class Fleet:
    """The worker processes of one run, their logs under ``logdir``."""

    url: str
    env: dict[str, str]
    logdir: str
    rng: random.Random
    workers: list[Worker] = field(default_factory=list)

    def start(self, exproot: str, role: str = "worker") -> Worker:
        err_path = os.path.join(self.logdir, f"worker-{len(self.workers)}.err")
        cmd = worker_cmd(self.url, exproot, "-n", "0", "-q", "--lease", str(LEASE_S),
                         "--heartbeat", str(HEARTBEAT_S))
        with open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=err)
        w = Worker(proc, role, err_path)
        self.workers.append(w)
        return w

    def alive(self, role: str | None = None) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None and (role is None or w.role == role)]

    def kill_some(self, n: int, exproot: str, log: str) -> str:
        """SIGKILL ``n`` live workers (not the disk worker; those in the middle of a job first, as
        the experiment's ``log`` tells) and start as many replacements."""
        running = {r.pid for runs in read_runs(log).values() for r in runs if r.end is None}
        candidates = sorted((w for w in self.alive() if w.role != "disk"), key=lambda w: w.proc.pid not in running)
        candidates = [w for w in candidates if w.proc.pid in running] or candidates
        victims = self.rng.sample(candidates, k=min(n, len(candidates)))
        for w in victims:
            w.killed_at = time.time()
            w.proc.send_signal(signal.SIGKILL)
            w.proc.wait()
            self.start(exproot, "replacement")
        return f"SIGKILLed {len(victims)} worker(s) (pids {', '.join(str(w.proc.pid) for w in victims)}), replaced"

    def wait(self, deadline: float) -> int:
        """Wait for every worker to end by ``deadline`` (time.time()); stop the rest: how many."""
        late = 0
        for w in self.workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                late += 1
                w.proc.kill()
                w.proc.wait()
        return late


@contextlib.contextmanager
def small_tmpfs(path: str) -> Iterator[str | None]:
    """A DISK_KB tmpfs at ``path`` (None, with a note, where mount is refused)."""
    try:
        with tmpfs(path, f"size={DISK_KB}k,mode=0700") as root:
            yield root
    except MountError as e:
        print(f"note: {e}: the full-disk fault is skipped")
        yield None


def fill(path: str) -> str:
    fill_disk(path)
    return f"filled the disk worker's EXPROOT ({DISK_KB} kB tmpfs)"


def poison(url: str, log: str, n: int) -> tuple[list[int], str]:
    """Insert ``n`` jobs and damage them as a user with psql could: half get a JSON array as their
    state, half a bad tag in ``types``."""
    ids = insert(url, EXPERIMENT, [{"seconds": 0.1, "log_path": log, "poison": i} for i in range(n)])
    for k, job in enumerate(ids):
        if k % 2 == 0:
            raw_query(url, "UPDATE jobs SET state = %s::jsonb WHERE id = %s", ("[1, 2]", job))
        else:
            raw_query(url, "UPDATE jobs SET types = %s::jsonb WHERE id = %s", ('{"seconds": "zz"}', job))
    return ids, f"inserted {n} poison rows (ids {', '.join(map(str, ids))})"


@dataclass
class Run:
    """A run of one job, from the experiment's log."""

    job: int
    attempt: int
    pid: int
    start: float
    end: float | None = None


def read_runs(log: str) -> dict[int, list[Run]]:
    runs: dict[tuple[int, int, int], Run] = {}
    if not os.path.exists(log):
        return {}
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5:
                continue
            key = (int(parts[1]), int(parts[2]), int(parts[3]))
            if parts[0] == "start":
                runs[key] = Run(*key, start=float(parts[4]))
            elif key in runs:
                runs[key].end = float(parts[4])
    by_job: dict[int, list[Run]] = collections.defaultdict(list)
    for r in sorted(runs.values(), key=lambda r: r.start):
        by_job[r.job].append(r)
    return by_job


def tally_runs(by_job: dict[int, list[Run]], killed: dict[int, float]) -> dict[str, int]:
    """Re-runs after a kill, other re-runs, jobs run twice while a run was alive, repeated attempts."""
    counts = collections.Counter[str]()
    for runs in by_job.values():
        counts["runs"] += len(runs)
        overlapped = False
        for i, later in enumerate(runs[1:], start=1):
            before = runs[i - 1]
            counts["re-run after a kill" if before.end is None and before.pid in killed else "re-run otherwise"] += 1
            for r in runs[:i]:
                alive_until = r.end if r.end is not None else killed.get(r.pid, float("inf"))
                overlapped |= later.start < alive_until
        counts["run twice while a run was alive"] += overlapped
        counts["an attempt number run twice"] += len(runs) - len({r.attempt for r in runs})
    return counts


def classify(w: Worker) -> str:
    with open(w.err_path, errors="replace") as f:
        err = f.read()
    rc = w.proc.returncode
    if "Traceback" in err:
        return "crashed"
    if w.killed_at is not None and rc == -signal.SIGKILL:
        return "SIGKILLed by the bench"
    if rc == 0:
        return "exit 0"
    if rc == 1 and w.role == "disk" and "stopped:" in err:
        return "stopped: node fault (full EXPROOT)"
    failed = re.search(r"jobs failed: ids (.*)", err)
    if rc == 1 and failed and set(re.findall(r"\d+ \((\w+)\)", failed.group(1))) == {"ERR_START"} \
            and "stopped:" not in err:
        return "exit 1: it failed poison rows (ERR_START)"
    return "crashed"


@dataclass
class Result:
    wall_s: float
    events: list[str]
    done: int
    lost: dict[str, int]  # status name -> jobs
    poison: dict[str, int]
    runs: dict[str, int]
    workers: dict[str, int]
    late: int
    unfired: int


def drain(server: PgServer, table: str, n_workers: int, n_jobs: int, seed: int, tmp: str,
          faults: list[tuple[float, Callable[[Fleet, str, str], str]]]) -> Result:
    """One run: schedule, start the workers, fire ``faults`` at their times, wait, tally."""
    url = server.url(server.createdb(), table)
    log = os.path.join(tmp, f"{table}.runs")  # runs_log(exproot)
    rng = random.Random(seed)
    ids = insert(url, EXPERIMENT, [{"seconds": round(rng.uniform(0.2, 0.8), 3), "log_path": log, "k": k}
                                   for k in range(n_jobs)])
    exproot = os.path.join(tmp, f"{table}-root")
    fleet = Fleet(url, child_env(experiments=True), tempfile.mkdtemp(dir=tmp), rng)
    t0 = time.time()
    for _ in range(n_workers):
        fleet.start(exproot)
    events: list[str] = []
    pending = sorted(faults, key=lambda f: f[0])
    while pending and fleet.alive() and time.time() - t0 < TIME_LIMIT_S:
        at, fault = pending[0]
        if time.time() - t0 >= at:
            pending.pop(0)
            events.append(f"  t={time.time() - t0:5.1f} s  {fault(fleet, url, exproot)}")
        time.sleep(0.05)
    late = fleet.wait(t0 + TIME_LIMIT_S)
    wall = time.time() - t0
    with open_db(url) as store:
        rows = {j.id: j for j in store.jobs()}
    statuses = collections.Counter(Status.name_of(rows[i].status) for i in ids)
    poison_ids = sorted(set(rows) - set(ids))  # inserted during the run: only poison rows
    killed = {w.proc.pid: w.killed_at for w in fleet.workers if w.killed_at is not None}
    crashed = [w.err_path for w in fleet.workers if classify(w) == "crashed"]
    events += [f"  crashed worker's stderr: {path}" for path in crashed]
    return Result(wall, events, statuses.get(Status.name_of(DONE), 0),
                  {k: v for k, v in statuses.items() if k != Status.name_of(DONE)},
                  dict(collections.Counter(Status.name_of(rows[i].status) for i in poison_ids)),
                  dict(tally_runs(read_runs(log), killed)),
                  dict(collections.Counter(classify(w) for w in fleet.workers)), late, len(pending))


def runs_log(exproot: str) -> str:
    """The experiment's log of a run whose EXPROOT is ``exproot`` (see :func:`drain`)."""
    return os.path.join(os.path.dirname(exproot), "jobs.runs")


def fault_plan(disk_root: str | None, scale: float) -> list[tuple[float, Callable[[Fleet, str, str], str]]]:
    """The faults and when they fire (seconds after the workers start, scaled with the jobs)."""
    def restart(fleet: Fleet, url: str, exproot: str) -> str:
        t = time.time()
        SERVER.restart(down_s=1.0)
        return f"restarted the database (down {time.time() - t:.1f} s)"

    def poison_rows(fleet: Fleet, url: str, exproot: str) -> str:
        return poison(url, runs_log(exproot), 4)[1]

    plan: list[tuple[float, Callable[[Fleet, str, str], str]]] = [
        (3 * scale, lambda f, u, e: f.kill_some(2, e, runs_log(e))),
        (5 * scale, poison_rows),
        (8 * scale, restart),
        (11 * scale, lambda f, u, e: f.kill_some(1, e, runs_log(e))),
        (14 * scale, restart),
    ]
    if disk_root is not None:
        plan.append((6 * scale, lambda f, u, e: fill(disk_root)))
    return plan


def report(name: str, r: Result, n_jobs: int) -> None:
    print(f"\n== {name}: {r.wall_s:.1f} s wall")
    for line in r.events:
        print(line)
    print(f"  {'jobs done':<32} {r.done} of {n_jobs}")
    print(f"  {'jobs lost':<32} {sum(r.lost.values())} {r.lost or ''}")
    if r.poison:
        print(f"  {'poison rows':<32} {r.poison}")
    for key in ("runs", "re-run after a kill", "re-run otherwise", "run twice while a run was alive",
                "an attempt number run twice"):
        print(f"  {key:<32} {r.runs.get(key, 0)}")
    print(f"  {'workers':<32} {r.workers}"
          + (f"; {r.late} still running at {TIME_LIMIT_S:.0f} s, stopped" if r.late else ""))
    if r.unfired:
        print(f"  ({r.unfired} fault(s) not fired: the jobs were all done first)")


SERVER: PgServer


def main() -> None:
    global SERVER
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-baseline", action="store_true", help="skip the fault-free run")
    args = p.parse_args()
    SERVER = PgServer()
    tmp = tempfile.mkdtemp(prefix="bench-faults.")
    scale = args.jobs / 200
    print(f"{args.workers} workers, {args.jobs} jobs of 0.2-0.8 s, lease {LEASE_S} s, heartbeat {HEARTBEAT_S} s")
    try:
        if not args.no_baseline:
            report("baseline (no faults)", drain(SERVER, "jobs", args.workers, args.jobs, args.seed,
                                                 _mkdir(tmp, "base"), []), args.jobs)
        faulted = _mkdir(tmp, "faults")
        with small_tmpfs(os.path.join(faulted, "disk")) as disk_root:
            plan = fault_plan(disk_root, scale)
            if disk_root is not None:
                plan.append((0.0, lambda f, u, e: f"started the disk worker (pid {f.start(disk_root, 'disk').proc.pid})"))
            report("with faults", drain(SERVER, "jobs", args.workers, args.jobs, args.seed, faulted, plan), args.jobs)
    finally:
        SERVER.destroy()


def _mkdir(tmp: str, name: str) -> str:
    path = os.path.join(tmp, name)
    os.makedirs(path, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
