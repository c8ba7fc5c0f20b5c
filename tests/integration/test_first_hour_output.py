"""A new user's first hour (issue 19, item 12, the rest): times in views as ISO 8601 text beside
the epoch seconds, and 'did you mean' for a misspelt key in --select, --print and --best — through
the real command line, on PostgreSQL and SQLite."""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys

import psycopg
import pytest

from jobstore.store import open_db
from jobstore.store.urls import parse_url
from tests.helpers.worker import insert, run_worker


def jobman(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def query(url: str, text: str) -> list[tuple]:
    u = parse_url(url)
    if u.dialect == "sqlite":
        with sqlite3.connect(u.path) as c:
            return c.execute(text).fetchall()
    with psycopg.connect(**u.conninfo()) as c:
        return c.execute(text).fetchall()


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_view_shows_each_time_as_iso_text_beside_its_epoch(db_url, tmp_path, cli_env):
    insert(db_url, "noop", [{"x": 1}])
    assert run_worker(cli_env, db_url, str(tmp_path)).returncode == 0
    made = jobman(cli_env, "sqlview", db_url, "v")
    assert made.returncode == 0, made.stderr
    for column in ("jobman_sql_starttime", "jobman_sql_endtime", "jobman_started", "jobman_ended"):
        assert f"{column}, {column}_iso" in made.stdout, made.stdout
    assert "jobman_runtime," in made.stdout and "jobman_runtime_iso" not in made.stdout  # a duration
    [(start, start_iso, ended, ended_iso, created_iso)] = query(
        db_url, "select jobman_sql_starttime, jobman_sql_starttime_iso, jobman_ended, jobman_ended_iso, "
                "jobman_created_iso from v")
    with open_db(db_url, create=False) as store:
        [job] = store.jobs()
    assert start == job.state["jobman.sql.start_time"] and start_iso == _utc(start)
    assert abs(ended - job.ended) < 1e-3 and ended_iso == _utc(job.ended)
    assert created_iso == _utc(job.created)


@pytest.mark.parametrize("option, bad, good", [
    ("--select=n_hiden=3", "n_hiden", "n_hidden"),
    ("--best=valid_eror", "valid_eror", "valid_error"),
])
def test_a_misspelt_key_is_one_line_with_did_you_mean(option, bad, good, db_url, cli_env):
    insert(db_url, "noop", [{"n_hidden": 3, "valid_error": 0.5}])
    args = [option, "--all", db_url] if not option.startswith("--best") else ["--summary", option, db_url]
    proc = jobman(cli_env, "sqlstatus", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"{bad!r}" in proc.stderr and f"did you mean {good!r}" in proc.stderr, proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("bad, good", [("n_hiden", "n_hidden"), ("eror", "error")])
def test_a_misspelt_print_key_keeps_jobmans_lines_and_warns(bad, good, db_url, cli_env):
    insert(db_url, "noop", [{"n_hidden": 3}])
    proc = jobman(cli_env, "sqlstatus", f"--print={bad}", "--all", db_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].endswith(f" {bad}=KeyDontExist")
    [warning] = proc.stderr.splitlines()
    assert warning.startswith(f"jobman sqlstatus: warning: no job has key {bad!r}")
    assert f"did you mean {good!r}" in warning


def test_a_key_absent_from_some_jobs_is_still_printed(db_url, cli_env):
    insert(db_url, "noop", [{"a": 1}, {"b": 2}])
    proc = jobman(cli_env, "sqlstatus", "--all", "--print=a", db_url)
    assert proc.returncode == 0 and proc.stdout.splitlines()[1].endswith(" a=KeyDontExist"), proc.stdout
