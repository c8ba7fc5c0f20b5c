"""Helpers for the search tests: register a search through the command line, read its jobs."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

from jobstore.store import open_db

BRANIN_SPACE = ("x1~uniform(-5,10)", "x2~uniform(0,15)")


def sqlsearch(env: dict[str, str], url: str, experiment: str, *args: str) -> subprocess.CompletedProcess:
    """``jobman sqlsearch URL search_exps.EXPERIMENT ARGS...`` in a subprocess."""
    cmd = [sys.executable, "-m", "jobstore.cli", "sqlsearch", url, f"search_exps.{experiment}", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def search_rows(url: str) -> dict[str, Any]:
    """The table as the tests check it: every job, and the (job, search) links."""
    with open_db(url) as store:
        jobs = store.jobs()
        conn_rows = store.db.run("links", lambda c: c.execute(  # type: ignore[attr-defined]
            f'SELECT job_id, search_id FROM "{store.table}__search_jobs" ORDER BY job_id').fetchall())
    return {"jobs": jobs, "links": [tuple(r) for r in conn_rows]}
