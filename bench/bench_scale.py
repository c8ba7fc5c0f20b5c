"""The database load of N workers at their real rates, without N processes: server CPU per
worker-hour, claim latency and connections, direct and through PgBouncer.

    .venv/bin/python bench/bench_scale.py [--workers 100,1000,10000] [--job-s 600] [--duration-s 30]

Each simulated worker is a coroutine (asyncio, psycopg's AsyncConnection) that sends what a real
``jobman sql`` sends for jobs of ``--job-s`` seconds, with the store's own SQL (``store.sql.q``):

    claim       reap + claim in one round trip (the worker reaps before a claim when it last did more
                than 5 s ago, which for jobs of minutes is every claim)
    start save  idle_release_s (1 s) after the claim, the state with its provenance keys
    heartbeat   lease * HEARTBEAT_FRACTION (the defaults of jobstore/worker/options.py) after the
                lease was last renewed: a save renews it, so a heartbeat is sent only when no save
                came within that interval (the keeper's rule, jobstore/worker/keeper.py)
    save        every ``--save-every-s`` (an experiment's channel.save())
    finish      the state and DONE, fenced by the attempt; then the next claim

Two ways of holding connections are compared. ``per-op`` is the real worker: the keeper opens a
connection for each heartbeat and closes it, a save connects and closes, the finish connects and
keeps the connection for the next claim and the start save, then closes it (no connection while
the experiment computes). ``kept``: one connection per worker for its whole life, every statement
on it (what a worker would do if it kept its connection; direct, that is N server connections, so it
runs only where N fits under max_connections).

Before the measured window every worker claims a job (not timed) and is put at a random point of
it (time left uniform in [0, job), save phase uniform, heartbeats following the last renewal of
the lease as the keeper's would), so the window sees the
steady state, at real rates: no time compression. Server CPU is the utime+stime of the postmaster
and all its children from /proc, including the cutime/cstime of backends reaped in the window
(with PgBouncer, its own process's CPU is given beside it). Connections: the client connections
open at once (max) and the server's client backends (pg_stat_activity, sampled each second).
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import math
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from benchlib import PgServer, proc_cpu_s, server_cpu_s

from jobstore.status import DONE
from jobstore.store import open_db
from jobstore.store.codec import encode_state
from jobstore.worker.options import HEARTBEAT_FRACTION, IDLE_RELEASE_S, LEASE_S
from tests.infra.pgbouncer import PgBouncer

TABLE = "jobs"
TARGET_CPU_FRACTION = 0.10  # 1,000 workers with 10-minute jobs: under 10% of one server core
TARGET_P99_CLAIM_MS = 50.0  # at 1,000 workers
# a state the size of the tutorial's with the worker's provenance keys
STATE: dict[str, Any] = {
    "learning_rate": 0.01, "L1_reg": 0.0, "L2_reg": 0.0001, "n_iter": 50, "batch_size": 20, "n_hidden": 10,
    "jobman.experiment": "models.mlp_jobman.experiment", "jobman.status": 1, "jobman.sql.priority": 1.0,
    **{f"jobman.sql.{k}": f"value-of-{k}" for k in ("host_name", "host_workdir", "worker", "slurm_job_id",
                                                     "slurm_array_task_id", "cuda_visible_devices", "gpu_name",
                                                     "job_dir", "pid", "start_time")},
    "best_validation_loss": 0.0712, "test_score": 0.0734, "minutes_trained": 3.2, "iter": 12000,
}



@dataclass
class Tally:
    """What the simulated workers measured in the window."""

    claims_ms: list[float] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    open_conns: int = 0
    max_conns: int = 0
    measuring: bool = False

    def count(self, what: str, table: dict[str, int] | None = None) -> None:
        if self.measuring:
            t = self.ops if table is None else table
            t[what] = t.get(what, 0) + 1


@dataclass
class Sim:
    """One configuration: N workers, how they connect, how long their jobs are."""

    dsn: str
    sql: dict[str, str]
    pooled: bool
    kept: bool
    job_s: float
    heartbeat_s: float
    save_every_s: float
    lease_s: float
    tally: Tally = field(default_factory=Tally)
    state_json: str = ""
    types_json: str = ""

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        if self.pooled:
            conn.prepare_threshold = None  # what the store does behind a pooler
        self.tally.open_conns += 1
        self.tally.max_conns = max(self.tally.max_conns, self.tally.open_conns)
        return conn

    async def close(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.tally.open_conns -= 1
        await conn.close()

    async def claim(self, conn: psycopg.AsyncConnection[Any], worker: str) -> tuple[int, int] | None:
        t = time.perf_counter()
        async with conn.pipeline():
            await conn.execute(self.sql["reap"], {"max_attempts": 3, "restart_priority": 2.0})
            cur = await conn.execute(self.sql["claim"], {"lease_s": self.lease_s, "host": "sim", "worker": worker})
        row = await cur.fetchone()
        if self.tally.measuring:
            self.tally.claims_ms.append((time.perf_counter() - t) * 1e3)
        self.tally.count("claim")
        return (row[0], row[8]) if row else None  # id, attempt

    async def write(self, conn: psycopg.AsyncConnection[Any], what: str, job: tuple[int, int]) -> None:
        params: dict[str, Any] = {"id": job[0], "attempt": job[1], "lease_s": self.lease_s}
        if what in ("save", "finish"):
            params.update(state=self.state_json, types=self.types_json)
        if what == "finish":
            params.update(status=DONE, end_reason="completed", set_state=True, priority=None, error=None)
        await conn.execute(self.sql[what], params)
        self.tally.count(what)

    async def on_conn(self, conn: psycopg.AsyncConnection[Any] | None,
                      fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]) -> Any:
        """``fn`` on ``conn`` (kept), or on a connection of its own, closed after it (per-op)."""
        if conn is not None:
            return await fn(conn)
        own = await self.connect()
        try:
            return await fn(own)
        finally:
            await self.close(own)


async def worker(sim: Sim, name: str, job: tuple[int, int], deadline: float) -> None:
    """One simulated worker from a random point of its current job until ``deadline``."""
    kept = await sim.connect() if sim.kept else None
    loop = asyncio.get_running_loop()
    now = loop.time()
    job_end = now + random.uniform(0, sim.job_s)
    next_save = now + random.uniform(0, sim.save_every_s)
    # The steady state: the lease was last renewed by the claim or by the last save, and the
    # heartbeats have followed from there every heartbeat_s.
    renewed = max(job_end - sim.job_s, next_save - sim.save_every_s)
    next_hb = renewed + sim.heartbeat_s * max(1, math.ceil((now - renewed) / sim.heartbeat_s))
    try:
        while loop.time() < deadline:
            when = min(job_end, next_hb, next_save)
            if when >= deadline:
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                break
            await asyncio.sleep(max(0.0, when - loop.time()))
            try:
                if when == job_end:
                    job = await end_and_claim(sim, kept, name, job)
                    job_end = loop.time() + sim.job_s
                    next_hb, next_save = loop.time() + sim.heartbeat_s, loop.time() + sim.save_every_s
                elif when == next_save:  # before a heartbeat due at the same time: it renews the lease
                    await sim.on_conn(kept, functools.partial(sim.write, what="save", job=job))
                    next_save += sim.save_every_s
                    next_hb = max(next_hb, loop.time() + sim.heartbeat_s)
                else:
                    await sim.on_conn(kept, functools.partial(sim.write, what="heartbeat", job=job))
                    next_hb += sim.heartbeat_s
            except psycopg.Error as e:
                sim.tally.count(type(e).__name__, sim.tally.errors)
                await asyncio.sleep(1.0)
    finally:
        if kept is not None:
            await sim.close(kept)


async def end_and_claim(sim: Sim, kept: psycopg.AsyncConnection[Any] | None, name: str,
                        job: tuple[int, int]) -> tuple[int, int]:
    """finish, claim on the same connection; the start save after idle_release_s, then (per-op) close."""
    conn = kept if kept is not None else await sim.connect()
    try:
        await sim.write(conn, "finish", job)
        new = await sim.claim(conn, name)
        if new is None:
            raise RuntimeError("the table ran out of jobs: fill it with more")
        await asyncio.sleep(IDLE_RELEASE_S)
        await sim.write(conn, "save", new)
        return new
    finally:
        if kept is None:
            await sim.close(conn)


async def warm_up(sim: Sim, n: int) -> list[tuple[int, int]]:
    """Every worker's first job, claimed through a few connections (not measured)."""
    jobs: list[tuple[int, int]] = []

    async def claimer(k: int) -> None:
        conn = await sim.connect()
        try:
            while len(jobs) < n:
                job = await sim.claim(conn, f"sim-{len(jobs)}")
                if job is None:
                    raise RuntimeError("not enough jobs for the warm-up")
                jobs.append(job)
        finally:
            await sim.close(conn)
    await asyncio.gather(*(claimer(k) for k in range(min(10, n))))
    return jobs[:n]


async def sample_backends(dsn: str, until: float, out: list[int]) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < until:
            cur = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
            row = await cur.fetchone()
            out.append(row[0] - 1 if row else 0)  # not this one
            await asyncio.sleep(1.0)


def fill(server: PgServer, n_jobs: int) -> tuple[str, dict[str, str]]:
    """A fresh database with ``n_jobs`` START jobs; its name and the store's SQL."""
    db = server.createdb()
    url = server.url(db, TABLE)
    with open_db(url) as store:
        store.ensure_schema()
        store.insert_jobs([STATE])
        sql = dict(store.sql.q)  # type: ignore[attr-defined]  # the PostgreSQL store's rendered SQL
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:  # clone the row: a fast bulk fill
        conn.execute(f'INSERT INTO "{TABLE}" (status, priority, experiment, state, types, hash) '
                     f'SELECT 0, 1.0, experiment, state, types, md5(g::text) FROM "{TABLE}", '
                     f'generate_series(2, %s) g WHERE id = 1', (n_jobs,))
        conn.execute(f'VACUUM ANALYZE "{TABLE}"')
    return db, sql


@dataclass
class Result:
    n: int
    via: str
    mode: str
    cpu_s: float
    bouncer_cpu_s: float
    window_s: float
    claims_ms: list[float]
    ops: dict[str, int]
    errors: dict[str, int]
    max_conns: int
    backends: list[int]

    def line(self, job_s: float) -> str:
        worker_h = self.n * self.window_s / 3600
        c = sorted(self.claims_ms)
        p50 = statistics.median(c) if c else float("nan")
        p99 = c[min(len(c) - 1, int(0.99 * len(c)))] if c else float("nan")
        bouncer = f"+{self.bouncer_cpu_s / worker_h:6.2f}" if self.via == "pgbouncer" else " " * 7
        errs = ",".join(f"{k}:{v}" for k, v in self.errors.items()) or "-"
        return (f"{self.n:>6} {self.via:>9} {self.mode:>6} {self.cpu_s / worker_h:9.3f} {bouncer} "
                f"{100 * self.cpu_s / self.window_s:7.1f}% {len(c):>6} {p50:7.2f} {p99:7.2f} "
                f"{sum(self.ops.values()) / self.window_s:8.1f} {self.max_conns:>6} "
                f"{max(self.backends, default=0):>5} {errs}")


def run_one(server: PgServer, bouncer: PgBouncer | None, n: int, kept: bool, args: argparse.Namespace) -> Result:
    heartbeat_s = args.lease_s * args.heartbeat_fraction
    claims_needed = n + int(n * (args.duration_s + 5) / args.job_s * 1.5) + 100
    db, sql = fill(server, claims_needed)
    direct = server.dsn(db)
    enc = encode_state(STATE)
    sim = Sim(dsn=bouncer.url(db).split("?")[0] if bouncer else direct, sql=sql, pooled=bouncer is not None,
              kept=kept, job_s=args.job_s, heartbeat_s=heartbeat_s, save_every_s=args.save_every_s,
              lease_s=args.lease_s, state_json=enc.state_json, types_json=enc.tags_json or "{}")
    loop = asyncio.new_event_loop()
    try:
        async def go() -> tuple[list[int], float, float, float]:
            jobs = await warm_up(sim, n)
            c0, w0 = server_cpu_s(server.data), time.monotonic()
            bb0 = proc_cpu_s(bouncer.proc.pid) if bouncer else 0.0
            deadline = asyncio.get_running_loop().time() + args.duration_s
            sim.tally.measuring, sim.tally.max_conns = True, sim.tally.open_conns
            backends: list[int] = []
            await asyncio.gather(sample_backends(direct, time.monotonic() + args.duration_s, backends),
                                 *(worker(sim, f"sim-{i}", job, deadline) for i, job in enumerate(jobs)))
            sim.tally.measuring = False
            w = time.monotonic() - w0
            bb = (proc_cpu_s(bouncer.proc.pid) - bb0) if bouncer else 0.0
            return backends, server_cpu_s(server.data) - c0, w, bb
        backends, cpu, window, bcpu = loop.run_until_complete(go())
    finally:
        loop.close()
    server.dropdb(db)
    return Result(n, "pgbouncer" if bouncer else "direct", "kept" if kept else "per-op", cpu, bcpu, window,
                  sim.tally.claims_ms, sim.tally.ops, sim.tally.errors, sim.tally.max_conns, backends)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="100,1000,10000", help="simulated workers (default 100,1000,10000)")
    ap.add_argument("--job-s", type=float, default=600.0, help="job length in seconds (default 600)")
    ap.add_argument("--duration-s", type=float, default=30.0, help="measured window per figure (default 30)")
    ap.add_argument("--save-every-s", type=float, default=120.0, help="channel.save() period (default 120)")
    ap.add_argument("--lease-s", type=float, default=LEASE_S, help=f"lease (default LEASE_S, {LEASE_S:g})")
    ap.add_argument("--heartbeat-fraction", type=float, default=HEARTBEAT_FRACTION,
                    help=f"heartbeat = lease * this (default HEARTBEAT_FRACTION, {HEARTBEAT_FRACTION:g})")
    ap.add_argument("--via", default="direct,pgbouncer", help="direct, pgbouncer or both (default)")
    ap.add_argument("--modes", default="per-op,kept", help="per-op (the real worker), kept, or both (default)")
    ap.add_argument("--max-connections", type=int, default=300, help="the server's max_connections (300)")
    ap.add_argument("--pool", type=int, default=20, help="PgBouncer's server pool (default 20)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # kept connections: one fd per worker
    server = PgServer(settings={"max_connections": str(args.max_connections)})
    bouncer = PgBouncer(server, pool_size=args.pool, max_clients=30000) if "pgbouncer" in args.via else None
    hb = args.lease_s * args.heartbeat_fraction
    try:
        print(f"PostgreSQL 127.0.0.1:{server.port} (max_connections={args.max_connections}), {os.cpu_count()} CPUs; "
              f"jobs of {args.job_s:g} s, lease {args.lease_s:g} s, heartbeat {hb:g} s, save every "
              f"{args.save_every_s:g} s; {args.duration_s:g} s windows at real rates" +
              (f"; PgBouncer 127.0.0.1:{bouncer.port}, transaction pooling, pool {args.pool}" if bouncer else ""))
        print("server CPU per worker-hour: CPU seconds of PostgreSQL (+ PgBouncer's own) per hour of one worker")
        print(f"\n{'N':>6} {'via':>9} {'mode':>6} {'cpu s/wh':>9} {'+bouncer':>7} {'%core':>8} {'claims':>6} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'stmts/s':>8} {'conns':>6} {'srv':>5} errors")
        results: list[Result] = []
        for n in (int(x) for x in args.workers.split(",")):
            for via in args.via.split(","):
                for mode in args.modes.split(","):
                    if via == "direct" and mode == "kept" and n > args.max_connections - 10:
                        print(f"{n:>6} {via:>9} {mode:>6}   (needs {n} server connections: over max_connections)")
                        continue
                    r = run_one(server, bouncer if via == "pgbouncer" else None, n, mode == "kept", args)
                    results.append(r)
                    print(r.line(args.job_s), flush=True)
                    print(" " * 24 + "per second: " + ", ".join(
                        f"{k} {v / r.window_s:.1f}" for k, v in sorted(r.ops.items())), flush=True)
        verdict(results, args)
    finally:
        if bouncer is not None:
            bouncer.stop()
        server.destroy()


def verdict(results: list[Result], args: argparse.Namespace) -> None:
    """The issue's targets against the per-op (real worker) figures at 1,000 workers."""
    for r in results:
        if r.n != 1000 or r.mode != "per-op":
            continue
        core = r.cpu_s / r.window_s
        c = sorted(r.claims_ms)
        p99 = c[min(len(c) - 1, int(0.99 * len(c)))] if c else float("nan")
        print(f"target, 1,000 workers {r.via}: server {100 * core:.1f}% of a core (target < "
              f"{100 * TARGET_CPU_FRACTION:.0f}%: {'met' if core < TARGET_CPU_FRACTION else 'MISSED'}), "
              f"p99 claim {p99:.1f} ms over {len(c)} claims (target < {TARGET_P99_CLAIM_MS:.0f} ms: "
              f"{'met' if p99 < TARGET_P99_CLAIM_MS else 'MISSED'})")


if __name__ == "__main__":
    main()
