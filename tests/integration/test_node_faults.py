"""Issue 14, item 6: one bad node does not drain the queue. A full EXPROOT is refused before the
first claim; a job directory that cannot be made (a read-only file system under EXPROOT) hands its
job back untouched and stops the worker. Real file systems: small tmpfs mounts made here (the
tests run as root) and unmounted afterwards."""
from __future__ import annotations

import os

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.mounts import fill, tmpfs
from tests.helpers.worker import insert, run_worker


def test_a_full_exproot_is_refused_before_any_claim(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": k} for k in range(5)])
    with tmpfs(str(tmp_path / "root"), "size=256k,mode=0700") as root:
        fill(root)
        proc = run_worker(cli_env, db_url, root, "-n", "0", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is not writable here" in proc.stderr and "no job was claimed" in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        assert {(j.status, j.attempt) for j in store.jobs(ids=ids)} == {(st.START, 0)}


def test_a_job_directory_that_cannot_be_made_hands_the_job_back(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": k} for k in range(5)])
    with open_db(db_url) as store:  # the first job's directory, a read-only mount
        first_dir = os.path.join(str(tmp_path / "root"), store.dbname, store.table, str(ids[0]))
    with tmpfs(first_dir, "ro,size=64k,mode=0700"):
        proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot write the job directory" in proc.stderr and "handed back" in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        jobs = store.jobs(ids=ids)
    assert [j.status for j in jobs] == [st.START] * 5  # none ERR_START: the queue is intact
    assert sum(j.attempt for j in jobs) == 1 and jobs[0].end_reason == "handed-back"
