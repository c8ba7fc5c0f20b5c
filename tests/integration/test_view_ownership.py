"""``jobman sqlview`` replaces only the views it registered for the table: an unrelated view of
the same name (a user's own, another table's) gets a one-line refusal, exit 2, and is left as it
was, unless ``--replace``; its own view is rebuilt as before."""
from __future__ import annotations

import subprocess
import sys

from jobstore.store import open_db
from tests.helpers.rawsql import raw_query

EXP = "tutorial_exp.experiment"


def jobman(cli_env: dict, cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=cli_env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def view_columns(url: str, view: str) -> list[str]:
    if url.startswith("sqlite"):
        return [r[1] for r in raw_query(url, f"PRAGMA table_info({view})")]
    return [r[0] for r in raw_query(url, "SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = %s ORDER BY ordinal_position", (view,))]


def test_an_unrelated_view_is_not_replaced_without_replace(db_url, tmp_path, cli_env):
    assert jobman(cli_env, tmp_path, "sqlschedule", db_url, EXP, "n_hidden=5").returncode == 0
    raw_query(db_url, "CREATE VIEW mine AS SELECT 42 AS answer")
    p = jobman(cli_env, tmp_path, "sqlview", db_url, "mine")
    assert p.returncode == 2, p.stderr
    [line] = p.stderr.splitlines()
    assert "'mine'" in line and "--replace" in line and "Traceback" not in p.stderr
    assert view_columns(db_url, "mine") == ["answer"]
    with open_db(db_url) as db:
        assert db.views() == []

    p = jobman(cli_env, tmp_path, "sqlview", "--replace", db_url, "mine")
    assert p.returncode == 0, p.stderr
    assert "nhidden" in view_columns(db_url, "mine")
    p = jobman(cli_env, tmp_path, "sqlview", db_url, "mine")  # now ours: rebuilt without --replace
    assert p.returncode == 0, p.stderr


def test_another_tables_view_is_not_taken(db_url, tmp_path, cli_env):
    other = db_url.replace("table=jobs", "table=other")
    assert jobman(cli_env, tmp_path, "sqlschedule", db_url, EXP, "a=1").returncode == 0
    assert jobman(cli_env, tmp_path, "sqlschedule", other, EXP, "b=1").returncode == 0
    assert jobman(cli_env, tmp_path, "sqlview", other, "shared_v").returncode == 0
    p = jobman(cli_env, tmp_path, "sqlview", db_url, "shared_v")
    assert p.returncode == 2 and "'shared_v'" in p.stderr
    assert "b" in view_columns(db_url, "shared_v") and "a" not in view_columns(db_url, "shared_v")
