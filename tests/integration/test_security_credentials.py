"""A password URL (``postgres://user:pw@host/db?table=t``) through ``jobdispatch --local`` and
``--slurm`` against the suite's PostgreSQL with scram-sha-256 password authentication: every job
DONE, and the password in no launched process's command line (/proc scanned while they run), no
file name, and no file but the launch's 0600 pgpass file. The ``jobdispatch`` process itself is not
scanned: its command line is what the user typed (``~/.pgpass`` keeps the password out of it too)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.secrets_scan import files_with, scan_while_running
from tests.helpers.worker import insert, wait_for

PASSWORD = "Pw:s3cretZq8x"  # a ':' to exercise pgpass escaping
MARK = "s3cretZq8x"  # in the password whether it is written raw or percent-encoded
ROLE = "sweeper"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def password_url(pg_server):
    pg_server.add_password_role(ROLE, PASSWORD)
    db = pg_server.createdb(owner=ROLE)
    with pytest.raises(psycopg.OperationalError, match="password"):  # really password-protected
        psycopg.connect(host="127.0.0.1", port=pg_server.port, dbname=db, user=ROLE, passfile="/dev/null").close()
    yield pg_server.url(db, "jobs", ROLE, PASSWORD.replace(":", "%3A"))
    pg_server.dropdb(db)


def _env(cli_env, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in cli_env.items() if not k.startswith(("JOBDISPATCH_", "PG"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JOBDISPATCH_LOGDIR"] = str(tmp_path / "LOGS")
    env["HOME"] = str(tmp_path)  # no ~/.pgpass of the machine's user
    return env


def _check_no_leak(tmp_path: Path, password_url: str) -> Path:
    names, contents = files_with(tmp_path, MARK)
    assert names == []
    (launch,) = (tmp_path / "LOGS").iterdir()
    assert contents == [str(launch / "pgpass")]
    assert stat.S_IMODE((launch / "pgpass").stat().st_mode) == 0o600
    manifest = json.loads((launch / "manifest.json").read_text())
    assert manifest["resources"]["env"]["PGPASSFILE"] == str(launch / "pgpass")
    assert "pgpass" not in manifest["files"]
    with psycopg.connect(password_url.split("?")[0]) as c:
        rows = c.execute("select * from jobs").fetchall()
    assert rows and MARK not in repr(rows)
    return launch


def test_password_url_through_jobdispatch_local(password_url, tmp_path, cli_env):
    ids = insert(password_url, "sleepy", [{"seconds": 1.5, "i": i} for i in range(4)])
    exproot = tmp_path / "exproot"
    proc = subprocess.Popen([str(VENV_BIN / "jobdispatch"), "--local=2", "--repeat_jobs=2", "jobman", "sql", "-n",
                             "0", password_url, str(exproot)], env=_env(cli_env, tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    leaks, seen = scan_while_running(proc, MARK, "jobman", timeout_s=120)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert leaks == {} and seen > 0
    assert MARK not in out + err
    with open_db(password_url) as store:
        assert [store.get(i).status for i in ids] == [st.DONE] * 4
    _check_no_leak(tmp_path, password_url)


@pytest.mark.slurm
def test_password_url_through_jobdispatch_slurm(password_url, tmp_path, cli_env):
    root = Path(__file__).resolve().parents[2]
    up = subprocess.run(["bash", str(root / "tests" / "infra" / "slurm.sh"), "up"], capture_output=True, text=True,
                        timeout=900)
    assert up.returncode == 0, up.stderr[-2000:]
    ids = insert(password_url, "sleepy", [{"seconds": 1.5, "i": i} for i in range(4)])
    exproot = tmp_path / "exproot"
    proc = subprocess.Popen([str(VENV_BIN / "jobdispatch"), "--slurm", "--repeat_jobs=2", "--mem=200M", "jobman",
                             "sql", "-n", "0", password_url, str(exproot)], env=_env(cli_env, tmp_path),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    launch = next((tmp_path / "LOGS").iterdir())
    leaks, seen = {}, 0
    # the array's tasks run after jobdispatch returned: scan until both wrote their exit status
    def ended() -> bool:
        nonlocal seen
        from tests.helpers.secrets_scan import cmdlines_with
        leaks.update(cmdlines_with(MARK, {os.getpid()}))
        seen += bool(cmdlines_with("jobman", {os.getpid()}))
        return len(list(launch.glob("*.rc"))) == 2
    wait_for(ended, 120, "the 2 SLURM tasks to end")
    assert leaks == {} and seen > 0
    assert [p.read_text().strip() for p in sorted(launch.glob("*.rc"))] == ["0", "0"]
    with open_db(password_url) as store:
        assert [store.get(i).status for i in ids] == [st.DONE] * 4
    _check_no_leak(tmp_path, password_url)
