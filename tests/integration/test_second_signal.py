"""Issue 14, item 3 (a stop signal always stops the worker): a second SIGTERM or SIGINT stops a
worker whose experiment never calls channel.switch(). Real worker processes, both dialects.

- the experiment is in Python (a ``time.sleep`` loop): it is interrupted, the job is handed back
  (START) and the worker exits 143 (SIGTERM) within seconds; the job then runs to DONE for the
  next worker once the experiment is changed;
- the experiment never lets the interrupt through (as if stuck in native code): the worker exits
  ABORT_GRACE_S after the second signal anyway; the job keeps its lease until it expires, then
  runs to DONE for the next worker."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from jobstore import status as st
from jobstore.store import open_db
from jobstore.worker.abort import ABORT_GRACE_S, DUPLICATE_WINDOW_S
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, job_dir, read, run_worker, start_worker, wait_for

# Generous bound on the exit after the second signal (the worker's Python start-up is not in it):
# a synchronisation timeout, not a timing assertion on the feature's speed.
EXIT_WITHIN_S = 10.0


def _start_and_signal_twice(env: dict, url: str, root: str, experiment: str, *opts: str,
                            sig: int = signal.SIGTERM) -> tuple[int, subprocess.Popen, str]:
    [i] = insert(url, f"fault_exps.{experiment}", [{"x": 1}])
    proc = start_worker(env, url, root, "-n", "0", *opts)
    wait_for(lambda: os.path.exists(os.path.join(job_dir(root, url, i), "started")), what="the job to start")
    proc.send_signal(sig)
    time.sleep(DUPLICATE_WINDOW_S + 0.5)  # the first only asks for a switch() that never comes; a second
    # SIGTERM sooner than DUPLICATE_WINDOW_S would be taken for the same one delivered twice
    assert proc.poll() is None
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the worker did not stop within {EXIT_WITHIN_S} s of the second signal") from None
    return i, proc, err


def _runs_to_done_once_changed(url: str, root: str, env: dict, job_id: int) -> None:
    raw_query(url, "UPDATE jobs SET experiment = %s WHERE id = %s", ("worker_exps.noop", job_id))
    proc = run_worker(env, url, root, "-n", "1")
    assert proc.returncode == 0, proc.stderr
    with open_db(url) as store:
        assert store.get(job_id).status == st.DONE


def test_a_second_sigterm_stops_an_experiment_that_never_polls_and_hands_the_job_back(db_url, tmp_path, cli_env):
    root = str(tmp_path / "root")
    i, proc, err = _start_and_signal_twice(cli_env, db_url, root, "never_polls")
    assert proc.returncode == 143, err
    assert "stop requested (SIGTERM)" in err and "Traceback" not in err
    with open_db(db_url) as store:
        job = store.get(i)
    assert (job.status, job.end_reason, job.lease_until) == (st.START, "preempted", None)
    assert "KeyboardInterrupt: second SIGTERM" in read(os.path.join(job_dir(root, db_url, i), "stderr"))
    _runs_to_done_once_changed(db_url, root, cli_env, i)


def test_an_experiment_that_swallows_the_interrupt_is_abandoned_to_its_lease(db_url, tmp_path, cli_env):
    root = str(tmp_path / "root")
    i, proc, err = _start_and_signal_twice(cli_env, db_url, root, "swallows_interrupts", "--lease", "3",
                                           "--heartbeat", "0.5")
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"did not return to Python within {ABORT_GRACE_S:g} s: exiting now" in err
    assert os.path.exists(os.path.join(job_dir(root, db_url, i), "interrupted"))
    with open_db(db_url) as store:
        assert store.get(i).status == st.RUNNING  # not handed back: its lease runs out instead
    wait_for(lambda: _lease_expired(db_url, i), timeout_s=30, what="the abandoned lease to expire")
    _runs_to_done_once_changed(db_url, root, cli_env, i)


def _lease_expired(url: str, job_id: int) -> bool:
    with open_db(url) as store:
        job = store.get(job_id)
    return job.lease_until is not None and job.lease_until < time.time()


def test_a_second_sigint_exits_130(sqlite_url, tmp_path, cli_env):
    root = str(tmp_path / "root")
    i, proc, err = _start_and_signal_twice(cli_env, sqlite_url, root, "never_polls", sig=signal.SIGINT)
    assert proc.returncode == 130, err
    with open_db(sqlite_url) as store:
        assert store.get(i).status == st.START
