"""What the benchmarks share: where this checkout and the venv's console scripts are, the
environment for the processes they start, and the one place that edits ``sys.path``.

Benchmarks run as ``python bench/bench_x.py`` from the repository root, so Python puts ``bench/``
on ``sys.path``, not the root. Importing this module puts the root first, so that ``tests.infra``
(the throwaway PostgreSQL server, re-exported here as ``PgServer``) is importable and this
checkout's packages win over an editable install of another one. Import it before any of the
project's packages (isort already places it there: it sorts with the third-party imports).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = ROOT / "tests" / "experiments"
BIN = Path(sys.executable).parent
JOBMAN = str(BIN / "jobman")
JOBDISPATCH = str(BIN / "jobdispatch")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.infra.pgserver import PgServer  # noqa: E402

__all__ = ["ROOT", "EXPERIMENTS_DIR", "BIN", "JOBMAN", "JOBDISPATCH", "PgServer", "python_path",
           "child_env", "import_test_experiments"]


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
    in the processes it forks."""
    if str(EXPERIMENTS_DIR) not in sys.path:
        sys.path.insert(1, str(EXPERIMENTS_DIR))
