"""The worker end to end (`python -m jobstore.cli sql ...` in subprocesses) on PostgreSQL and SQLite:
job directories, outcomes, exit codes and messages, provenance, channel options."""
from __future__ import annotations

import os

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, job_dir, read, run_worker


def test_runs_jobs_in_their_directories(db_url, tmp_path, cli_env):
    ids = insert(db_url, "outputs", [{"x": 1}, {"x": 2}])
    root = tmp_path / "root"
    proc = run_worker(cli_env, db_url, str(root), "-n", "0")
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        dbname = store.dbname
        for i in ids:
            assert f"Selected job id={i} in table=jobs in db={dbname}" in proc.stdout
        assert "No more jobs to run (ran 2 jobs)" in proc.stdout
        for i in ids:
            job = store.get(i)
            d = job_dir(str(root), db_url, i)
            assert job.status == st.DONE and job.end_reason == "completed"
            assert job.state["cwd"] == d == job.state["jobman.sql.host_workdir"]
            assert job.state["jobman.run_time"] >= 0 and job.state["jobman.end_time"] >= job.state["jobman.sql.start_time"]
            assert job.state["jobman.sql.pid"] != os.getpid() and job.state["jobman.sql.attempt"] == 1
            files = set(os.listdir(d))
            assert {"orig.conf", "current.conf", "stdout", "stderr", "written-by-experiment.txt"} <= files
            out, err = read(os.path.join(d, "stdout")), read(os.path.join(d, "stderr"))
            for word in ("py-stdout", "fd-stdout", "sub-stdout"):
                assert word in out and word not in err
            for word in ("py-stderr", "fd-stderr", "sub-stderr"):
                assert word in err and word not in out
            assert f"x = {job.state['x']!r}\n" in read(os.path.join(d, "orig.conf"))
            assert "cwd = " not in read(os.path.join(d, "orig.conf"))
            assert f"cwd = {d!r}\n" in read(os.path.join(d, "current.conf"))
            assert "jobman.status = 2\n" in read(os.path.join(d, "current.conf"))
    assert "py-stdout" not in proc.stdout and "fd-stderr" not in proc.stderr


def test_k_limits_the_number_of_jobs_and_dot_is_cwd(db_url, tmp_path, cli_env):
    ids = insert(db_url, "noop", [{"x": i} for i in range(3)])
    root = tmp_path / "here"
    root.mkdir()
    proc = run_worker(cli_env, db_url, ".", "-n", "2", cwd=str(root), command="worker")
    assert proc.returncode == 0, proc.stderr
    assert "No more jobs" not in proc.stdout
    with open_db(db_url) as store:
        assert [store.get(i).status for i in ids] == [st.DONE, st.DONE, st.START]
        assert os.path.isdir(os.path.join(root, store.dbname, "jobs", str(ids[0])))


def test_save_writes_state_and_save_and_switch_answers(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "saver", [{"x": 1}])
    proc = run_worker(cli_env, db_url, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.state["progress"] == 2 and job.state["switch_answer"] is None


def test_failing_experiment_is_err_run_with_traceback(db_url, tmp_path, cli_env):
    bad, good = insert(db_url, "fail", [{"x": 7}]) + insert(db_url, "noop", [{"x": 8}])
    proc = run_worker(cli_env, db_url, str(tmp_path), "-n", "0")
    assert proc.returncode == 1
    assert f"jobman sql: 1 of 2 jobs failed: ids {bad} (ERR_RUN)" in proc.stderr
    assert "Traceback" not in proc.stderr  # the traceback goes to the row and the job's stderr
    with open_db(db_url) as store:
        job = store.get(bad)
        assert job.status == st.ERR_RUN and job.end_reason == "error"
        assert "Traceback" in job.error and "ValueError: deliberate failure for x=7" in job.error
        assert store.get(good).status == st.DONE
    d = job_dir(str(tmp_path), db_url, bad)
    assert "ValueError: deliberate failure for x=7" in read(os.path.join(d, "stderr"))
    assert "about to fail" in read(os.path.join(d, "stdout"))


@pytest.mark.parametrize("experiment, message", [
    ("bad_return", "the experiment returned 42"),
    ("sys_exit", "the experiment called sys.exit(3)"),
])
def test_abnormal_ends_are_err_run_never_running(db_url, tmp_path, cli_env, experiment, message):
    [i] = insert(db_url, experiment, [{"x": 1}])
    proc = run_worker(cli_env, db_url, str(tmp_path))
    assert proc.returncode == 1
    assert f"1 of 1 jobs failed: ids {i} (ERR_RUN)" in proc.stderr
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.ERR_RUN and message in job.error
    assert message in read(os.path.join(job_dir(str(tmp_path), db_url, i), "stderr"))


def test_incomplete_goes_back_to_start_at_restart_priority_and_provenance_follows(db_url, tmp_path, cli_env):
    ad = tmp_path / "job.ad"
    ad.write_text('GlobalJobId = "schedd.local#41.0#1700000000"\nClusterId = 41\nProcId = 0\n')
    [i] = insert(db_url, "incomplete_once", [{"x": 1}])
    slurm = {"SLURM_JOB_ID": "1234", "SLURM_ARRAY_JOB_ID": "1230", "SLURM_ARRAY_TASK_ID": "4",
             "CUDA_VISIBLE_DEVICES": "0"}
    proc = run_worker(cli_env, db_url, str(tmp_path), extra_env=slurm)
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        job = store.get(i)
        assert job.status == st.START and job.priority >= 2.0 and job.end_reason == "preempted"
        assert job.state["jobman.sql.slurm_job_id"] == "1234"
        assert job.state["jobman.sql.slurm_array_task_id"] == "4"
        assert job.state["jobman.sql.cuda_visible_devices"] == "0"
    env = {k: v for k, v in cli_env.items() if not k.startswith("SLURM_")}
    condor = {"_CONDOR_SLOT": "slot1_3", "_CONDOR_JOB_AD": str(ad)}
    proc = run_worker(env, db_url, str(tmp_path), extra_env=condor)
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.DONE and job.attempt == 2 and job.state["jobman.sql.attempt"] == 2
    assert job.state["jobman.sql.condor_slot"] == "slot1_3"
    assert job.state["jobman.sql.condor_global_job_id"] == "schedd.local#41.0#1700000000"
    assert not any(k.startswith("jobman.sql.slurm") for k in job.state)  # stale keys removed
    d = job_dir(str(tmp_path), db_url, i)
    assert "slurm_job_id" in read(os.path.join(d, "orig.conf"))  # orig.conf is from the first run
    assert "slurm_job_id" not in read(os.path.join(d, "current.conf"))


def test_finish_up_after_and_save_every(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "switches", [{"seconds": 1.5}])
    proc = run_worker(cli_env, db_url, str(tmp_path), "--save-every", "0.2", "--finish-up-after", "0.7")
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        assert store.get(i).state["answers"] == ["save", "finish-up"]


@pytest.mark.parametrize("args, fragment", [
    (["--lease", "0"], "invalid --lease '0'"),
    (["--lease", "5", "--heartbeat", "10"], "invalid --heartbeat 10"),
    (["--max-attempts", "0"], "invalid --max-attempts '0'"),
    (["--save-every", "soon"], "invalid --save-every 'soon'"),
    (["--import", "no_such_module_abc"], "cannot import module 'no_such_module_abc'"),
])
def test_bad_options_one_line_exit_2(sqlite_url, tmp_path, cli_env, args, fragment):
    proc = run_worker(cli_env, sqlite_url, str(tmp_path / "root"), *args)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "root").exists()


def test_bad_url_exit_2(tmp_path, cli_env):
    proc = run_worker(cli_env, "mysql://x/y?table=t", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mysql://x/y" in proc.stderr
