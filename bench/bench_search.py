"""Adaptive search: does TPE beat random search, and what does one ask cost with a long history?

    .venv/bin/python bench/bench_search.py [--seeds 10] [--trials 100] [--history 1000] [--reps 20] [--pg]

1. Branin (a cheap known function, minimum 0.397887): for each seed, random search runs
   ``--trials`` trials; then TPE runs as many and we count the trials it needs to reach random's
   best. Printed: the median over seeds (and random's own trials to its best, the baseline from the
   same run). The issue's target: TPE needs at most half the trials. Both go through the same
   adapter as the workers (``jobstore.search.samplers.ask``, the study rebuilt for every ask).
   The race is benchlib's; bench/bench_search_mlp.py runs it on the tutorial's MLP (the issue's
   second case).
2. Ask latency with ``--history`` finished trials: the adapter alone per sampler, and the
   worker's whole ``claim_from_search`` transaction (history read, ask, insert, claim) on SQLite
   (and PostgreSQL with ``--pg``), beside the plain claim of a scheduled job on the same table.
   Median and 95th percentile of ``--reps`` asks. Target: under 50 ms.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from benchlib import PgServer, import_test_experiments, race, race_line, race_summary

from jobstore.search import samplers
from jobstore.search.samplers import Trial
from jobstore.search.space import parse_space
from jobstore.status import DONE, EndReason
from jobstore.store import open_db
from jobstore.store.searches import Search

import_test_experiments()
from search_exps import branin_value  # noqa: E402 - tests/experiments, made importable just above

SPACE = ["x1~uniform(-5,10)", "x2~uniform(0,15)"]
DIMS = parse_space(SPACE)


def bench_branin(seeds: int, trials: int) -> None:
    print(f"Branin, {trials} trials per run, {seeds} seeds (minimum 0.397887)")
    runs = []
    for seed in range(seeds):
        runs.append(race(lambda p: branin_value(p["x1"], p["x2"]), DIMS, trials, seed))
        print(race_line(runs[-1], trials))
    print("\n".join(race_summary(runs, trials)))


def _summary(times_s: list[float]) -> str:
    ms = sorted(t * 1000 for t in times_s)
    return f"median {statistics.median(ms):6.1f} ms   p95 {ms[int(0.95 * (len(ms) - 1))]:6.1f} ms"


def bench_adapter(history_n: int, reps: int) -> None:
    rng = random.Random(0)
    history = []
    for _ in range(history_n):
        p = {"x1": rng.uniform(-5, 10), "x2": rng.uniform(0, 15)}
        history.append(Trial(p, samplers.COMPLETE, branin_value(**p)))
    print(f"ask latency, the adapter alone, {history_n} finished trials:")
    for sampler in ("tpe", "random", "cmaes"):
        samplers.ask(DIMS, sampler, "minimize", history, seed=1)  # warm imports
        times = []
        for r in range(reps):
            t0 = time.perf_counter()
            samplers.ask(DIMS, sampler, "minimize", history, seed=r)
            times.append(time.perf_counter() - t0)
        print(f"  {sampler:<8} {_summary(times)}")


def _finish(store, job) -> None:  # noqa: ANN001 - a Store and a Job
    state = dict(job.state)
    state["y"] = branin_value(state["x1"], state["x2"])
    store.finish(job.id, job.attempt, status=DONE, end_reason=EndReason.COMPLETED, state=state)


def bench_store(url: str, label: str, history_n: int, reps: int) -> None:
    """Fill a search with history_n finished jobs (random sampler, through the real claim path),
    then time claim_from_search with TPE against the plain claim of a scheduled job."""
    with open_db(url) as store:
        fill = Search(name="fill", experiment="search_exps.branin", space=[d.to_json() for d in DIMS], fixed={},
                      sampler="random", objective="y", direction="minimize", budget=history_n + reps, seed=1)
        fill = store.searches().register(fill)
        for _ in range(history_n):
            _finish(store, store.claim_from_search(worker="bench", host="bench", lease_s=60))
        store.db.run("tpe", lambda c: c.execute(  # type: ignore[attr-defined]
            f'UPDATE "{store.table}__searches" SET sampler = \'tpe\''))
        ask_times, claim_times = [], []
        for i in range(reps):
            t0 = time.perf_counter()
            job = store.claim_from_search(worker="bench", host="bench", lease_s=60)
            ask_times.append(time.perf_counter() - t0)
            _finish(store, job)
            store.insert_jobs([{"jobman.experiment": "search_exps.branin", "x1": 1.0, "x2": float(i)}])
            t0 = time.perf_counter()
            job = store.claim(worker="bench", host="bench", lease_s=60, max_attempts=3)
            claim_times.append(time.perf_counter() - t0)
            _finish(store, job)
    print(f"{label}: a search with {history_n} finished jobs")
    print(f"  claim_from_search (TPE: history, ask, insert, claim)  {_summary(ask_times)}")
    print(f"  claim of a scheduled job (baseline)                   {_summary(claim_times)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--pg", action="store_true", help="also through PostgreSQL (starts a private server)")
    ap.add_argument("--skip-branin", action="store_true")
    args = ap.parse_args()
    if not args.skip_branin:
        bench_branin(args.seeds, args.trials)
    bench_adapter(args.history, args.reps)
    with tempfile.TemporaryDirectory() as tmp:
        bench_store(f"sqlite:///{tmp}/bench.db?table=jobs", "SQLite", args.history, args.reps)
    if args.pg:
        server = PgServer()
        try:
            bench_store(server.url(server.createdb(), "jobs"), "PostgreSQL", args.history, args.reps)
        finally:
            server.destroy()


if __name__ == "__main__":
    main()
