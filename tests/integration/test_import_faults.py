"""Issue 14, item 3: an experiment's import is watched. A module that calls sys.exit() at import
fails its job (ERR_START, with why) and the worker goes on; one that hangs keeps its lease (no
second worker takes the job), is bounded by --import-timeout (ERR_START, the worker stops), and a
stop signal during the import stops the worker with the job handed back. Both dialects."""
from __future__ import annotations

import os
import signal

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, read, run_worker, start_worker, wait_for


def test_sys_exit_at_import_fails_the_job_and_the_worker_goes_on(db_url, tmp_path, cli_env):
    bad, = insert(db_url, "exits_at_import.experiment", [{"k": 1}])
    good, = insert(db_url, "noop", [{"k": 2}])
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=120)
    assert "ran 2 jobs" in proc.stdout, proc.stdout + proc.stderr
    with open_db(db_url) as store:
        job = store.get(bad)
        assert store.get(good).status == st.DONE
    assert job.status == st.ERR_START and "called sys.exit(3)" in job.error


def test_a_hanging_import_keeps_its_lease_and_is_bounded(db_url, tmp_path, cli_env):
    marker = str(tmp_path / "importing")
    env = {**cli_env, "HANG_MARKER": marker, "HANG_S": "30"}
    i, = insert(db_url, "hangs_at_import.experiment", [{"k": 1}])
    root = str(tmp_path / "root")
    first = start_worker(env, db_url, root, "-n", "0", "--lease", "1", "--heartbeat", "0.2",
                         "--import-timeout", "4")
    wait_for(lambda: os.path.exists(marker), what="the import to begin")
    second = run_worker(cli_env, db_url, root, "-n", "0", "--lease", "1", timeout=60)
    assert "ran 0 jobs" in second.stdout, second.stdout + second.stderr  # past the first lease, still held
    _out, err = first.communicate(timeout=60)
    assert first.returncode != 0 and "did not finish within 4 s" in err, err
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.ERR_START and "--import-timeout" in job.error and job.attempt == 1
    assert read(marker).count("\n") == 1  # imported once: no second worker hung on it


def test_sigterm_during_a_hanging_import_stops_the_worker(db_url, tmp_path, cli_env):
    marker = str(tmp_path / "importing")
    i, = insert(db_url, "hangs_at_import.experiment", [{"k": 1}])
    a = start_worker({**cli_env, "HANG_MARKER": marker}, db_url, str(tmp_path / "root"), "-n", "0")
    wait_for(lambda: os.path.exists(marker), what="the import to begin")
    a.send_signal(signal.SIGTERM)
    _out, err = a.communicate(timeout=30)
    assert "stopped by SIGTERM" in err, err
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.START and job.lease_until is None
