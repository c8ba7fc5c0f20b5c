"""A new user's first hour (issue 19): the traps of the tour, each checked through the real
command line against PostgreSQL and SQLite — what the tool says (one line, the bad value, what
would work), its exit status, and that the table is left as it was."""
from __future__ import annotations

import os

import pytest

from jobstore import status as st
from jobstore.errors import DatabaseError
from jobstore.store import open_db
from tests.helpers.worker import insert, job_dir, read, run_worker


def jobman(env: dict, *args: str, cwd: str | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def one_line_error(proc, *words: str, rc: int = 2) -> str:
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# -- 1. only the scheduling commands create tables -------------------------------------------------
@pytest.mark.parametrize("command", [
    ("sql", "-n", "0"), ("worker",), ("sqlview",), ("sqlstatus",), ("export",), ("plot",)])
def test_a_misspelt_table_is_refused_and_not_created(command, db_url, tmp_path, cli_env):
    insert(db_url, "noop", [{"x": 1}])
    bad = db_url.replace("table=jobs", "table=slect")
    name, *opts = command
    tail = {"sql": [str(tmp_path)], "worker": [str(tmp_path)], "sqlview": ["slect_view"],
            "plot": ["y", "x", "-o", str(tmp_path / "p.png")]}.get(name, [])
    proc = jobman(cli_env, name, *opts, bad, *tail)
    one_line_error(proc, "no job table 'slect'", "tables here: jobs", "sqlschedule")
    assert "ran 0 jobs" not in proc.stdout
    with pytest.raises(DatabaseError, match="no job table 'slect'"):
        open_db(bad, create=False)
    with open_db(db_url, create=False) as store:
        assert [j.status for j in store.jobs()] == [st.START]


def test_a_worker_on_a_missing_sqlite_file_leaves_no_file(tmp_path, cli_env):
    path = tmp_path / "sweep.db"
    proc = jobman(cli_env, "sql", f"sqlite:///{path}?table=mlp_dumi", str(tmp_path))
    one_line_error(proc, "no job table 'mlp_dumi'", str(path), "does not exist")
    assert not path.exists()


# -- 2. a worker where the experiment does not import hands the job back and stops ----------------
@pytest.mark.parametrize("experiment", ["no_such_module_xyz.experiment", "worker_exps.no_such_function"])
def test_a_misplaced_worker_hands_the_job_back_untouched_and_stops(experiment, db_url, tmp_path, cli_env):
    ids = insert(db_url, experiment, [{"x": 1}, {"x": 2}], priority=1.5)
    proc = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert f"cannot import {experiment} from {os.getcwd()}" in line
    assert "(PYTHONPATH " in line and "run the worker where the module is importable" in line
    assert proc.stdout.count("Selected job") == 1  # it stopped after the first
    with open_db(db_url, create=False) as store:
        jobs = store.jobs()
    assert [j.status for j in jobs] == [st.START, st.START]
    assert [j.priority for j in jobs] == [1.5, 1.5]
    assert all(j.extra["losses"] == 0 and j.error is None for j in jobs)
    assert jobs[0].end_reason == "handed-back" and jobs[1].attempt == 0
    assert not os.path.exists(job_dir(str(tmp_path), db_url, ids[0]))


def test_the_same_jobs_run_once_the_module_is_importable(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "movable_exp.experiment", [{"x": 1}])
    bad = run_worker(cli_env, db_url, str(tmp_path / "root"))
    assert bad.returncode == 2 and "movable_exp.experiment" in bad.stderr
    (tmp_path / "movable_exp.py").write_text("def experiment(state, channel):\n    state.y = 2\n")
    good = run_worker(cli_env, db_url, str(tmp_path / "root"), cwd=str(tmp_path))
    assert good.returncode == 0, good.stderr
    with open_db(db_url, create=False) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.state["y"] == 2 and job.extra["losses"] == 0


def test_a_job_whose_state_cannot_be_built_is_still_err_start(db_url, tmp_path, cli_env):
    bad, good = insert(db_url, "noop", [{"a": 1, "a.b": 2}, {"x": 3}])
    proc = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert proc.returncode == 1
    with open_db(db_url, create=False) as store:
        assert store.get(bad).status == st.ERR_START and "conflicts" in store.get(bad).error
        assert store.get(good).status == st.DONE
    assert "conflicts" in read(os.path.join(job_dir(str(tmp_path), db_url, bad), "stderr"))


# -- 3. returning True (INCOMPLETE) unasked is bounded and said -------------------------------------
def test_returning_true_unasked_is_bounded_logged_and_lets_other_jobs_run(db_url, tmp_path, cli_env):
    spin, other = insert(db_url, "returns_true", [{"x": 1}]) + insert(db_url, "noop", [{"x": 2}])
    proc = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert proc.returncode == 1, proc.stderr
    for n in (1, 2):
        assert f"job {spin}: INCOMPLETE, requeued (returned without a stop request, {n} of 3 in a row)" in proc.stderr
    assert f"job {spin}: INCOMPLETE returned unasked 3 times in a row: ERR_RUN" in proc.stderr
    assert read(os.path.join(job_dir(str(tmp_path), db_url, spin), "calls")).count("call") == 3
    with open_db(db_url, create=False) as store:
        job = store.get(spin)
        assert job.status == st.ERR_RUN and "channel.COMPLETE (None) when the job is done" in job.error
        assert store.get(other).status == st.DONE


def test_incomplete_that_records_progress_is_requeued_until_done(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "chunked", [{"chunks": 5}])
    proc = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(f"job {i}: INCOMPLETE, requeued\n") == 4
    with open_db(db_url, create=False) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.state["chunk"] == 5


def test_the_channel_documents_its_return_values():
    from jobstore.worker.channel import Channel

    doc = Channel.__doc__ or ""
    assert "``None``" in doc and "``True``" in doc and "'stop'" in doc


# -- 4. {{...}} and broken-looking values at schedule time ------------------------------------------
@pytest.mark.parametrize("command, param, words", [
    ("sqlschedule", "k={{1,2}}", ["'k={{1,2}}'", "expands with jobman sqlschedules"]),
    ("sqlschedule", "k={{1,2", ["'k={{1,2'", "expands with jobman sqlschedules"]),
    ("sqlschedules", "k={{}}", ["empty '{{}}'", "key 'k'", "{{a,b,...}}"]),
    ("sqlschedules", "k=[1,2", ["key 'k'", "'[1,2'", "never closed", 'k="[1,2"']),
    ("sqlschedule", "opt={'a': 1", ["key 'opt'", "not valid Python"]),
])
def test_a_sweep_or_broken_value_is_refused_and_nothing_written(command, param, words, tmp_path, cli_env):
    path = tmp_path / "sweep.db"
    proc = jobman(cli_env, command, f"sqlite:///{path}?table=t", "worker_exps.noop", "x=1", param)
    one_line_error(proc, *words)
    assert not path.exists()


def test_a_quoted_or_literal_value_is_still_accepted(tmp_path, cli_env):
    url = f"sqlite:///{tmp_path}/sweep.db?table=t"
    proc = jobman(cli_env, "sqlschedule", url, "worker_exps.noop", 'a="[1,2"', "b=[1, 2]", "c={'d': {'e': 1}}")
    assert proc.returncode == 0, proc.stderr
    with open_db(url, create=False) as store:
        [job] = store.jobs()
    assert (job.state["a"], job.state["b"], job.state["c"]) == ("[1,2", [1, 2], {"d": {"e": 1}})


# -- 5. a failed job's traceback is reachable with jobman's own commands ----------------------------
@pytest.fixture
def failed_job(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "fail_deep", [{"x": 7}])
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"))
    assert proc.returncode == 1
    return i, job_dir(str(tmp_path / "root"), db_url, i)


def test_print_shows_the_row_columns_on_one_line(failed_job, db_url, cli_env):
    i, _ = failed_job
    proc = jobman(cli_env, "sqlstatus", "--all", "--print=error", "--print=end_reason", "--print=attempt",
                  "--print=jobman.ended", db_url)
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    assert "error=json.decoder.JSONDecodeError: deliberate bad document for x=7" in line
    assert " end_reason=error attempt=1 jobman.ended=20" in line and "KeyDontExist" not in line


def test_traceback_prints_the_whole_error_and_the_stderr_path(failed_job, db_url, cli_env):
    i, d = failed_job
    proc = jobman(cli_env, "sqlstatus", "--traceback", str(i), db_url)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"Job {i}: ERR_RUN (error), attempt 1 on ")
    path = os.path.join(d, "stderr")
    assert lines[1].startswith(f"stderr: {path}") and os.path.exists(path)
    assert lines[2] == "Traceback (most recent call last):" and "in fail_deep" in proc.stdout
    assert lines[-1].startswith("json.decoder.JSONDecodeError: deliberate bad document for x=7")
    missing = jobman(cli_env, "sqlstatus", "--traceback", "999", db_url)
    one_line_error(missing, "no job 999", "1 jobs")


def test_export_keys_gives_the_error_and_times(failed_job, db_url, cli_env):
    import csv
    import datetime
    import io

    i, _ = failed_job
    proc = jobman(cli_env, "export", "--keys=x,error,end_reason,attempt,started", db_url)
    assert proc.returncode == 0, proc.stderr
    [row] = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert row["id"] == str(i) and row["x"] == "7" and row["end_reason"] == "error" and row["attempt"] == "1"
    assert row["error"].startswith("Traceback") and "deliberate bad document for x=7" in row["error"]
    assert datetime.datetime.fromisoformat(row["started"]).tzinfo is not None
    table = jobman(cli_env, "export", "--keys=x,error", "--format=table", db_url)
    assert len(table.stdout.splitlines()) == 4  # header, rule, one row, count: no newline breaks a row
    bad = jobman(cli_env, "export", "--keys=x,eror", db_url)
    one_line_error(bad, "'eror'", "did you mean 'error'?", "the row's: error, end_reason")


def test_summary_error_lines_keep_the_message_and_point_at_traceback(failed_job, db_url, cli_env):
    i, _ = failed_job
    proc = jobman(cli_env, "sqlstatus", "--summary", db_url)
    assert proc.returncode == 0, proc.stderr
    assert "JSONDecodeError: deliberate bad document for x=7" in proc.stdout
    assert "json.decoder.JSONDecodeError" not in proc.stdout
    assert f"jobman sqlstatus --traceback {i} DB" in proc.stdout


# -- 6. sqlstatus actions without a selection -----------------------------------------------------
@pytest.mark.parametrize("option", ["--set_status=START", "--reset_prio"])
def test_a_change_without_selection_is_refused(option, db_url, cli_env):
    [i] = insert(db_url, "noop", [{"x": 1}], priority=3.0)
    with open_db(db_url, create=False) as store:
        store.set_status([i], st.CANCELED)
    proc = jobman(cli_env, "sqlstatus", option, db_url)
    one_line_error(proc, option, "none is selected", "--all", "--status=S", "--select=KEY=VALUE")
    with open_db(db_url, create=False) as store:
        job = store.get(i)
    assert job.status == st.CANCELED and job.priority == 3.0


def test_ret_nb_jobs_without_selection_counts_the_table(db_url, cli_env):
    insert(db_url, "noop", [{"x": 1}, {"x": 2}, {"x": 3}])
    proc = jobman(cli_env, "sqlstatus", "--ret_nb_jobs", db_url)
    assert proc.returncode == 0 and proc.stdout == "3\n", (proc.stdout, proc.stderr)


# -- 8. silent defaults --------------------------------------------------------------------------
def test_a_forgotten_n_says_how_many_jobs_still_wait(db_url, tmp_path, cli_env):
    insert(db_url, "noop", [{"x": i} for i in range(5)])
    proc = run_worker(cli_env, db_url, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "jobman sql: stopped after 1 job (-n 1); 4 still waiting; -n 0 runs until the table is empty")
    last = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert "No more jobs to run (ran 4 jobs)" in last.stdout and "still waiting" not in last.stderr
    one = run_worker(cli_env, db_url, str(tmp_path))
    assert "No more jobs to run (ran 0 jobs)" in one.stdout


# -- 7. interrupts ---------------------------------------------------------------------------------
def test_the_first_interrupt_says_what_happens_next(db_url, tmp_path, cli_env):
    import signal

    from tests.helpers.worker import start_worker, wait_for

    [i] = insert(db_url, "sleepy", [{"seconds": 60}])
    proc = start_worker(cli_env, db_url, str(tmp_path))
    d = job_dir(str(tmp_path), db_url, i)
    wait_for(lambda: os.path.exists(os.path.join(d, "started")), what="the experiment to start")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (f"jobman sql: stop requested (SIGINT): job {i} is handed back at its next switch(); "
            "^C again to abort") in err
    with open_db(db_url, create=False) as store:
        assert store.get(i).status == st.START
