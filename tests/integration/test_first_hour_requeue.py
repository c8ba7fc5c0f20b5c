"""A new user's first hour (issue 19, item 10): rescheduling after a fix. Re-running
``sqlschedules`` names the jobs it skipped and the command that requeues them; that command clears
the old error from the row but keeps it in the job's history (``--traceback``); a hand-reset costs
no attempt and still fences out the worker that held the job. Through the real command line, on
PostgreSQL and SQLite."""
from __future__ import annotations

import shlex
import subprocess
import sys

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import run_worker


def jobman(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_rerun_names_the_skipped_jobs_and_the_requeue_keeps_their_errors(db_url, tmp_path, cli_env):
    first = jobman(cli_env, "sqlschedules", db_url, "worker_exps.fail", "x={{1,2,3}}")
    assert first.returncode == 0 and "Skipped" not in first.stderr, first.stderr
    assert run_worker(cli_env, db_url, str(tmp_path), "-n", "0").returncode == 1  # 3 x ERR_RUN

    again = jobman(cli_env, "sqlschedules", db_url, "worker_exps.fail", "x={{1,2,3,4}}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "Added 1 on 4 jobs"
    lines = again.stderr.splitlines()
    assert lines[0] == ("jobman sqlschedules: Skipped 3 jobs already in the table (3 existing rows): "
                        "3 ERR_RUN (ids 1-3)"), again.stderr
    prefix = "jobman sqlschedules: To run the failed or canceled ones again (their errors are kept in the job's history): "
    assert lines[1].startswith(prefix)
    command = shlex.split(lines[1][len(prefix):])
    assert command == ["jobman", "sqlstatus", "--set_status=START", db_url, "1,2,3"]

    requeue = jobman(cli_env, *command[1:])  # exactly what it said
    assert requeue.returncode == 0, requeue.stderr
    assert requeue.stdout.splitlines()[-1] == "Changed the status to START for 3 jobs"
    with open_db(db_url, create=False) as store:
        jobs = store.jobs(ids=[1, 2, 3])
        history = store.error_history(2)
    assert [(j.status, j.error, j.attempt) for j in jobs] == [(st.START, None, 1)] * 3
    assert [(h.attempt, h.status, h.end_reason) for h in history] == [(1, st.ERR_RUN, "error")]
    assert "deliberate failure for x=2" in history[0].error

    shown = jobman(cli_env, "sqlstatus", "--traceback", "2", db_url)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout.splitlines()
    assert out[0].startswith("Job 2: START") and out[2] == "no error recorded since its last requeue"
    assert out[3].startswith("-- earlier: attempt 1, ERR_RUN (error), ended 20")
    assert "; cleared by a requeue 20" in out[3] and out[-1] == "ValueError: deliberate failure for x=2"
    summary = jobman(cli_env, "sqlstatus", "--summary", db_url)
    assert "deliberate failure" not in summary.stdout  # the requeued jobs are no longer errors

    run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    with open_db(db_url, create=False) as store:
        assert [j.attempt for j in store.jobs()] == [2, 2, 2, 1]  # the requeue was no attempt


def test_a_rerun_of_done_or_waiting_jobs_says_so(db_url, tmp_path, cli_env):
    jobman(cli_env, "sqlschedules", db_url, "worker_exps.noop", "x={{1,2}}")
    run_worker(cli_env, db_url, str(tmp_path))  # -n 1: job 1 DONE, job 2 waits
    again = jobman(cli_env, "sqlschedule", db_url, "worker_exps.noop", "x=1")
    assert again.stdout.startswith("SKIPPING ")
    assert again.stderr.splitlines() == [
        "jobman sqlschedule: Skipped 1 job already in the table (1 existing row): 1 DONE (id 1)",
        "jobman sqlschedule: DONE jobs keep their results; -f schedules new copies of them"]
    waiting = jobman(cli_env, "sqlschedules", "-q", db_url, "worker_exps.noop", "x={{2}}")
    assert waiting.stderr.splitlines()[-1].endswith("They are waiting or running already: nothing to requeue")


def test_a_hand_reset_costs_no_attempt_and_fences_out_the_running_worker(db_url, cli_env):
    jobman(cli_env, "sqlschedule", db_url, "worker_exps.noop", "x=1")
    with open_db(db_url, create=False) as store:
        held = store.claim(worker="w1", host="h", lease_s=600, max_attempts=3)
    assert held is not None and held.attempt == 1
    reset = jobman(cli_env, "sqlstatus", "--set_status=START", db_url, str(held.id))
    assert reset.returncode == 0 and "were RUNNING" in reset.stdout, reset.stdout
    with open_db(db_url, create=False) as store:
        assert store.get(held.id).attempt == 1  # not counted
        assert not store.heartbeat(held.id, 1, 600)
        assert not store.save(held.id, 1, {"y": 1}, 600)
        # the running attempt keeps its lease (issue 14): never two attempts at once
        assert store.claim(worker="w2", host="h", lease_s=600, max_attempts=3) is None
        assert not store.finish(held.id, 1, status=st.DONE, end_reason="completed", state={"y": 1})
        assert store.release_lease(held.id, 1)  # what the fenced-out worker does on its refused end
        again = store.claim(worker="w2", host="h", lease_s=600, max_attempts=3)
        assert again is not None and again.attempt == 2
        assert store.get(held.id).status == st.RUNNING and "y" not in store.get(held.id).state
        store.set_status([held.id], st.RUNNING)  # RUNNING by hand: a new token at once
        assert store.get(held.id).attempt == 3 and not store.heartbeat(held.id, 2, 600)


def test_a_seeded_draw_is_the_same_on_a_rerun_as_the_readme_says(sqlite_url, cli_env):
    line = ["sqlschedules", sqlite_url, "worker_exps.noop", "lr:=@numpy.random.default_rng({{1,2}}).uniform(1e-6,1e-1)"]
    unseeded = ["sqlschedules", sqlite_url, "worker_exps.noop", "y:=@numpy.random.uniform(0,1)"]
    assert jobman(cli_env, *line).stdout.splitlines()[-1] == "Added 2 on 2 jobs"
    again = jobman(cli_env, *line)
    assert again.stdout.splitlines()[-1] == "Added 0 on 2 jobs" and "2 START (ids 1-2)" in again.stderr
    assert jobman(cli_env, *unseeded).stdout.splitlines()[-1] == "Added 1 on 1 jobs"
    assert jobman(cli_env, *unseeded).stdout.splitlines()[-1] == "Added 1 on 1 jobs"  # a new draw: a new job
