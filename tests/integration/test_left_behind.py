"""No job left behind (issue 15, item 5): a `-n 0` worker with nothing to claim does not leave while
a job is leased by a worker presumed dead (no heartbeat for two intervals): it waits for that lease
to expire, then runs the job. A live worker's long job does not keep it waiting. Both dialects,
real worker processes, SIGKILL."""
from __future__ import annotations

import os
import signal

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, job_dir, run_worker, start_worker, wait_for

OPTS = ("--lease", "6", "--heartbeat", "1")


@pytest.mark.slow
def test_survivors_wait_for_the_jobs_of_killed_workers_and_run_them(db_url, tmp_path, cli_env):
    """6 workers on 6 jobs, 2 of them SIGKILLed mid-job: the 4 survivors (started together, each
    with nothing left to claim once its own job is done) run the 2 dead workers' jobs."""
    root = str(tmp_path / "root")
    ids = insert(db_url, "sleepy", [{"seconds": 4.0, "k": k} for k in range(6)])
    workers = [start_worker(cli_env, db_url, root, "-n", "0", *OPTS) for _ in range(6)]
    started = [os.path.join(job_dir(root, db_url, i), "started") for i in ids]
    wait_for(lambda: all(os.path.exists(p) for p in started), 60, "every job to start")
    pids = {int(open(p).read().split()[0]): i for p, i in zip(started, ids)}
    killed = [w for w in workers if w.pid in pids][:2]
    assert len(killed) == 2  # the experiment runs in the worker process itself
    for w in killed:
        os.kill(w.pid, signal.SIGKILL)
        w.communicate()
    survivors = [w for w in workers if w not in killed]
    results = [w.communicate(timeout=120) for w in survivors]
    assert [w.returncode for w in survivors] == [0] * 4, [e for _, e in results]
    waited = [e for _, e in results if "still leased by workers presumed dead" in e]
    assert waited  # at least one survivor said why it stayed
    with open_db(db_url) as store:
        assert store.count_by_status() == {st.DONE: 6}  # nothing left in START or RUNNING
        dead_jobs = [pids[w.pid] for w in killed]
        for i in dead_jobs:
            job = store.get(i)
            assert job.attempt == 2 and job.extra["losses"] == 1 and job.state["slept"] is True


@pytest.mark.slow
def test_a_live_workers_long_job_does_not_keep_another_waiting(db_url, tmp_path, cli_env):
    root = str(tmp_path / "root")
    [i] = insert(db_url, "sleepy", [{"seconds": 120.0}])
    a = start_worker(cli_env, db_url, root, "-n", "0", *OPTS)
    wait_for(lambda: os.path.exists(os.path.join(job_dir(root, db_url, i), "started")), 60, "the job to start")
    b = run_worker(cli_env, db_url, root, "-n", "0", *OPTS, timeout=120)
    assert b.returncode == 0, b.stderr
    assert "No more jobs to run (ran 0 jobs)" in b.stdout and "presumed dead" not in b.stderr
    with open_db(db_url) as store:
        assert store.get(i).status == st.RUNNING  # a still holds it
    a.send_signal(signal.SIGTERM)
    a.communicate(timeout=60)
    with open_db(db_url) as store:
        assert store.get(i).status == st.START  # handed back by its live worker
