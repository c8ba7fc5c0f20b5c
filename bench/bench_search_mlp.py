"""Adaptive search on the tutorial's MLP: does TPE reach random search's best in half the trials?

    .venv/bin/python bench/bench_search_mlp.py [--seeds 10] [--trials 60] [--epochs 2]
                                               [--n-train 5000] [--n-valid 2000] [--e2e-trials 20]
                                               [--space DIM [DIM ...]]

The second case of bench/bench_search.py (Branin is the first), measured the same way: for each
seed, random search runs ``--trials`` trials, then TPE runs as many with the same seed, and we count
the trials TPE needs to reach random's best (a seed where it never does counts ``trials + 1``).
Printed: the median over seeds beside random's own trials to its best, the baseline from the same
run. The issue's target: TPE needs at most half the trials. The race itself is benchlib's, shared
with Branin.

A trial is the tutorial's experiment code (``models.mlp_jobman.train_mnist``: the tutorial's
network, its initialisation seed 1234, batch 20, early stopping) on a fixed slice of MNIST, the
first ``--n-train``/``--n-valid``/1,000 rows, for ``--epochs`` (1 to 3) epochs on one BLAS thread;
the objective is ``best_validation_loss`` (minimised). The space is README's example:
learning_rate~loguniform(1e-4,1e-1), n_hidden~int(10,200), L2_reg~choice(0,0.0001,0.001), or
``--space`` (dimensions as for ``jobman sqlsearch``; other keys keep the tutorial's defaults). A
trial is deterministic, so evaluations are cached by point (TPE's first 10 trials are random draws
with the same seed as the random run's, hence the same points).

The points are asked in-process through the workers' own adapter (``jobstore.search.samplers.ask``,
the study rebuilt from the history for every ask), not through workers, so that 2 samplers x 10
seeds fit in a few minutes on a shared core. ``--e2e-trials N`` then runs the same search for real:
``jobman sqlsearch`` registers it (TPE, seed 0) on SQLite and one ``jobman sql -n 0`` worker serves
it; the bench prints ``sqlstatus --summary`` and checks that the worker drew the same points as the
in-process run of seed 0 (same history, same seeds, same answers).
"""
from __future__ import annotations

import argparse
import gzip
import os
import pickle
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import JOBMAN, child_env, race, race_line, race_summary, run_sampler

from jobstore.errors import JobmanError
from jobstore.search.space import parse_space
from jobstore.store import open_db
from models import data
from models.mlp_jobman import DEFAULTS, train_mnist

SPACE = ["learning_rate~loguniform(1e-4,1e-1)", "n_hidden~int(10,200)", "L2_reg~choice(0,0.0001,0.001)"]
N_TEST = 1000
OBJECTIVE = "best_validation_loss"


def write_slice(path: Path, n_train: int, n_valid: int) -> str:
    """The first rows of MNIST in a file of their own, as the tests do (the experiment reads a path)."""
    part = data.subset(data.load_mnist(), n_train, n_valid, N_TEST)
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(tuple((s.x.copy(), s.y.copy()) for s in (part.train, part.valid, part.test)), f)
    return str(path)


class MlpObjective:
    """One trial: the tutorial's training on the slice, ``best_validation_loss`` back; cached by point.
    A key of the tutorial's experiment that the space leaves out keeps the tutorial's default."""

    def __init__(self, dataset: str, epochs: int, space: Sequence[str]) -> None:
        self.dataset, self.epochs = dataset, epochs
        self.space, self.dims = list(space), parse_space(space)
        self.cache: dict[tuple[Any, ...], float] = {}
        self.seconds: list[float] = []
        self.hits = 0

    def __call__(self, point: dict[str, Any]) -> float:
        key = tuple(point[d.key] for d in self.dims)
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        start = time.perf_counter()
        hyper = {**DEFAULTS, "n_iter": self.epochs, **point}
        result = train_mnist(hyper["learning_rate"], hyper["n_hidden"], hyper["L1_reg"], hyper["L2_reg"],
                             hyper["batch_size"], hyper["n_iter"], dataset=self.dataset, array_backend="numpy",
                             blas_threads=1, progress=False)
        self.seconds.append(time.perf_counter() - start)
        self.cache[key] = result.best_validation_loss
        return result.best_validation_loss


def bench_race(objective: MlpObjective, seeds: int, trials: int, n_train: int, n_valid: int) -> None:
    print(f"The tutorial's MLP, {objective.epochs} epoch(s) on MNIST[:{n_train}] (valid [:{n_valid}]), "
          f"objective {OBJECTIVE}; {trials} trials per run, {seeds} seeds")
    print(f"  space: {' '.join(objective.space)}")
    start = time.perf_counter()
    runs = []
    for seed in range(seeds):
        runs.append(race(objective, objective.dims, trials, seed))
        print(race_line(runs[-1], trials), flush=True)
    print("\n".join(race_summary(runs, trials)))
    print(f"  {len(objective.seconds)} trainings, median {statistics.median(objective.seconds):.3f} s each "
          f"({objective.hits} trials from the cache); {time.perf_counter() - start:.0f} s in all, "
          f"load average {os.getloadavg()[0]:.1f}")


def bench_workers(objective: MlpObjective, trials: int, tmp: str) -> None:
    """The search through the real path: sqlsearch on SQLite, one unchanged worker, the summary."""
    url = f"sqlite:///{tmp}/search.db?table=jobs"
    env = child_env()
    fixed = [f"n_iter={objective.epochs}", f"dataset={objective.dataset}", "array_backend=numpy"]
    subprocess.run([JOBMAN, "sqlsearch", url, "models.mlp_jobman.experiment", *fixed, *objective.space,
                    "--objective", OBJECTIVE, "--trials", str(trials), "--sampler", "tpe", "--seed", "0",
                    "--name", "mlp"], env=env, check=True, capture_output=True, text=True)
    start = time.perf_counter()
    subprocess.run([JOBMAN, "sql", "-n", "0", url, f"{tmp}/exp"], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    summary = subprocess.run([JOBMAN, "sqlstatus", "--summary", url], env=env, check=True, capture_output=True,
                             text=True).stdout
    print(f"Through a worker: jobman sqlsearch (TPE, seed 0, {trials} trials) on SQLite, one jobman sql -n 0, "
          f"{wall:.1f} s")
    print("\n".join("  " + line for line in summary.rstrip().splitlines()))
    with open_db(url) as store:
        jobs = sorted(store.jobs(), key=lambda j: j.id)
    through = [tuple(j.state[d.key] for d in objective.dims) for j in jobs]
    values = [j.state.get(OBJECTIVE) for j in jobs]
    print(f"  same points as the in-process TPE run of seed 0: {_same_points(objective, through, trials)}; "
          f"best {min(v for v in values if v is not None):.4f}")


def _same_points(objective: MlpObjective, through: Sequence[tuple[Any, ...]], trials: int) -> str:
    history: list[tuple[Any, ...]] = []

    def record(point: dict[str, Any]) -> float:
        history.append(tuple(point[d.key] for d in objective.dims))
        return objective(point)

    run_sampler(record, objective.dims, "tpe", trials, 0)
    same = sum(a == b for a, b in zip(history, through))
    return "yes" if same == trials == len(through) else f"no ({same} of {len(through)} equal)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=2, choices=(1, 2, 3))
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-valid", type=int, default=2000)
    ap.add_argument("--space", nargs="+", default=SPACE, metavar="DIM",
                    help="the dimensions, as for jobman sqlsearch (default: README's example)")
    ap.add_argument("--e2e-trials", type=int, default=0, help="also run this many trials through a real worker")
    args = ap.parse_args()
    try:
        parse_space(args.space)
    except JobmanError as exc:
        ap.error(str(exc))  # one line, exit 2
    with tempfile.TemporaryDirectory() as tmp:
        path = write_slice(Path(tmp) / "mnist.pkl.gz", args.n_train, args.n_valid)
        objective = MlpObjective(path, args.epochs, args.space)
        bench_race(objective, args.seeds, args.trials, args.n_train, args.n_valid)
        if args.e2e_trials:
            bench_workers(objective, args.e2e_trials, tmp)


if __name__ == "__main__":
    main()
