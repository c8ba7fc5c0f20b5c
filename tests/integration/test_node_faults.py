"""Issue 14, item 6: one bad node does not drain the queue. A full EXPROOT is refused before the
first claim; a job directory that cannot be made (a read-only file system under EXPROOT) hands its
job back untouched and stops the worker. Real file systems: small tmpfs mounts made here (the
tests run as root) and unmounted afterwards."""
from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, run_worker


@contextlib.contextmanager
def _tmpfs(path: str, options: str) -> Iterator[str]:
    os.makedirs(path, mode=0o700, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def _fill(path: str) -> None:
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_exproot_is_refused_before_any_claim(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": k} for k in range(5)])
    with _tmpfs(str(tmp_path / "root"), "size=256k,mode=0700") as root:
        _fill(root)
        proc = run_worker(cli_env, db_url, root, "-n", "0", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is not writable here" in proc.stderr and "no job was claimed" in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        assert {(j.status, j.attempt) for j in store.jobs(ids=ids)} == {(st.START, 0)}


def test_a_job_directory_that_cannot_be_made_hands_the_job_back(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": k} for k in range(5)])
    with open_db(db_url) as store:  # the first job's directory, a read-only mount
        first_dir = os.path.join(str(tmp_path / "root"), store.dbname, store.table, str(ids[0]))
    with _tmpfs(first_dir, "ro,size=64k,mode=0700"):
        proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot write the job directory" in proc.stderr and "handed back" in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        jobs = store.jobs(ids=ids)
    assert [j.status for j in jobs] == [st.START] * 5  # none ERR_START: the queue is intact
    assert sum(j.attempt for j in jobs) == 1 and jobs[0].end_reason == "handed-back"
