"""What the benchmarks share: where this checkout and the venv's console scripts are, the
environment for the processes they start, and the one place that edits ``sys.path``.

Benchmarks run as ``python bench/bench_x.py`` from the repository root, so Python puts ``bench/``
on ``sys.path``, not the root. Importing this module puts the root first, so that ``tests.infra``
(the throwaway PostgreSQL server, re-exported here as ``PgServer``) is importable and this
checkout's packages win over an editable install of another one. Import it before any of the
project's packages (isort already places it there: it sorts with the third-party imports).

It also holds the sampler race that both search benches run (:func:`race`): TPE against random
search with the same seed, through the workers' own ask, and the figure the issue sets for it.
"""
from __future__ import annotations

import compileall
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = ROOT / "tests" / "experiments"
BIN = Path(sys.executable).parent
JOBMAN = str(BIN / "jobman")
JOBDISPATCH = str(BIN / "jobdispatch")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.infra.pgserver import PgServer  # noqa: E402

__all__ = ["ROOT", "EXPERIMENTS_DIR", "BIN", "JOBMAN", "JOBDISPATCH", "PgServer", "python_path",
           "child_env", "import_test_experiments", "RaceRun", "run_sampler", "trials_to_reach", "race",
           "race_line", "race_summary", "server_cpu_s", "proc_cpu_s"]


def python_path(*, experiments: bool = False) -> str:
    """PYTHONPATH naming this checkout (and tests/experiments when ``experiments``)."""
    return os.pathsep.join([str(ROOT)] + ([str(EXPERIMENTS_DIR)] if experiments else []))


def child_env(*, experiments: bool = False, drop_prefixes: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """``os.environ`` for a child process: PYTHONPATH set by :func:`python_path`, the variables
    starting with one of ``drop_prefixes`` removed (the user's ``JOBDISPATCH_`` defaults), ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if not (drop_prefixes and k.startswith(drop_prefixes))}
    env["PYTHONPATH"] = python_path(experiments=experiments)
    env.update(extra)
    return env


def import_test_experiments() -> None:
    """Make the test experiments (``worker_exps``, ``tutorial_exp``) importable in this process and
    in the processes it forks, from up-to-date bytecode: where ``PYTHONDONTWRITEBYTECODE`` is set
    and a module changed since its ``.pyc``, every forked worker compiled it again on its first job
    (about 4 ms of CPU per process in bench_claim.py), which an installed experiment never does."""
    if str(EXPERIMENTS_DIR) not in sys.path:
        sys.path.insert(1, str(EXPERIMENTS_DIR))
    compileall.compile_dir(str(EXPERIMENTS_DIR), maxlevels=0, quiet=2)  # writes only what is stale


# -- sampler races: bench_search.py (Branin) and bench_search_mlp.py (the tutorial's MLP) -----------

@dataclass(frozen=True)
class RaceRun:
    """One seed of a race between a candidate sampler and a baseline, both minimising: ``target`` is
    the baseline's best after the race's trials, ``baseline_at`` the trial at which the baseline first
    reached it, ``candidate_at`` the trial at which the candidate did (None: never), ``candidate_best``
    the candidate's own best after as many trials."""

    seed: int
    target: float
    baseline_at: int
    candidate_at: int | None
    candidate_best: float


def run_sampler(evaluate: Callable[[dict[str, Any]], float], dims: Sequence[Any], sampler: str, trials: int,
                seed: int) -> list[float]:
    """The objective values of ``trials`` trials one after the other, each point asked through the
    workers' own adapter (``jobstore.search.samplers.ask``: the study rebuilt from the history for
    every ask), so that a race measures the sampler the workers serve, without a database."""
    from jobstore.search import samplers  # here: the other benches need not import the search

    history: list[Any] = []
    for _ in range(trials):
        point = samplers.ask(dims, sampler, "minimize", history, seed=seed)
        history.append(samplers.Trial(point, samplers.COMPLETE, evaluate(point)))
    return [t.value for t in history]


def trials_to_reach(values: Sequence[float], target: float) -> int | None:
    """The 1-based trial at which ``values`` first reach ``target`` (<=), or None."""
    return next((i + 1 for i, v in enumerate(values) if v <= target), None)


def race(evaluate: Callable[[dict[str, Any]], float], dims: Sequence[Any], trials: int, seed: int,
         candidate: str = "tpe", baseline: str = "random") -> RaceRun:
    """One seed: ``baseline`` then ``candidate`` run ``trials`` trials each with the same seed."""
    base = run_sampler(evaluate, dims, baseline, trials, seed)
    cand = run_sampler(evaluate, dims, candidate, trials, seed)
    target = min(base)
    return RaceRun(seed=seed, target=target, baseline_at=trials_to_reach(base, target) or trials,
                   candidate_at=trials_to_reach(cand, target), candidate_best=min(cand))


def race_line(run: RaceRun, trials: int, fmt: str = ".4f") -> str:
    """One seed's line: random's best and when it got there, when TPE reached it, TPE's best."""
    reached = run.candidate_at if run.candidate_at is not None else f">{trials}"
    return (f"  seed {run.seed}: random best {run.target:{fmt}} (at trial {run.baseline_at}), TPE reaches it at "
            f"trial {reached}, TPE best {run.candidate_best:{fmt}}")


def race_summary(runs: Sequence[RaceRun], trials: int, fmt: str = ".4f") -> list[str]:
    """The medians over seeds. A seed where TPE never reaches random's best counts ``trials + 1``
    (past the end), and the lines say how many did."""
    needs = [r.candidate_at if r.candidate_at is not None else trials + 1 for r in runs]
    med = statistics.median(needs)
    missed = sum(r.candidate_at is None for r in runs)
    lines = [f"  median trials to reach random's best: TPE {med:g}, random itself "
             f"{statistics.median(r.baseline_at for r in runs):g} (of {trials}); "
             f"TPE/random-budget = {med / trials:.2f} (target <= 0.5)",
             f"  median best after {trials}: TPE {statistics.median(r.candidate_best for r in runs):{fmt}}, "
             f"random {statistics.median(r.target for r in runs):{fmt}}"]
    if missed:
        lines.append(f"  TPE never reached random's best in {missed} of {len(runs)} seeds "
                     f"(counted as {trials + 1} trials)")
    return lines


CLK_TCK = os.sysconf("SC_CLK_TCK")


def server_cpu_s(data_dir: str) -> float:
    """CPU seconds of the postmaster and its children so far (reaped ones through cutime/cstime)."""
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        pm = int(f.readline())
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, ticks = int(fields[1]), [int(x) for x in fields[11:15]]
        if int(pid) == pm:
            total += sum(ticks)  # its own time and its reaped children's
        elif ppid == pm:
            total += ticks[0] + ticks[1]
    return total / CLK_TCK


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
