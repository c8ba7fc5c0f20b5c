"""Keys that cannot both be in a job are refused when it is scheduled, by ``sqlschedule``,
``sqlschedules`` (every combination of a sweep checked before anything is inserted) and the Python
API: one line naming both keys, exit 2, no traceback, nothing written."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jobstore.errors import ParamError
from jobstore.sql import insert_job
from jobstore.store import open_db
from tests.helpers.paths import EXPERIMENTS_DIR

EXP = "tutorial_exp.experiment"
CONFLICTS = [
    (["a.b=1", "a={'b':2}"], ("'a.b'", "'a'")),
    (["a=1", "a.b=2"], ("'a'", "'a.b'")),
    (["a.b.c=1", "a=3"], ("'a'", "'a.b.c'")),
]


def jobman(cli_env: dict, cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=cli_env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def count_jobs(url: str) -> int:
    with open_db(url) as db:
        return len(db.jobs())


@pytest.mark.parametrize("params,keys", CONFLICTS)
@pytest.mark.parametrize("command", ["sqlschedule", "sqlschedules"])
def test_conflicting_keys_are_refused(db_url, tmp_path, cli_env, command, params, keys):
    first = jobman(cli_env, tmp_path, "sqlschedule", db_url, EXP, "x=1")
    assert first.returncode == 0, first.stderr
    p = jobman(cli_env, tmp_path, command, db_url, EXP, *params)
    assert p.returncode == 2, p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr
    [line] = p.stderr.splitlines()
    assert "conflicting keys" in line and all(k in line for k in keys), line
    assert count_jobs(db_url) == 1


def test_one_conflicting_combination_stops_the_whole_sweep(db_url, tmp_path, cli_env):
    """``a.c=1`` goes with ``a={'b':2}``; ``a.b=1`` does not: neither job is inserted."""
    p = jobman(cli_env, tmp_path, "sqlschedules", db_url, EXP, "a={'b':2}", "a.{{c,b}}=1")
    assert p.returncode == 2, p.stderr
    assert "'a.b'" in p.stderr and "'a'" in p.stderr and len(p.stderr.splitlines()) == 1
    p = jobman(cli_env, tmp_path, "sqlschedules", db_url, EXP, "a={'b':2}", "a.{{c,d}}=1")
    assert p.returncode == 0, p.stderr
    assert count_jobs(db_url) == 2


def test_insert_job_refuses_a_conflict(db_url, monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS_DIR))
    with open_db(db_url, create=True) as db:
        with pytest.raises(ParamError, match="conflicting keys 'a' and 'a.b'"):
            insert_job(EXP, {"a": 1, "a.b": 2}, db)
        assert db.jobs() == []


def test_a_builder_and_its_arguments_do_not_conflict(db_url, tmp_path, cli_env):
    p = jobman(cli_env, tmp_path, "sqlschedule", db_url, EXP, "opt::pkg.Adam", "opt.lr=0.1", "d={'x':1}", "d.y=2")
    assert p.returncode == 0, p.stderr
    with open_db(db_url) as db:
        [job] = db.jobs()
    assert job.state["opt.lr"] == 0.1 and job.state["d.y"] == 2
