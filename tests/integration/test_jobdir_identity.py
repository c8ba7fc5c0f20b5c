"""Issue 14, item 7: job directories carry the table's identity. Two SQLite files with the same
basename, a table dropped and made again, a database named ``../../x``: no job ever runs beside
another job's files, and no job directory lands outside EXPROOT."""
from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import quote

from jobstore import status as st
from jobstore.store import open_db
from jobstore.worker.dirnames import TABLE_MARKER
from tests.experiments.worker_exps import iterate as _iterate
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, run_worker

WORKDIR = "jobman.sql.host_workdir"


def _run_one(env: dict[str, str], url: str, exproot: str, steps: int) -> dict:
    """Schedule one ``checkpointed`` job, run a worker; the job's final state (it must be DONE)."""
    [job_id] = insert(url, "checkpointed", [{"steps": steps, "step_s": 0}])
    proc = run_worker(env, url, exproot, "-n", "0", timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open_db(url) as store:
        job = store.get(job_id)
    assert job is not None and job.status == st.DONE, job
    return job.state


def _leave_checkpoint(job_dir: str) -> None:
    """What an interrupted run of that job would have left: a checkpoint at step 2."""
    with open(os.path.join(job_dir, "checkpoint.json"), "w") as f:
        json.dump({"i": 2, "x": 0}, f)


def _drop_job_table(url: str) -> None:
    """DROP the table and its side tables, as a user starting over would."""
    if url.startswith("sqlite"):
        names = raw_query(url, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'jobs%'")
    else:
        names = raw_query(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'jobs%%'")
    for (name,) in names:
        raw_query(url, f'DROP TABLE "{name}"')


def test_same_basename_sqlite_files_do_not_share_job_dirs(tmp_path, cli_env):
    root = str(tmp_path / "root")
    url_a = f"sqlite:///{tmp_path}/a/exp.db?table=jobs"
    url_b = f"sqlite:///{tmp_path}/b/exp.db?table=jobs"
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    a = _run_one(cli_env, url_a, root, 3)
    _leave_checkpoint(a[WORKDIR])
    b = _run_one(cli_env, url_b, root, 4)
    assert a[WORKDIR] != b[WORKDIR] and os.path.dirname(b[WORKDIR]).endswith("/exp/jobs@" + b[WORKDIR].split("@")[1][:8])
    assert b["resumed_at"] == [] and b["result"] == _iterate(4)  # not resumed from a's checkpoint
    with open(os.path.join(b[WORKDIR], "orig.conf")) as f:
        assert "steps = 4" in f.read()
    with open(os.path.join(os.path.dirname(b[WORKDIR]), TABLE_MARKER)) as f:
        assert f"{tmp_path}/b/exp.db" in json.load(f)["database"]
    again = _run_one(cli_env, url_a, root, 5)  # a's own jobs keep going to a's directory
    assert os.path.dirname(again[WORKDIR]) == os.path.dirname(a[WORKDIR])


def test_a_recreated_table_does_not_reuse_the_old_job_dirs(db_url, tmp_path, cli_env):
    root = str(tmp_path / "root")
    old = _run_one(cli_env, db_url, root, 3)
    _leave_checkpoint(old[WORKDIR])
    _drop_job_table(db_url)
    new = _run_one(cli_env, db_url, root, 3)
    assert new["jobman.id"] == old["jobman.id"]  # the same id again...
    assert new[WORKDIR] != old[WORKDIR]  # ...in a directory of its own
    assert new["resumed_at"] == [] and new["result"] == _iterate(3)
    assert os.path.exists(os.path.join(old[WORKDIR], "checkpoint.json"))  # the old files untouched


def test_a_database_named_dot_dot_stays_under_exproot(pg_server, tmp_path, cli_env):
    name = "../../x" + os.urandom(3).hex()
    pg_server.createdb(name)
    try:
        url = pg_server.url(quote(name, safe=""))
        root = os.path.realpath(tmp_path / "root" / "a" / "b")
        state = _run_one(cli_env, url, root, 2)
    finally:
        pg_server.dropdb(name)
    assert state[WORKDIR].startswith(root + os.sep), state[WORKDIR]
    assert os.path.relpath(state[WORKDIR], root).split(os.sep)[0] == "%2E.%2F..%2Fx" + name[7:]
    assert sorted(os.listdir(tmp_path / "root")) == ["a"]  # nothing made beside EXPROOT


def test_an_unusable_table_dir_is_refused_before_any_claim(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": k} for k in range(3)])
    with open_db(db_url) as store:
        table_dir = os.path.join(str(tmp_path / "root"), store.dbname, store.table)
    os.makedirs(table_dir, mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k,mode=0700", "tmpfs", table_dir], check=True)
    try:
        proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=60)
    finally:
        subprocess.run(["umount", "-l", table_dir], check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot make the table's directory" in proc.stderr and "no job was claimed" in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        assert {(j.status, j.attempt) for j in store.jobs(ids=ids)} == {(st.START, 0)}


def test_a_table_from_before_table_uuids_gets_one_on_first_use(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"k": 1}])
    raw_query(db_url, "DELETE FROM jobs__meta WHERE key = 'table_uuid'")  # as a table made by an older jobman
    root = str(tmp_path / "root")
    proc = run_worker(cli_env, db_url, root, "-n", "0", timeout=60)
    assert proc.returncode == 0, proc.stderr
    [(made,)] = raw_query(db_url, "SELECT value FROM jobs__meta WHERE key = 'table_uuid'")
    with open_db(db_url) as store:
        assert store.table_uuid() == made and store.get(ids[0]).status == st.DONE
        marker = os.path.join(root, store.dbname, store.table, TABLE_MARKER)
    with open(marker) as f:
        assert json.load(f)["table_uuid"] == made
