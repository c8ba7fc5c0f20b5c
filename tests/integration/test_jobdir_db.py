"""Job directories in the database (`jobman sql --jobdir=db`, issue 15 item 2): the tutorial's MLP
stopped by SIGTERM under one EXPROOT, which is then deleted, resumes under another from the archive
and ends bit-identical to an uninterrupted run; the archive is fenced by the attempt; an oversized
directory is an error in the job's row; `jobman jobdir DB ID DEST` extracts it. Both dialects."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from jobstore import status as st
from jobstore.store import open_db
from jobstore.store.jobdirs import pack
from models.checkpoint import CHECKPOINT_NAME
from models.mlp_jobman import train_mnist
from tests.helpers.worker import insert, job_dir, run_worker, start_worker, wait_for

HYPER = {"learning_rate": 0.05, "n_hidden": 40, "n_iter": 40}


def jobman(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_mlp_stopped_under_one_exproot_resumes_bit_identically_under_another(db_url, tmp_path, cli_env,
                                                                                mnist_slice):
    args = [f"{k}={v}" for k, v in HYPER.items()] + [f"dataset={mnist_slice}", "array_backend=numpy"]
    conf = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "conf", "mlp_jobman.conf")
    done = jobman(cli_env, "sqlschedule", db_url, "models.mlp_jobman.experiment", conf, *args)
    assert done.returncode == 0, done.stderr
    with open_db(db_url) as store:
        (job,) = store.jobs()
    first_root, second_root = str(tmp_path / "node-a"), str(tmp_path / "node-b")
    a = start_worker(cli_env, db_url, first_root, "--jobdir=db")
    wait_for(lambda: _progress(db_url, job.id), 120, "the MLP to save its first progress")
    a.send_signal(signal.SIGTERM)
    _, err = a.communicate(timeout=120)
    assert a.returncode == 0, err
    with open_db(db_url) as store:
        stopped = store.get(job.id)
        archive = store.jobdirs().get(job.id)
    assert stopped.status == st.START and archive is not None and archive.attempt == 1
    shutil.rmtree(first_root)  # the first node's disk is gone

    second = run_worker(cli_env, db_url, second_root, "--jobdir=db")
    assert second.returncode == 0, second.stderr
    assert f"job {job.id}: restored its directory from the database" in second.stderr
    with open_db(db_url) as store:
        final = store.get(job.id)
        assert store.jobdirs().get(job.id).attempt == 2
    assert final.status == st.DONE, (final.status, final.error)
    assert final.state["epoch"] == HYPER["n_iter"]
    straight = train_mnist(HYPER["learning_rate"], HYPER["n_hidden"], 0.0, 0.0001, 20, HYPER["n_iter"],
                           dataset=mnist_slice, array_backend="numpy", blas_threads=1, progress=False)
    assert final.state["best_validation_loss"] == straight.best_validation_loss
    assert final.state["test_score"] == straight.test_score and final.state["iter"] == straight.best_iter
    stderr = open(os.path.join(job_dir(second_root, db_url, job.id), "stderr")).read()
    assert not os.path.exists(os.path.join(job_dir(second_root, db_url, job.id), CHECKPOINT_NAME))

    dest = tmp_path / "mine"
    got = jobman(cli_env, "jobdir", db_url, str(job.id), str(dest))
    assert got.returncode == 0, got.stderr
    assert {"orig.conf", "current.conf", "stdout", "stderr"} <= set(os.listdir(dest))
    assert (dest / "stderr").read_text() == stderr  # both attempts' output, from two machines
    assert "jobman.status = 2" in (dest / "current.conf").read_text()


def _progress(url: str, job_id: int) -> bool:
    with open_db(url) as store:
        job = store.get(job_id)
    return job.status == st.RUNNING and job.state.get("iteration", 0) > 0


def test_the_archive_is_fenced_by_the_attempt(db_url, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    data_ = pack(str(tmp_path / "d"), 1)
    [i] = insert(db_url, "noop", [{"k": 1}])
    with open_db(db_url) as store:
        first = store.claim(worker="a", host="h", lease_s=0.01, max_attempts=5)
        assert first.id == i and store.jobdirs().put(i, first.attempt, data_)
        wait_for(lambda: store.reap(5) == 1, 30, "the first lease to expire")
        second = store.claim(worker="b", host="h", lease_s=60, max_attempts=5)
        assert second.attempt == 2 and store.jobdirs().put(i, 2, data_ + b"")
        assert not store.jobdirs().put(i, 1, b"late write of the dead attempt")
        assert store.jobdirs().get(i).attempt == 2 and store.jobdirs().get(i).data == data_
        assert store.finish(i, 2, status=st.DONE, end_reason="completed")
        assert not store.jobdirs().put(i, 2, b"after the finish")


def test_an_oversized_directory_is_an_error_in_the_row_not_a_silent_loss(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "saver", [{"k": 1}])
    done = run_worker(cli_env, db_url, str(tmp_path / "root"), "--jobdir=db", "--jobdir-max-mb=0.0001")
    assert done.returncode == 1
    with open_db(db_url) as store:
        job = store.get(i)
        assert store.jobdirs().get(i) is None
    assert job.status == st.ERR_RUN
    assert "is over --jobdir-max-mb 0.0001 once compressed: it is not stored" in job.error
    assert os.path.exists(os.path.join(job_dir(str(tmp_path / "root"), db_url, i), "current.conf"))


@pytest.mark.parametrize("args, said", [
    (["--jobdir-max-mb=abc"], "invalid --jobdir-max-mb 'abc': expected a size in MB > 0"),
    (["--jobdir-max-mb=-1"], "invalid --jobdir-max-mb '-1': expected a size in MB > 0"),
    (["--jobdir=nfs"], "invalid choice: 'nfs'"),
])
def test_bad_jobdir_options_are_one_line(sqlite_url, tmp_path, cli_env, args, said):
    done = run_worker(cli_env, sqlite_url, str(tmp_path / "root"), *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.strip()]
    assert said in line and not (tmp_path / "root").exists()


def test_jobman_jobdir_says_what_is_missing(sqlite_url, tmp_path, cli_env):
    [i] = insert(sqlite_url, "noop", [{"k": 1}])
    got = jobman(cli_env, "jobdir", sqlite_url, str(i), str(tmp_path / "x"))
    assert got.returncode == 2 and "has no directory in the database" in got.stderr
    got = jobman(cli_env, "jobdir", sqlite_url, "0")
    assert got.returncode == 2 and "invalid job id '0'" in got.stderr
    assert not (tmp_path / "x").exists()
