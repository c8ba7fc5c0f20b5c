"""The worker under concurrency and faults: many workers on one table (every job exactly once),
kill -9 of a worker (lease expiry, reclaim, fencing of the dead attempt), SIGTERM with a
checkpointing experiment (requeue and resume), a PostgreSQL restart mid-run, a job canceled
while it runs."""
from __future__ import annotations

import collections
import json
import os
import signal
import time

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.experiments import worker_exps
from tests.helpers.worker import insert, job_dir, read, run_worker, start_worker, wait_for


def _execution_counts(log_path: str) -> collections.Counter:
    if not os.path.exists(log_path):
        return collections.Counter()
    return collections.Counter(int(line.split()[0]) for line in read(log_path).splitlines() if line)


def _finish_all(procs, timeout_s: float = 600) -> list[tuple[int, str, str]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout_s)
        results.append((p.returncode, out, err))
    return results


def _run_many(url: str, root: str, env: dict, n_workers: int, *args: str) -> list[tuple[int, str, str]]:
    procs = [start_worker(env, url, root, "-n", "0", *args) for _ in range(n_workers)]
    return _finish_all(procs)


@pytest.mark.slow
@pytest.mark.parametrize("dialect, n_jobs, n_workers", [("postgresql", 2000, 16), ("sqlite", 300, 4)])
def test_every_job_runs_exactly_once(request, tmp_path, cli_env, dialect, n_jobs, n_workers):
    url = request.getfixturevalue("pg_url") if dialect == "postgresql" else request.getfixturevalue("sqlite_url")
    log = str(tmp_path / "executions.log")
    ids = insert(url, "record", [{"i": i, "log_path": log} for i in range(n_jobs)])
    results = _run_many(url, str(tmp_path / "root"), cli_env, n_workers)
    for rc, _out, err in results:
        assert rc == 0, err
    ran = sum(int(out.count("Selected job id=")) for _, out, _ in results)
    counts = _execution_counts(log)
    assert ran == n_jobs
    assert sorted(counts) == sorted(ids)  # none left
    assert set(counts.values()) == {1}  # none twice
    with open_db(url) as store:
        assert store.count_by_status() == {st.DONE: n_jobs}
        assert {j.attempt for j in store.jobs(statuses=[st.DONE])} == {1}


@pytest.mark.slow
def test_killed_worker_job_is_reclaimed_and_late_writes_refused(pg_url, tmp_path, cli_env):
    [i] = insert(pg_url, "sleepy", [{"seconds": 2.0}])
    root = str(tmp_path / "root")
    opts = ("--lease", "2", "--heartbeat", "0.5")
    a = start_worker(cli_env, pg_url, root, "-n", "1", *opts)
    started = os.path.join(job_dir(root, pg_url, i), "started")
    wait_for(lambda: os.path.exists(started), what="the first attempt to start")
    with open_db(pg_url) as store:
        first = store.get(i)
    assert first.status == st.RUNNING and first.attempt == 1
    os.kill(a.pid, signal.SIGKILL)
    a.communicate()
    # nobody renews the lease now: wait until it has expired on the database clock
    wait_for(lambda: _pg_scalar(pg_url, "SELECT lease_until < now() FROM jobs WHERE id = %s", (i,)),
             timeout_s=30, what="the dead worker's lease to expire")
    b = run_worker(cli_env, pg_url, root, "-n", "0", *opts, timeout=120)
    assert b.returncode == 0, b.stderr
    assert f"Selected job id={i}" in b.stdout
    with open_db(pg_url) as store:
        job = store.get(i)
        assert job.status == st.DONE and job.state.get("slept") is True
        assert job.attempt >= 2
        pids = read(started).split()
        assert len(pids) == 2 and pids[0] == str(a.pid)
        # the dead attempt's late writes are refused and change nothing
        assert store.heartbeat(i, 1, 60) is False
        assert store.save(i, 1, {"seconds": 2.0, "late": True}, 60) is False
        assert store.finish(i, 1, status=st.ERR_RUN, end_reason="error", state={"late": True}, error="late") is False
        after = store.get(i)
        assert after.status == st.DONE and "late" not in after.state and after.attempt == job.attempt


def _pg_scalar(url: str, sql: str, params: tuple = ()):
    import psycopg

    with psycopg.connect(url.split("?")[0]) as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_sigterm_checkpoints_requeues_and_resumes(request, tmp_path, cli_env, dialect):
    url = request.getfixturevalue("pg_url") if dialect == "postgresql" else request.getfixturevalue("sqlite_url")
    steps = 40
    [i] = insert(url, "checkpointed", [{"steps": steps, "step_s": 0.05}])
    [other] = insert(url, "noop", [{"x": "fresh"}])
    root = str(tmp_path / "root")
    a = start_worker(cli_env, url, root, "-n", "0")
    progress = os.path.join(job_dir(root, url, i), "progress")
    wait_for(lambda: os.path.exists(progress) and int(read(progress) or 0) >= 5, what="some progress")
    a.send_signal(signal.SIGTERM)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 0, err
    assert "stopped by SIGTERM" in err
    with open_db(url) as store:
        job = store.get(i)
        assert job.status == st.START and job.priority >= 2.0 and job.end_reason == "preempted"
        assert 5 <= job.state["checkpoint_step"] < steps
        assert store.get(other).status == st.START  # no job claimed after the stop signal
    ck = json.loads(read(os.path.join(job_dir(root, url, i), "checkpoint.json")))
    b = run_worker(cli_env, url, root, "-n", "1")
    assert b.returncode == 0, b.stderr
    assert f"Selected job id={i}" in b.stdout  # the requeued job is resumed first
    with open_db(url) as store:
        job = store.get(i)
        assert job.status == st.DONE and job.attempt == 2
        assert job.state["resumed_at"] == [ck["i"]]
        assert job.state["result"] == worker_exps.iterate(steps)


@pytest.mark.slow
def test_postgres_restart_while_workers_run(pg_server, pg_url, tmp_path, cli_env):
    n_jobs = 400
    log = str(tmp_path / "executions.log")
    ids = insert(pg_url, "record", [{"i": i, "log_path": log, "sleep_s": 0.02} for i in range(n_jobs)])
    root = str(tmp_path / "root")
    opts = ("--lease", "5", "--heartbeat", "1")
    procs = [start_worker(cli_env, pg_url, root, "-n", "0", *opts) for _ in range(4)]
    wait_for(lambda: sum(_execution_counts(log).values()) >= 40, what="workers to get going")
    pg_server.restart(down_s=2)
    assert sum(_execution_counts(log).values()) < n_jobs  # the restart happened mid-run
    results = _finish_all(procs)
    # A claim whose reply was lost with the connection leaves its job RUNNING until the lease
    # expires; one more worker after that picks up whatever is left.
    wait_for(lambda: not _pg_scalar(pg_url, "SELECT count(*) FROM jobs WHERE status = 1 AND lease_until >= now()"),
             timeout_s=30, what="leases of lost claims to expire")
    last = run_worker(cli_env, pg_url, root, "-n", "0", *opts)
    assert last.returncode == 0, last.stderr
    for rc, _out, err in results:
        assert rc == 0, err
    counts = _execution_counts(log)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    with open_db(pg_url) as store:
        assert store.count_by_status() == {st.DONE: n_jobs}


@pytest.mark.slow
def test_job_canceled_while_running_stops_and_its_end_is_refused(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "sleepy", [{"seconds": 30}])
    root = str(tmp_path / "root")
    a = start_worker(cli_env, db_url, root, "-n", "0", "--lease", "4", "--heartbeat", "0.2")
    started = os.path.join(job_dir(root, db_url, i), "started")
    wait_for(lambda: os.path.exists(started), what="the job to start")
    with open_db(db_url) as store:
        assert store.set_status([i], st.CANCELED) == 1
    out, err = a.communicate(timeout=60)
    assert a.returncode == 1
    assert "no longer holds the job" in err and "result-1.json" in err
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.CANCELED and "stopped" not in job.state
    kept = json.loads(read(os.path.join(job_dir(root, db_url, i), "result-1.json")))
    assert kept["status"] == st.START and kept["state"]["stopped"] is True


@pytest.mark.slow
def test_heartbeat_keeps_a_job_longer_than_its_lease(pg_url, tmp_path, cli_env):
    [i] = insert(pg_url, "sleepy", [{"seconds": 3.0}])
    root = str(tmp_path / "root")
    opts = ("--lease", "1", "--heartbeat", "0.25")
    a = start_worker(cli_env, pg_url, root, "-n", "1", *opts)
    started = os.path.join(job_dir(root, pg_url, i), "started")
    wait_for(lambda: os.path.exists(started), what="the job to start")
    thieves = []
    while a.poll() is None:  # other workers keep trying to claim while it runs past its lease
        thieves.append(run_worker(cli_env, pg_url, root, "-n", "0", *opts))
    a.communicate()
    assert a.returncode == 0
    assert len(thieves) >= 1
    assert all("No more jobs to run (ran 0 jobs)" in t.stdout for t in thieves)
    with open_db(pg_url) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.attempt == 1 and job.state["slept"] is True


@pytest.mark.slow
def test_second_sigint_interrupts_an_experiment_that_never_polls(db_url, tmp_path, cli_env):
    [i, other] = insert(db_url, "stubborn", [{"seconds": 60}, {"seconds": 0}])
    root = str(tmp_path / "root")
    a = start_worker(cli_env, db_url, root, "-n", "0")
    started = os.path.join(job_dir(root, db_url, i), "started")
    wait_for(lambda: os.path.exists(started), what="the job to start")
    a.send_signal(signal.SIGINT)
    time.sleep(0.3)  # the first SIGINT is only recorded; the experiment does not look
    assert a.poll() is None
    a.send_signal(signal.SIGINT)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 130
    with open_db(db_url) as store:
        job = store.get(i)
        assert job.status == st.START and job.end_reason == "preempted"  # never left RUNNING
        assert store.get(other).status == st.START
    assert "KeyboardInterrupt" in read(os.path.join(job_dir(root, db_url, i), "stderr"))


@pytest.mark.slow
def test_result_kept_when_the_database_stays_down(pg_server, pg_url, tmp_path, cli_env):
    """The database goes away for longer than the retries: the worker keeps the result in the
    job's result-1.json, says so, and exits 1; the job is not lost (its lease expires and it is
    claimable again once the database is back). $JOBMAN_RETRY_TOTAL shortens the retries from 60 s
    to 3 s; the worker keeps its 10-minute --connect-timeout, so a reconnect that waited for that
    instead of the retry total would overrun communicate()'s timeout."""
    [i] = insert(pg_url, "sleepy", [{"seconds": 1.0}])
    root = str(tmp_path / "root")
    a = start_worker(cli_env, pg_url, root, "-n", "0", "--lease", "2", "--heartbeat", "0.5",
                     extra_env={"JOBMAN_RETRY_TOTAL": "3"})
    started = os.path.join(job_dir(root, pg_url, i), "started")
    wait_for(lambda: os.path.exists(started), what="the job to start")
    pg_server.stop()
    try:
        out, err = a.communicate(timeout=120)
    finally:
        pg_server.start()
    assert a.returncode == 1
    kept_path = os.path.join(job_dir(root, pg_url, i), "result-1.json")
    assert f"job {i}: cannot record its end (DONE)" in err and f"result kept in {kept_path}" in err
    assert f"1 of 1 jobs failed: ids {i} (DONE, not recorded)" in err
    assert "still refused after 3 s" in err  # the reconnect waited $JOBMAN_RETRY_TOTAL
    kept = json.loads(read(kept_path))
    assert kept["status"] == st.DONE and kept["state"]["slept"] is True and kept["attempt"] == 1
    b = run_worker(cli_env, pg_url, root, "-n", "0", "--lease", "2")
    assert b.returncode == 0, b.stderr
    with open_db(pg_url) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.attempt == 2
