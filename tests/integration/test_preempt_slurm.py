"""Self-requeue on the project's real SLURM cluster (tests/infra/slurm.sh): a sweep launched once
with `jobdispatch --slurm --requeue` survives repeated preemption (`scancel --signal=USR1 --full`
of each array task) with no second jobdispatch: every worker hands back its job, runs
`scontrol requeue` on its own task and exits 75; SLURM runs the task again (after the hold SLURM
itself puts on a requeued batch job: AuthInfo=cred_expire + 1 s, 120 s + 1 by default, 10 s + 1 on the
test cluster, tests/infra/slurm.sh) and the jobs resume from their checkpoints. `jobdispatch --status` shows each task's requeues. If the cluster cannot start, these
tests fail; they never skip."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.experiments import worker_exps
from tests.helpers.dispatch import dispatch_env, jobdispatch
from tests.helpers.worker import insert, job_dir, wait_for

ROOT = Path(__file__).resolve().parents[2]
REQUEUED_WAIT_S = 420.0  # a bound: SLURM holds a requeued batch job cred_expire + 1 s (120 s + 1 by default)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def task_fields(task_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", task_id], capture_output=True, text=True).stdout
    line = out.splitlines()[0] if out.strip() else ""
    return dict(x.split("=", 1) for x in line.split() if "=" in x)


def cred_expire_s() -> int:
    """The cluster's AuthInfo=cred_expire (SLURM's default 120 s when unset)."""
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"cred_expire=(\d+)", out)
    return int(found.group(1)) if found else 120


def computing_jobs(url: str, exproot: str) -> int:
    """RUNNING jobs whose experiment has done a step in this attempt (past its checkpoint, if any):
    a signal then reaches the experiment, which checkpoints, rather than the worker before it."""
    with open_db(url) as store:
        running = store.jobs(statuses=[st.RUNNING])
    n = 0
    for job in running:
        d = Path(job_dir(exproot, url, job.id))
        try:
            done = int((d / "progress").read_text())
            start = json.loads((d / "checkpoint.json").read_text())["i"] if (d / "checkpoint.json").exists() else 0
        except (OSError, ValueError):
            continue
        n += done > start
    return n


def preempt(task_ids: list[str], url: str, exproot: str, restarts: int) -> None:
    """Once every task runs (its `restarts`-th run) and computes a job: USR1 to all its processes."""
    for t in task_ids:
        wait_for(lambda t=t: task_fields(t).get("JobState") == "RUNNING"
                 and int(task_fields(t).get("Restarts", "0")) == restarts,
                 REQUEUED_WAIT_S, f"task {t} to run (restart {restarts})")
    wait_for(lambda: computing_jobs(url, exproot) == len(task_ids), REQUEUED_WAIT_S, "every task to compute a job")
    for t in task_ids:
        subprocess.run(["scancel", "--signal=USR1", "--full", t], check=True)


def test_a_preempted_sweep_finishes_without_a_second_jobdispatch(slurm_node, pg_url, tmp_path, cli_env):
    steps = 60
    ids = insert(pg_url, "checkpointed", [{"steps": steps, "step_s": 0.2, "k": k} for k in range(4)])
    env = dispatch_env(cli_env, JOBDISPATCH_LOGDIR=str(tmp_path / "LOGS"))
    proc = jobdispatch(env, tmp_path, "--slurm", "--requeue", "--max-requeues=5", "--repeat_jobs=2",
                       "--exp_dir=pre", "--mem=200M", "jobman", "sql", "-n", "0", pg_url, str(tmp_path / "exp"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    launch = tmp_path / "LOGS" / "pre"
    assert "#SBATCH --requeue" in (launch / "submit.sh").read_text()
    manifest = json.loads((launch / "manifest.json").read_text())
    tasks = [t["id"] for t in manifest["tasks"]]
    for restarts in (0, 1):  # two preemptions of every task
        preempt(tasks, pg_url, str(tmp_path / "exp"), restarts)
        if restarts == 1:  # SLURM held each requeued task cred_expire + 1 s (SubmitTime is its requeue)
            fields = [task_fields(t) for t in tasks]
            held_s = [(datetime.fromisoformat(f["EligibleTime"]) - datetime.fromisoformat(f["SubmitTime"])).total_seconds()
                      for f in fields]
            assert all(h >= cred_expire_s() for h in held_s), held_s
    with open_db(pg_url) as store:
        wait_for(lambda: store.count(statuses=[st.DONE]) == len(ids), REQUEUED_WAIT_S, "every job to be DONE")
        jobs = [store.get(i) for i in ids]
    assert all(j.state["result"] == worker_exps.iterate(steps) for j in jobs)  # as if never interrupted
    assert sum(len(j.state["resumed_at"]) for j in jobs) >= 4  # resumed from checkpoints, not restarted
    for t in tasks:
        wait_for(lambda t=t: task_fields(t).get("JobState") == "COMPLETED", REQUEUED_WAIT_S, f"task {t} to end")
        assert int(task_fields(t)["Restarts"]) == 2
    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert lines[1].split()[:5] == ["task", "status", "exit", "id", "requeues"]
    rows = [line.split()[:5] for line in lines[2:4]]
    assert rows == [[str(i), "done", "0", tasks[i], "2"] for i in range(2)]


def test_a_usr1_to_the_batch_shell_reaches_the_worker_under_the_launcher(slurm_node, pg_url, tmp_path, cli_env):
    """What --signal=B:USR1@<grace> sends before the time limit, and scancel --batch, reach the batch
    shell alone (the launcher, which it execs): the launcher passes the signal on to the task's
    process group, so the worker under `sh -c` hands its job back and the task ends with its status
    (before: the shell died of the signal, exit 138, and the worker ran on with its job RUNNING)."""
    (job_id,) = insert(pg_url, "sleepy", [{"seconds": 600.0}])
    env = dispatch_env(cli_env, JOBDISPATCH_LOGDIR=str(tmp_path / "LOGS"))
    proc = jobdispatch(env, tmp_path, "--slurm", "--exp_dir=warned", "--mem=200M", "jobman", "sql", "-n", "1",
                       pg_url, str(tmp_path / "exp"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    launch = tmp_path / "LOGS" / "warned"
    (task,) = json.loads((launch / "manifest.json").read_text())["tasks"]
    wait_for(lambda: (Path(job_dir(str(tmp_path / "exp"), pg_url, job_id)) / "started").exists(), REQUEUED_WAIT_S,
             "the worker to start the job")
    subprocess.run(["scancel", "--signal=USR1", "--batch", task["id"]], check=True)
    rc = launch / f"{task['name']}.rc"
    wait_for(rc.exists, REQUEUED_WAIT_S, "the task to end")
    assert rc.read_text() == "0\n", (launch / f"{task['name']}.err").read_text()
    assert "stop requested (SIGUSR1)" in (launch / f"{task['name']}.err").read_text()
    with open_db(pg_url) as store:
        job = store.get(job_id)
    assert job.status == st.START and job.priority >= 2.0 and job.state["stopped"] is True
