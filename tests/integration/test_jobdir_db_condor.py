"""Job directories in the database through HTCondor without a shared file system (issue 15, item 2):
the tutorial's MLP, run in the project's pool (tests/infra/condor.sh) with ``should_transfer_files =
YES`` and EXPROOT ``.`` (the job's private scratch directory, a fresh one per run; the dataset travels
as an input file), is stopped by a removal (``condor_rm``; kill_sig SIGTERM: the worker hands the job
back with its directory stored in PostgreSQL) after its first progress, then resumed by a second
submission, in another scratch directory, from that archive, to a result bit-identical to an
uninterrupted run; after ``condor_vacate_job`` (a preemption) HTCondor runs the same job again in a
fresh scratch directory and it resumes the same way. Two ways to submit, as users do: the shipped conf/worker.sub with ``condor_submit``
(as the pool's user, with the lines its closing comment names), and ``jobdispatch --condor
--backend_option transfer_files=true``. PostgreSQL because the pool's workers, in its chroot, reach
it over loopback. If the pool cannot start, this fails."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobstore import status as st
from jobstore.store import Job, open_db
from tests.helpers.condor import as_pool_user, group_dir, pool_user_argv
from tests.helpers.dispatch import dispatch_env, jobdispatch, manifest
from tests.helpers.paths import ROOT
from tests.helpers.worker import wait_for

HYPER = {"learning_rate": 0.05, "n_hidden": 40, "n_iter": 40, "blas_threads": 1}
SLICE = "slice.pkl.gz"
# The job directory is EXPROOT/<db>/<table>/<id> and EXPROOT the scratch directory, where HTCondor
# put the transferred dataset: the state names it from the job directory, no absolute path.
DATASET = f"../../../{SLICE}"
WAIT_S = 180.0
# What a user without a shared file system adds to conf/worker.sub (its closing comment says so).
TRANSFER = ("should_transfer_files = YES", "when_to_transfer_output = ON_EXIT_OR_EVICT",
            f"transfer_input_files = {SLICE}")
REFERENCE = """import json, sys
from models.mlp_jobman import train_mnist
h = json.loads(sys.argv[1])
r = train_mnist(h['learning_rate'], h['n_hidden'], 0.0, 0.0001, 20, h['n_iter'], dataset=sys.argv[2],
                array_backend='numpy', blas_threads=h['blas_threads'], progress=False)
print(json.dumps([r.best_validation_loss, r.test_score, r.best_iter]))
"""

pytestmark = [pytest.mark.condor, pytest.mark.slow]


@pytest.fixture
def submit_dir(shared_dir: Path, mnist_slice: str) -> Path:
    """The submitter's directory: conf/worker.sub and the dataset to transfer. The jobs never use
    it: they get copies in their scratch directories, and their output comes back here."""
    shutil.copy(Path(ROOT) / "conf" / "worker.sub", shared_dir / "worker.sub")
    shutil.copy(mnist_slice, shared_dir / SLICE)
    (shared_dir / SLICE).chmod(0o644)
    return shared_dir


class WorkerSub:
    """conf/worker.sub through condor_submit, with a relative EXPROOT and file transfer."""

    def __init__(self, submit_dir: Path, db_url: str, env: dict[str, str]) -> None:
        self.dir, self.db_url = submit_dir, db_url

    def submit(self, n: int) -> str:
        appended = " ".join(f"-a {shlex.quote(line)}" for line in TRANSFER)
        sub = as_pool_user(f"cd {self.dir} && condor_submit worker.sub DB={shlex.quote(self.db_url)} EXPROOT=. N=1 "
                           f"OPTIONS=--jobdir=db {appended}")
        assert sub.returncode == 0, sub.stdout + sub.stderr
        return re.search(r"submitted to cluster (\d+)", sub.stdout).group(1)  # type: ignore[union-attr]

    def remove(self, cluster: str) -> None:
        assert as_pool_user(f"condor_rm {cluster}").returncode == 0

    def stderr(self, cluster: str) -> Path:
        return self.dir / f"jobman-worker-{cluster}.0.err"  # transferred back when the job exits


class JobDispatch:
    """jobdispatch --condor --backend_option transfer_files=true, the dataset as an input file."""

    def __init__(self, submit_dir: Path, db_url: str, env: dict[str, str]) -> None:
        self.dir, self.db_url = submit_dir, db_url
        self.logs = group_dir(submit_dir, "LOGS")
        # getenv: the job starts with this PATH inside the chroot, where `jobman` is its wrapper
        self.env = {**dispatch_env(env, JOBDISPATCH_LOGDIR=str(self.logs)), "PATH": "/usr/local/bin:/usr/bin:/bin"}

    def submit(self, n: int) -> str:
        name = f"run{n}"
        group_dir(self.logs, name)
        done = jobdispatch(self.env, self.dir, "--condor", "--group_access", f"--exp_dir={name}", "--mem=1G",
                           "--backend_option", "transfer_files=true",
                           f"--raw=transfer_input_files = {self.dir / SLICE}",
                           "jobman", "sql", "-n", "1", "--jobdir=db", self.db_url, ".")
        assert done.returncode == 0, done.stdout + done.stderr
        return name

    def remove(self, name: str) -> None:
        done = jobdispatch(self.env, self.dir, "--cancel", str(self.logs / name))
        assert done.returncode == 0, done.stdout + done.stderr

    def stderr(self, name: str) -> Path:
        (task,) = manifest(self.logs / name)["tasks"]
        return self.logs / name / f"{task['name']}.err"  # transferred back when the job exits


def reference_run(dataset: str) -> subprocess.Popen:
    """The uninterrupted run, with the pool's own Python and NumPy (bit-identity is a property of
    one build of the arithmetic), in the chroot as the job owner."""
    return subprocess.Popen(pool_user_argv("python3", "-c", REFERENCE, json.dumps(HYPER), dataset, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("way", [WorkerSub, JobDispatch], ids=["worker.sub", "jobdispatch"])
def test_the_mlp_removed_from_one_scratch_dir_resumes_bit_identically_in_another(condor_pool, pg_url, cli_env,
                                                                                 submit_dir, way):
    job_id = schedule_the_mlp(pg_url, cli_env)
    reference = reference_run(str(submit_dir / SLICE))
    submitter = way(submit_dir, pg_url, cli_env)

    first = submitter.submit(1)
    running = wait_for(lambda: _checkpointed(pg_url, job_id), WAIT_S, "the MLP's first progress in the pool")
    submitter.remove(first)
    with open_db(pg_url) as store:
        wait_for(lambda: store.get(job_id).status == st.START, WAIT_S, "the job to be handed back")
        stopped, archive = store.get(job_id), store.jobdirs().get(job_id)
    assert stopped.priority >= 2.0 and 0 < stopped.state["epoch"] < HYPER["n_iter"]
    assert archive is not None and archive.attempt == 1  # the directory went to the database

    second = submitter.submit(2)
    check_resumed_bit_identically(pg_url, job_id, running, submit_dir, submitter.stderr(second), reference)


def test_a_vacated_mlp_resumes_in_the_same_submission(condor_pool, pg_url, cli_env, submit_dir):
    """condor_vacate_job (what a preemption does): the worker hands the job back with its directory,
    HTCondor runs the same job again in a fresh scratch directory, and it resumes from the archive."""
    job_id = schedule_the_mlp(pg_url, cli_env)
    reference = reference_run(str(submit_dir / SLICE))
    submitter = WorkerSub(submit_dir, pg_url, cli_env)
    cluster = submitter.submit(1)
    running = wait_for(lambda: _checkpointed(pg_url, job_id), WAIT_S, "the MLP's first progress in the pool")
    assert as_pool_user(f"condor_vacate_job {cluster}").returncode == 0
    check_resumed_bit_identically(pg_url, job_id, running, submit_dir, submitter.stderr(cluster), reference)


def schedule_the_mlp(db_url: str, cli_env: dict[str, str]) -> int:
    """jobman sqlschedule the tutorial's MLP (its conf file and HYPER); the job's id."""
    conf = os.path.join(ROOT, "conf", "mlp_jobman.conf")
    args = [f"{k}={v}" for k, v in HYPER.items()] + [f"dataset={DATASET}", "array_backend=numpy"]
    done = subprocess.run([sys.executable, "-m", "jobstore.cli", "sqlschedule", db_url, "models.mlp_jobman.experiment",
                           conf, *args], env=cli_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with open_db(db_url) as store:
        (job,) = store.jobs()
    return job.id


def check_resumed_bit_identically(db_url: str, job_id: int, running: Job, submit_dir: Path, err: Path,
                                  reference: subprocess.Popen) -> None:
    """The job ends DONE in its second attempt, in another scratch directory, resumed from the
    archive where the first stopped, with the uninterrupted run's result bit for bit."""
    with open_db(db_url) as store:
        wait_for(lambda: store.get(job_id).status == st.DONE and store.get(job_id).attempt == 2, WAIT_S,
                 "the job to end DONE in its second attempt")
        final, archive = store.get(job_id), store.jobdirs().get(job_id)
        epochs = store.metrics.series([job_id], "validation_error")[job_id]
    assert archive.attempt == 2 and final.state["epoch"] == HYPER["n_iter"]
    # two scratch directories of the pool's execute node, neither under the submitter's directory
    workdirs = [running.state["jobman.sql.host_workdir"], final.state["jobman.sql.host_workdir"]]
    assert workdirs[0] != workdirs[1] and all("/execute/" in w and str(submit_dir) not in w for w in workdirs)
    # the second attempt resumed where the first stopped: its first epoch follows the first's last
    by_attempt = {a: [s for b, s, _ in epochs if b == a] for a in (1, 2)}
    assert by_attempt[2][0] == max(by_attempt[1]) + 1 > 1 and by_attempt[2][-1] == HYPER["n_iter"]
    wait_for(lambda: err.exists() and "restored" in err.read_text(), WAIT_S,
             "the restore line in the second worker's stderr")
    assert f"job {job_id}: restored its directory from the database" in err.read_text()

    out, why = reference.communicate(timeout=WAIT_S)
    assert reference.returncode == 0, why
    best_validation_loss, test_score, best_iter = json.loads(out)
    assert final.state["best_validation_loss"] == best_validation_loss
    assert final.state["test_score"] == test_score and final.state["iter"] == best_iter


def _checkpointed(url: str, job_id: int) -> object:
    """The running job once it has saved its progress (at its first validation)."""
    with open_db(url) as store:
        job = store.get(job_id)
    return job.status == st.RUNNING and job.state.get("iteration", 0) > 0 and job
