"""A new user's first hour (issue 19): the traps of the tour, each checked through the real
command line against PostgreSQL and SQLite — what the tool says (one line, the bad value, what
would work), its exit status, and that the table is left as it was."""
from __future__ import annotations

import os

import pytest

from jobstore import status as st
from jobstore.errors import DatabaseError
from jobstore.store import open_db
from tests.helpers.worker import insert, job_dir, read, run_worker


def jobman(env: dict, *args: str, cwd: str | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def one_line_error(proc, *words: str, rc: int = 2) -> str:
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# -- 1. only the scheduling commands create tables -------------------------------------------------
@pytest.mark.parametrize("command", [
    ("sql", "-n", "0"), ("worker",), ("sqlview",), ("sqlstatus",), ("export",), ("plot",)])
def test_a_misspelt_table_is_refused_and_not_created(command, db_url, tmp_path, cli_env):
    insert(db_url, "noop", [{"x": 1}])
    bad = db_url.replace("table=jobs", "table=slect")
    name, *opts = command
    tail = {"sql": [str(tmp_path)], "worker": [str(tmp_path)], "sqlview": ["slect_view"],
            "plot": ["y", "x", "-o", str(tmp_path / "p.png")]}.get(name, [])
    proc = jobman(cli_env, name, *opts, bad, *tail)
    one_line_error(proc, "no job table 'slect'", "tables here: jobs", "sqlschedule")
    assert "ran 0 jobs" not in proc.stdout
    with pytest.raises(DatabaseError, match="no job table 'slect'"):
        open_db(bad, create=False)
    with open_db(db_url, create=False) as store:
        assert [j.status for j in store.jobs()] == [st.START]


def test_a_worker_on_a_missing_sqlite_file_leaves_no_file(tmp_path, cli_env):
    path = tmp_path / "sweep.db"
    proc = jobman(cli_env, "sql", f"sqlite:///{path}?table=mlp_dumi", str(tmp_path))
    one_line_error(proc, "no job table 'mlp_dumi'", str(path), "does not exist")
    assert not path.exists()
