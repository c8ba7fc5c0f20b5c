"""A new user's first hour (issue 19, item 7): one ^C on ``jobdispatch --local`` really cancels —
the real ``jobman sql`` workers it started get SIGTERM (their whole process groups), hand their jobs
back and are gone before it exits (or are killed after a bounded wait), and it says what became of
them."""
from __future__ import annotations

import os
import signal
import subprocess

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.dispatch import VENV_BIN, alive, dispatch_env, only_launch, task_pid
from tests.helpers.worker import insert, job_dir, read, wait_for


def _started(exproot: str, url: str, ids: list[int]) -> list[int]:
    return [i for i in ids if os.path.exists(os.path.join(job_dir(exproot, url, i), "started"))]


def _interrupt_local_launch(url: str, tmp_path, cli_env, experiment: str, tasks: int, **env: str):
    """Launch ``tasks`` workers (two at a time) on four jobs of ``experiment``, ^C the dispatcher once
    two jobs run; return (dispatcher, stderr, pids of launchers and workers, job ids, launch dir)."""
    ids = insert(url, experiment, [{"seconds": 120, "k": k} for k in range(4)])
    exproot = str(tmp_path / "root")
    proc = subprocess.Popen([os.path.join(VENV_BIN, "jobdispatch"), "--local", "--nb_proc=2",
                             f"--repeat_jobs={tasks}", "jobman", "sql", "-n", "0", url, exproot],
                            env=dispatch_env(cli_env, **env), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(_started(exproot, url, ids)) == 2, 120, "two workers to start a job")
        launch = only_launch(tmp_path)
        pids = [task_pid(launch, n) for n in (0, 1)]
        with open_db(url, create=False) as store:
            pids += [int(j.state["jobman.sql.pid"]) for j in store.jobs(statuses=[st.RUNNING])]
        proc.send_signal(signal.SIGINT)  # ^C: the terminal signals the dispatcher's process group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, err, pids, ids, launch


def test_one_interrupt_stops_the_workers_and_their_jobs_go_back(sqlite_url, tmp_path, cli_env):
    proc, err, pids, ids, launch = _interrupt_local_launch(sqlite_url, tmp_path, cli_env, "sleepy", 3)
    assert proc.returncode == 130, err
    assert len(pids) == 4 and not [p for p in pids if alive(p)]
    with open_db(sqlite_url, create=False) as store:
        jobs = store.jobs()
    assert [j.status for j in jobs] == [st.START] * 4, [(j.id, j.status, j.end_reason) for j in jobs]
    assert sorted(j.id for j in jobs if j.state.get("stopped")) == ids[:2]  # handed back by the experiment
    assert "canceled: 2 tasks stopped by SIGTERM" in err and "1 task never started" in err, err
    assert "unfinished tasks canceled" not in err
    logs = read(str(launch / "0.err")) + read(str(launch / "1.err"))
    assert logs.count("INCOMPLETE, requeued") == 2 and "stopped by SIGTERM after handing back its job (1 job run)" in logs


def test_a_worker_that_does_not_stop_is_killed_after_the_grace_period(sqlite_url, tmp_path, cli_env):
    proc, err, pids, ids, _ = _interrupt_local_launch(sqlite_url, tmp_path, cli_env, "stubborn", 2,
                                                      JOBDISPATCH_CANCEL_GRACE_S="1")
    assert proc.returncode == 130, err
    assert not [p for p in pids if alive(p)]
    assert "canceled: 2 tasks killed (SIGKILL) after 1" in err and "stay RUNNING until their lease expires" in err
    with open_db(sqlite_url, create=False) as store:
        statuses = [j.status for j in store.jobs()]
    assert statuses == [st.RUNNING, st.RUNNING, st.START, st.START]  # not DONE: nothing ran on


def test_a_bad_grace_period_is_one_line(tmp_path, cli_env):
    proc = subprocess.run([os.path.join(VENV_BIN, "jobdispatch"), "--local", "true"], cwd=tmp_path,
                          env=dispatch_env(cli_env, JOBDISPATCH_CANCEL_GRACE_S="soon"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "'soon'" in proc.stderr and "JOBDISPATCH_CANCEL_GRACE_S" in proc.stderr
    assert not (tmp_path / "LOGS").exists() or not any((tmp_path / "LOGS").iterdir())
