"""Helpers for the worker's integration tests: insert jobs, run `jobman sql` in subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jobstore.store import open_db
from jobstore.worker.dirnames import path_component

EXP = "worker_exps"  # tests/experiments/worker_exps.py, on PYTHONPATH through cli_env


def insert(url: str, experiment: str, states: Iterable[Mapping[str, Any]], **kw: Any) -> list[int]:
    """Insert jobs running ``worker_exps.<experiment>``; return their ids."""
    with open_db(url) as store:
        store.ensure_schema()
        rows = [{**s, "jobman.experiment": f"{EXP}.{experiment}" if "." not in experiment else experiment}
                for s in states]
        res = store.insert_jobs(rows, force=True, **kw)
    ids = [r.job_id for r in res]
    assert all(i is not None for i in ids)
    return ids  # type: ignore[return-value]


def worker_cmd(url: str, exproot: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "jobstore.cli", "sql", *args, url, exproot]


def run_worker(env: dict[str, str], url: str, exproot: str, *args: str, timeout: float = 300,
               extra_env: Mapping[str, str] | None = None, cwd: str | None = None,
               command: str = "sql") -> subprocess.CompletedProcess:
    cmd = worker_cmd(url, exproot, *args)
    cmd[3] = command
    return subprocess.run(cmd, env={**env, **(extra_env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def start_worker(env: dict[str, str], url: str, exproot: str, *args: str,
                 extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(worker_cmd(url, exproot, *args), env={**env, **(extra_env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy (a synchronisation point, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def job_dir(exproot: str, url: str, job_id: int) -> str:
    """Where a job's directory is for the first table to use ``exproot`` (see worker/dirnames.py)."""
    with open_db(url) as store:
        return os.path.join(os.path.realpath(exproot), path_component(store.dbname), store.table, str(job_id))


def read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()
