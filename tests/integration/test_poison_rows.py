"""Issue 14, item 1: a row whose state cannot be decoded (a JSON array as its state, a bad tag
in ``types``) is failed (ERR_START, with the reason) by the worker that claims it, which goes on
with the next job; every reading command shows it as ``<undecodable: reason>`` and it can be
canceled with the tool. Both dialects."""
from __future__ import annotations

import os
import subprocess
import sys

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, read, run_worker


def _jobman(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _poison(url: str, array_id: int, tag_id: int) -> None:
    cast = "::jsonb" if url.startswith("postgres") else ""
    raw_query(url, f"UPDATE jobs SET state = %s{cast} WHERE id = %s", ("[1, 2]", array_id))
    raw_query(url, f"UPDATE jobs SET types = %s{cast} WHERE id = %s", ('{"i": "zz"}', tag_id))


def test_an_undecodable_row_is_failed_and_the_worker_goes_on(db_url, tmp_path, cli_env):
    log = str(tmp_path / "executions.log")
    a, b, c = insert(db_url, "record", [{"i": i, "log_path": log} for i in range(3)])
    _poison(db_url, a, b)
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "No more jobs to run (ran 3 jobs)" in proc.stdout
    assert read(log).split()[0] == str(c)  # the good job ran, after the two poison rows
    with open_db(db_url) as store:
        bad = [store.get(a), store.get(b)]
        assert store.get(c).status == st.DONE
    assert [j.status for j in bad] == [st.ERR_START, st.ERR_START]
    assert "JSON list, not an object" in bad[0].error and "cannot be decoded" in bad[1].error
    assert all(j.undecodable for j in bad) and all(j.lease_until is None for j in bad)


def test_reading_commands_show_an_undecodable_row_and_cancel_it(db_url, tmp_path, cli_env):
    a, b, _c = insert(db_url, "record", [{"i": i, "log_path": "-"} for i in range(3)])
    _poison(db_url, a, b)
    raw_query(db_url, "UPDATE jobs SET status = 2 WHERE id = %s", (a,))  # a finished job damaged later
    listing = _jobman(cli_env, "sqlstatus", "--all", db_url)
    assert listing.returncode == 0, listing.stderr
    assert f"Job id {a}, status=2" in listing.stdout and "<undecodable: TypeError: the state is a JSON list" in listing.stdout
    summary = _jobman(cli_env, "sqlstatus", "--summary", db_url)
    assert summary.returncode == 0 and "Traceback" not in summary.stderr, summary.stderr
    out = tmp_path / "x.csv"
    export = _jobman(cli_env, "export", db_url, "-o", str(out))
    assert export.returncode == 0, export.stderr
    assert "<undecodable:" in out.read_text()
    plot = _jobman(cli_env, "plot", db_url, "i", "i", "-o", str(tmp_path / "p.png"))
    assert "Traceback" not in plot.stderr, plot.stderr
    cancel = _jobman(cli_env, "sqlstatus", "--set_status=CANCELED", db_url, str(a), str(b))
    assert cancel.returncode == 0, cancel.stderr
    with open_db(db_url) as store:
        assert {store.get(a).status, store.get(b).status} == {st.CANCELED}
    assert os.path.exists(out)
