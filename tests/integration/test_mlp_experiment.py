"""The tutorial's real experiment (models.mlp_jobman.experiment) through the real worker: scheduled
with the shipped conf, run by `jobman sql`, told to finish up mid-training, requeued with its
checkpoint in the job directory, resumed by a second worker, and ending with exactly the result of an
uninterrupted run. Data: the first rows of the real MNIST, written to a file of their own."""
from __future__ import annotations

import os
import subprocess
import sys

from jobstore import status as st
from jobstore.store import open_db
from models.checkpoint import CHECKPOINT_NAME
from models.mlp_jobman import train_mnist
from tests.helpers.worker import job_dir, run_worker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HYPER = {"learning_rate": 0.05, "n_hidden": 40, "n_iter": 40}


def test_finish_up_requeues_and_the_resumed_job_ends_as_an_uninterrupted_run(db_url, tmp_path, cli_env,
                                                                           mnist_slice):
    (tmp_path / "mlp_jobman.conf").write_text(open(os.path.join(ROOT, "conf", "mlp_jobman.conf")).read())
    args = [f"{k}={v}" for k, v in HYPER.items()] + [f"dataset={mnist_slice}", "array_backend=numpy"]
    schedule = subprocess.run([sys.executable, "-m", "jobstore.cli", "sqlschedule", db_url,
                               "models.mlp_jobman.experiment", "mlp_jobman.conf", *args],
                              cwd=tmp_path, env=cli_env, capture_output=True, text=True)
    assert schedule.returncode == 0, schedule.stderr
    with open_db(db_url) as store:
        (job,) = store.jobs()
    exproot = str(tmp_path / "exproot")

    first = run_worker(cli_env, db_url, exproot, "--finish-up-after", "1")
    assert first.returncode == 0, first.stderr
    directory = job_dir(exproot, db_url, job.id)
    with open_db(db_url) as store:
        stopped = store.get(job.id)
    assert stopped.status == st.START, (stopped.status, stopped.error)
    assert os.path.exists(os.path.join(directory, CHECKPOINT_NAME))
    # where it stopped was saved into the row (the epoch in progress, minibatches done)
    assert 0 < stopped.state["iteration"] < HYPER["n_iter"] * 500
    assert 1 <= stopped.state["epoch"] < HYPER["n_iter"]

    second = run_worker(cli_env, db_url, exproot)
    assert second.returncode == 0, second.stderr
    with open_db(db_url) as store:
        done = store.get(job.id)
    assert done.status == st.DONE, (done.status, done.error)
    assert done.state["epoch"] == HYPER["n_iter"] and done.state["device"] == "numpy:cpu"
    assert not os.path.exists(os.path.join(directory, CHECKPOINT_NAME))

    straight = train_mnist(HYPER["learning_rate"], HYPER["n_hidden"], 0.0, 0.0001, 20, HYPER["n_iter"],
                           dataset=mnist_slice, array_backend="numpy", blas_threads=1, progress=False)
    assert done.state["best_validation_loss"] == straight.best_validation_loss
    assert done.state["test_score"] == straight.test_score
    assert done.state["iter"] == straight.best_iter
    assert done.state["minutes_trained"] > 0


def test_missing_dataset_is_err_run_with_the_remedy(sqlite_url, tmp_path, cli_env):
    missing = tmp_path / "no" / "mnist.pkl.gz"
    schedule = subprocess.run([sys.executable, "-m", "jobstore.cli", "sqlschedule", sqlite_url,
                               "models.mlp_jobman.experiment", f"dataset={missing}", "n_iter=1"],
                              cwd=tmp_path, env=cli_env, capture_output=True, text=True)
    assert schedule.returncode == 0, schedule.stderr
    run_worker(cli_env, sqlite_url, str(tmp_path / "exproot"))
    with open_db(sqlite_url) as store:
        (job,) = store.jobs()
    assert job.status == st.ERR_RUN
    assert str(missing) in (job.error or "") and "pip install" in (job.error or ""), job.error
