"""The HTCondor backend against the project's real personal pool (tests/infra/condor.sh: Debian
13's condor 23.9 in a trixie chroot on 127.0.0.1:9618), driven from the host with the pip
htcondor2 bindings: clusters, fake GPUs, status, cancel, a refused submission, and
`jobdispatch --condor` end to end against PostgreSQL, the worker running inside the chroot. If the
pool cannot start, these tests fail; they never skip.

Jobs run as the pool's job owner (ciuser, uid 2001, the same on both sides), so every directory a
job writes is under /tmp (bind-mounted into the chroot) and world-writable."""
from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import Resources, Task, TaskStatus
from backends.condor import CondorBackend
from backends.errors import CommandError
from tests.helpers.condor import group_dir
from tests.helpers.worker import wait_for as wait_until

WAIT_S = 120.0
JOBDISPATCH = str(Path(sys.executable).parent / "jobdispatch")  # the console script of the editable install

GROUP = {"group_access": True}

pytestmark = pytest.mark.condor


# the scheduler may take a while to start a task on a busy machine
wait_for = functools.partial(wait_until, timeout_s=WAIT_S)


def test_cluster_runs_each_item_once_as_the_job_owner(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir), cwd=shared_dir, options=GROUP)
    tasks = [Task(i, f'echo "$JOBDISPATCH_TASK_INDEX $GREETING $(id -un) $_CONDOR_SLOT" > out.{i}') for i in range(3)]
    sub = b.launch(tasks, Resources(cpu=1, mem_mb=64, env={"GREETING": "hi there"}, job_name="cluster test"))
    cluster = sub.job_ids[0]
    assert sub.submitted and [t.id for t in sub.tasks] == [f"{cluster}.{i}" for i in range(3)]
    b.wait(sub, timeout_s=WAIT_S)
    assert [(t.status, t.exit_code) for t in sub.tasks] == [(TaskStatus.DONE, 0)] * 3, sub.extra
    for i in range(3):
        index, greeting, owner, slot = (shared_dir / f"out.{i}").read_text().rsplit(" ", 3)
        assert (index, owner) == (f"{i} hi", "ciuser") and greeting == "there" and slot.startswith("slot")
    import htcondor2

    hist = htcondor2.Schedd().history(constraint=f"ClusterId == {cluster}", projection=["ProcId", "ExitCode", "Args"])
    assert sorted((a["ProcId"], a["ExitCode"], a["Args"]) for a in hist) == [(i, 0, str(i)) for i in range(3)]
    assert [c["command"] for c in sub.commands][:2] == [
        "htcondor2 locate schedd (from the HTCondor configuration)",
        f"htcondor2 Schedd.submit({shared_dir / 'launch' / 'submit.condor'}, itemdata=[3 items])"]


def test_gpu_request_gives_each_task_its_fake_gpu(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir), cwd=shared_dir, options=GROUP)
    sub = b.launch([Task(i, f'echo "$CUDA_VISIBLE_DEVICES" > gpu.{i}') for i in range(2)],
                   Resources(mem_mb=64, gpus=1))
    b.wait(sub, timeout_s=WAIT_S)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE, TaskStatus.DONE]
    for i in range(2):
        assert (shared_dir / f"gpu.{i}").read_text().strip() in {"fakegpu0", "fakegpu1"}


def test_status_failure_and_cancel(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir), cwd=shared_dir, options=GROUP)
    tasks = [Task(0, "exit 3"), Task(1, "touch started.1; sleep 300"), Task(2, "touch started.2; sleep 300")]
    sub = b.launch(tasks, Resources(mem_mb=64))
    wait_for(lambda: (shared_dir / "started.1").exists() and (shared_dir / "started.2").exists(),
             what="the sleepers to start")
    wait_for(lambda: b.refresh(sub).tasks[0].final, what="the failing task to end")
    assert (sub.tasks[0].status, sub.tasks[0].exit_code) == (TaskStatus.FAILED, 3)
    assert [t.status for t in sub.tasks[1:]] in ([TaskStatus.RUNNING, TaskStatus.RUNNING], [TaskStatus.PENDING, TaskStatus.RUNNING], [TaskStatus.RUNNING, TaskStatus.PENDING])
    import htcondor2

    schedd = htcondor2.Schedd()
    # The task's exit status (its .rc file) can be known before the schedd has recorded the job's
    # completion; removing the cluster in between would remove job 0 too. Wait for the schedd.
    wait_for(lambda: not schedd.query(constraint=f"ClusterId == {sub.job_ids[0]} && ProcId == 0",
                                      projection=["ProcId"]), what="the schedd to record job 0's exit")
    b.cancel(sub)
    assert [t.status for t in sub.tasks] == [TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.CANCELED]
    assert sub.commands[-1]["command"] == f"htcondor2 Schedd.act(Remove, ClusterId == {sub.job_ids[0]})"
    wait_for(lambda: not schedd.query(constraint=f"ClusterId == {sub.job_ids[0]}", projection=["ProcId"]),
             what="the cluster to leave the queue")
    hist = schedd.history(constraint=f"ClusterId == {sub.job_ids[0]}", projection=["ProcId", "JobStatus"])
    assert sorted((a["ProcId"], a["JobStatus"]) for a in hist) == [(0, 4), (1, 3), (2, 3)]


def test_nb_proc_limits_jobs_in_the_queue(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir), cwd=shared_dir, options=GROUP)
    sub = b.launch([Task(i, "sleep 2") for i in range(4)], Resources(mem_mb=64, nb_proc=2))
    import htcondor2

    schedd = htcondor2.Schedd()
    seen = 0
    while not b.refresh(sub).finished:
        seen = max(seen, len(schedd.query(constraint=f"ClusterId == {sub.job_ids[0]}", projection=["ProcId"])))
        time.sleep(0.2)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE] * 4 and 1 <= seen <= 2


def test_refused_submission_is_one_line_with_the_call(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir), cwd=shared_dir, options=GROUP)
    with pytest.raises(CommandError) as e:
        b.launch([Task(0, "true")], Resources(raw=("universe = nosuch",)))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("command `htcondor2 Schedd.submit(")
    assert "I don't know about the 'nosuch' universe" in msg
    assert (shared_dir / "launch" / "submit.condor").exists()


# ------------------------------------------------------------------------- jobdispatch e2e --

def test_jobdispatch_condor_end_to_end(condor_pool, pg_url, shared_dir, cli_env):
    from jobstore import status as st
    from jobstore.store import open_db
    from tests.helpers.worker import insert

    log = shared_dir / "ran.log"
    ids = insert(pg_url, "record", [{"x": i, "log_path": str(log)} for i in range(7)])
    exproot = shared_dir / "exproot"
    exproot.mkdir(mode=0o777)
    exproot.chmod(0o777)
    logs = shared_dir / "LOGS"
    logs.mkdir(mode=0o777)
    logs.chmod(0o777)
    group_dir(logs, "e2e")
    env = {**cli_env, **condor_pool, "JOBDISPATCH_LOGDIR": str(logs),
           # getenv: the job starts with this environment inside the chroot, where `jobman` is
           # the wrapper in /usr/local/bin (the host venv's python does not exist there).
           "PATH": "/usr/local/bin:/usr/bin:/bin"}
    proc = subprocess.run(
        [JOBDISPATCH, "--condor", "--group_access", "--repeat_jobs=3", "--exp_dir=e2e", "--mem=200M",
         "jobman", "sql", "-n", "0", pg_url, str(exproot)],
        env=env, cwd=shared_dir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    launch = logs / "e2e"
    manifest = json.loads((launch / "manifest.json").read_text())
    cluster = manifest["job_ids"][0]
    assert manifest["backend"] == "condor" and [t["id"] for t in manifest["tasks"]] == [f"{cluster}.{i}" for i in range(3)]
    wait_for(lambda: all((launch / f"{t['name']}.rc").exists() for t in manifest["tasks"]), what="the 3 workers to end")
    rcs = [(launch / f"{t['name']}.rc").read_text().strip() for t in manifest["tasks"]]
    assert rcs == ["0", "0", "0"], [(launch / f"{t['name']}.err").read_text() for t in manifest["tasks"]]
    runs = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(runs) == sorted(str(i) for i in ids)  # every job exactly once
    with open_db(pg_url) as store:
        for i in ids:
            job = store.get(i)
            assert job.status == st.DONE and job.state["jobman.sql.attempt"] == 1
            assert job.state["jobman.sql.condor_cluster_id"] == cluster
            assert job.state["jobman.sql.condor_global_job_id"].split("#")[1].startswith(f"{cluster}.")
            assert job.state["jobman.sql.condor_slot"].startswith("slot")


def test_jobdispatch_status_and_cancel_follow_the_cluster(condor_pool, shared_dir, cli_env):
    """``jobdispatch --status DIR`` / ``--cancel DIR`` through the bindings, from the manifest."""
    logs = shared_dir / "LOGS"
    logs.mkdir(mode=0o777)
    logs.chmod(0o777)
    launch = group_dir(logs, "follow")
    env = {**cli_env, **condor_pool, "JOBDISPATCH_LOGDIR": str(logs), "PATH": "/usr/local/bin:/usr/bin:/bin"}

    def jobdispatch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([JOBDISPATCH, *args], env=env, cwd=shared_dir, capture_output=True, text=True,
                              timeout=120)

    proc = jobdispatch("--condor", "--group_access", "--exp_dir=follow", "--mem=64M", "sh", "-c", "touch started; sleep 300")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cluster = json.loads((launch / "manifest.json").read_text())["job_ids"][0]
    wait_for(lambda: (shared_dir / "started").exists(), what="the task to start")
    status = jobdispatch("--status", str(launch))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[2].split()[:3] == ["0", "running", f"{cluster}.0"]
    cancel = jobdispatch("--cancel", str(launch))
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines()[-1] == "jobdispatch: 1 task: 1 canceled"
    import htcondor2

    wait_for(lambda: not htcondor2.Schedd().query(constraint=f"ClusterId == {cluster}", projection=["ProcId"]),
             what="the cluster to leave the queue")
    assert jobdispatch("--status", str(launch)).returncode == 1
