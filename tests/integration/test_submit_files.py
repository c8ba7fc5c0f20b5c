"""The hand-written submit files of conf/ (issue 15, item 6), submitted as a user would: conf/worker.sbatch
with sbatch on the project's real SLURM (tests/infra/slurm.sh), conf/worker.sub with condor_submit
on the project's HTCondor pool (tests/infra/condor.sh; jobs run in its chroot as its job owner, so
their directories are under /tmp). A signal sent to the batch shell only (`scancel --signal=TERM
--batch`) reaches the worker through `exec`, and condor_rm's kill_sig reaches it directly: it hands
its job back (START, priority raised) and ends cleanly. If a cluster cannot start, these tests fail."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.condor import as_pool_user
from tests.helpers.worker import insert, job_dir, wait_for

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 180.0


def job_state(job_id: str) -> str:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    fields = dict(x.split("=", 1) for x in out.split() if "=" in x)
    return f"{fields.get('JobState')} {fields.get('ExitCode')}"


@pytest.mark.slurm
def test_worker_sbatch_a_term_to_the_batch_shell_hands_the_job_back(slurm_node, pg_url, tmp_path, cli_env):
    (job_id,) = insert(pg_url, "sleepy", [{"seconds": 600.0}])
    env = {**cli_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cli_env['PATH']}"}
    out = tmp_path / "worker.out"
    exproot = tmp_path / "exp"
    sub = subprocess.run(["sbatch", "--parsable", "--time=10", "--mem=200M", f"--output={out}",
                          str(ROOT / "conf" / "worker.sbatch"), pg_url, str(exproot)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0, sub.stderr
    slurm_id = sub.stdout.strip().split(";")[0]
    wait_for(lambda: os.path.exists(os.path.join(job_dir(str(exproot), pg_url, job_id), "started")), WAIT_S,
             "the worker to start the job")
    subprocess.run(["scancel", "--signal=TERM", "--batch", slurm_id], check=True)
    wait_for(lambda: job_state(slurm_id).startswith("COMPLETED"), WAIT_S, "the batch job to end")
    assert job_state(slurm_id) == "COMPLETED 0:0"  # ended by itself, exit 0: not killed
    log = out.read_text()
    assert "stop requested (SIGTERM)" in log and "stopped by SIGTERM after handing back its job" in log, log
    with open_db(pg_url) as store:
        job = store.get(job_id)
    assert job.status == st.START and job.priority >= 2.0 and job.state["stopped"] is True


@pytest.mark.condor
def test_worker_sub_condor_rm_hands_the_job_back(condor_pool, pg_url, shared_dir):
    (job_id,) = insert(pg_url, "sleepy", [{"seconds": 600.0}])
    exproot = shared_dir / "exp"
    shutil.copy(ROOT / "conf" / "worker.sub", shared_dir / "worker.sub")
    # condor_submit as a user runs it: inside the pool's chroot (the host has the bindings, not
    # the tools), as the pool's job owner, in a directory both sides see
    sub = as_pool_user(f"cd {shared_dir} && condor_submit worker.sub DB='{pg_url}' EXPROOT={exproot} N=1")
    assert sub.returncode == 0, sub.stdout + sub.stderr
    cluster = re.search(r"submitted to cluster (\d+)", sub.stdout).group(1)
    wait_for(lambda: os.path.exists(os.path.join(job_dir(str(exproot), pg_url, job_id), "started")), WAIT_S,
             "the worker to start the job")
    assert as_pool_user(f"condor_rm {cluster}").returncode == 0
    with open_db(pg_url) as store:
        wait_for(lambda: store.get(job_id).status == st.START, WAIT_S, "the job to be handed back")
        job = store.get(job_id)
    assert job.priority >= 2.0 and job.state["stopped"] is True
    err = shared_dir / f"jobman-worker-{cluster}.0.err"
    wait_for(lambda: "stopped by SIGTERM after handing back its job" in err.read_text(), WAIT_S, "the worker's end")
