"""The SLURM backend against the project's real one-node cluster (tests/infra/slurm.sh: slurm-wlm
22.05 + munge, 8 CPUs through config_overrides, 2 fake GPUs as gres character devices): job arrays,
chunks, GPUs, USR1 forwarding, status, cancel, rejected submissions, and `jobdispatch --slurm`
end to end against PostgreSQL. If the cluster cannot start, these tests fail; they never skip."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import Resources, Task, TaskStatus
from backends.errors import CommandError
from backends.slurm import SlurmBackend
from tests.helpers.worker import wait_for as wait_until

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120.0
JOBDISPATCH = str(Path(sys.executable).parent / "jobdispatch")  # the console script of the editable install

pytestmark = pytest.mark.slurm


# the scheduler may take a while to start a task on a busy machine
wait_for = functools.partial(wait_until, timeout_s=WAIT_S)
# wait() polls every 0.5 s where what is tested is not the pace: the default 5 s pace is tested by
# the 1,000-task test below and tests/unit/test_backend_polling.py
POLL = {"poll_interval_s": 0.5}


def scontrol_states(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    states = {}
    for line in out.splitlines():
        f = dict(x.split("=", 1) for x in line.split() if "=" in x)
        states[f"{f['ArrayJobId']}_{f['ArrayTaskId']}"] = f["JobState"]
    return states


def test_array_runs_each_task_with_its_own_index(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options=POLL)
    tasks = [Task(i, f'echo "$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $JOBDISPATCH_TASK_INDEX $GREETING" > out.{i}')
             for i in range(4)]
    sub = b.launch(tasks, Resources(cpu=1, mem_mb=64, time_s=600, env={"GREETING": "hi there"},
                                    job_name="arr test"))
    assert sub.submitted and len(sub.job_ids) == 1 and [t.id for t in sub.tasks] == [f"{sub.job_ids[0]}_{i}" for i in range(4)]
    b.wait(sub, timeout_s=WAIT_S)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE] * 4 and [t.exit_code for t in sub.tasks] == [0] * 4
    for i in range(4):
        assert (tmp_path / f"out.{i}").read_text() == f"{sub.job_ids[0]} {i} {i} hi there\n"
    assert set(scontrol_states(sub.job_ids[0]).values()) == {"COMPLETED"}
    assert b.max_array_size() == 1001  # read from scontrol show config (slurm.sh's MaxArraySize)
    assert [c["command"] for c in sub.commands][:2] == [
        "scontrol show config", f"sbatch --parsable {tmp_path / 'launch' / 'submit.sh'}"]


def test_chunks_run_every_task_once_with_the_offset(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options={"max_array_size": 2, **POLL})
    tasks = [Task(i, f"echo $SLURM_ARRAY_JOB_ID:$SLURM_ARRAY_TASK_ID >> seen.{i}") for i in range(5)]
    sub = b.launch(tasks, Resources(mem_mb=64, nb_proc=2))
    assert len(sub.job_ids) == 3
    b.wait(sub, timeout_s=WAIT_S)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE] * 5
    for i in range(5):
        k, local = divmod(i, 2)
        assert (tmp_path / f"seen.{i}").read_text() == f"{sub.job_ids[k]}:{local}\n"
        assert sub.tasks[i].id == f"{sub.job_ids[k]}_{local}"
    # chained so that the throttle holds across chunks
    assert any(f"--dependency=afterany:{sub.job_ids[0]}" in c["command"] for c in sub.commands)


@pytest.mark.parametrize("options, gpus", [({}, 1), ({"gpu_directive": "gpus"}, 2)])
def test_gpu_tasks_see_their_own_fake_gpus(slurm_node, tmp_path, options, gpus):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options={**options, **POLL})
    tasks = [Task(i, f'echo "$CUDA_VISIBLE_DEVICES" > gpu.{i}; sleep 1') for i in range(2)]
    sub = b.launch(tasks, Resources(mem_mb=64, gpus=gpus))
    b.wait(sub, timeout_s=WAIT_S)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE, TaskStatus.DONE]
    seen = [(tmp_path / f"gpu.{i}").read_text().strip() for i in range(2)]
    for s in seen:
        assert len(s.split(",")) == gpus and set(s.split(",")) <= {"0", "1"}
    if gpus == 1:  # both ran at once (8 CPUs, 2 GPUs, 1 s each) or one after the other
        assert all(s in ("0", "1") for s in seen)


def test_usr1_reaches_the_task_through_the_launcher(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path)
    script = ("trap 'echo checkpointed > usr1.txt; exit 0' USR1; echo ready > ready.txt; "
              "while :; do sleep 0.1; done")
    sub = b.launch([Task(0, script)], Resources(mem_mb=64, time_s=600))
    wait_for(lambda: (tmp_path / "ready.txt").exists(), what="the task to start")
    subprocess.run(["scancel", "--signal=USR1", "--batch", sub.tasks[0].id], check=True)
    b.wait(sub, timeout_s=WAIT_S)
    assert (tmp_path / "usr1.txt").read_text() == "checkpointed\n"
    assert sub.tasks[0].status == TaskStatus.DONE and sub.tasks[0].exit_code == 0


def test_status_and_cancel(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path)
    tasks = [Task(i, f"touch started.{i}; sleep 300") for i in range(3)]
    sub = b.launch(tasks, Resources(mem_mb=64, nb_proc=1))
    wait_for(lambda: (tmp_path / "started.0").exists(), what="the first task to start")
    b.refresh(sub)
    # throttled to one at a time: the first runs, the others wait
    assert sub.tasks[0].status == TaskStatus.RUNNING and [t.status for t in sub.tasks[1:]] == ["pending", "pending"]
    b.cancel(sub)
    assert [t.status for t in sub.tasks] == [TaskStatus.CANCELED] * 3
    assert sub.commands[-1]["command"] == f"scancel {sub.job_ids[0]}"
    wait_for(lambda: set(scontrol_states(sub.job_ids[0]).values()) == {"CANCELLED"}, what="CANCELLED in scontrol")


def test_failed_task_is_failed_with_its_exit_code(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options=POLL)
    sub = b.launch([Task(0, "exit 3"), Task(1, "true")], Resources(mem_mb=64))
    b.wait(sub, timeout_s=WAIT_S)
    assert [(t.status, t.exit_code) for t in sub.tasks] == [(TaskStatus.FAILED, 3), (TaskStatus.DONE, 0)]


@pytest.mark.parametrize("resources, said", [
    (Resources(mem_mb=999999), "sbatch: error: Memory specification can not be satisfied"),
    (Resources(queue="nosuchpartition"), "sbatch: error: invalid partition specified: nosuchpartition"),
    (Resources(gpus=3), "Requested node configuration is not available"),
])
def test_rejected_submission_shows_sbatch_stderr_with_the_command(slurm_node, tmp_path, resources, said):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path)
    with pytest.raises(CommandError) as e:
        b.launch([Task(0, "true")], resources)
    msg = str(e.value)
    assert "\n" not in msg and e.value.returncode != 0
    assert msg.startswith(f"command `sbatch --parsable {tmp_path / 'launch' / 'submit.sh'}` failed with exit status 1: ")
    assert said in msg


# ------------------------------------------------------------------------- jobdispatch e2e --

def dispatch_env(cli_env: dict[str, str], logdir: Path) -> dict[str, str]:
    env = dict(cli_env)
    env["JOBDISPATCH_LOGDIR"] = str(logdir)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def test_jobdispatch_slurm_end_to_end(slurm_node, pg_url, tmp_path, cli_env):
    from jobstore import status as st
    from jobstore.store import open_db
    from tests.helpers.worker import insert

    log = tmp_path / "ran.log"
    ids = insert(pg_url, "record", [{"x": i, "log_path": str(log)} for i in range(7)])
    exproot = tmp_path / "exproot"
    proc = subprocess.run(
        [JOBDISPATCH, "--slurm", "--repeat_jobs=3", "--exp_dir=e2e", "--mem=200M",
         "jobman", "sql", "-n", "0", pg_url, str(exproot)],
        env=dispatch_env(cli_env, tmp_path / "LOGS"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    launch = tmp_path / "LOGS" / "e2e"
    manifest = json.loads((launch / "manifest.json").read_text())
    array_id = manifest["job_ids"][0]
    assert manifest["backend"] == "slurm" and [t["id"] for t in manifest["tasks"]] == [f"{array_id}_{i}" for i in range(3)]
    wait_for(lambda: all((launch / f"{t['name']}.rc").exists() for t in manifest["tasks"]), what="the 3 workers to end")
    assert [(launch / f"{t['name']}.rc").read_text().strip() for t in manifest["tasks"]] == ["0", "0", "0"]
    runs = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(runs) == sorted(str(i) for i in ids)  # every job exactly once
    with open_db(pg_url) as store:
        for i in ids:
            job = store.get(i)
            assert job.status == st.DONE and job.state["jobman.sql.attempt"] == 1
            assert job.state["jobman.sql.slurm_array_job_id"] == array_id
            assert job.state["jobman.sql.slurm_array_task_id"] in {"0", "1", "2"}
            assert job.state["jobman.sql.slurm_job_id"]


def test_jobdispatch_slurm_rejected_submission_is_one_line(slurm_node, tmp_path, cli_env):
    proc = subprocess.run(
        [JOBDISPATCH, "--slurm", "--exp_dir=bad", "--mem=999999M", "true"],
        env=dispatch_env(cli_env, tmp_path / "LOGS"), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "sbatch --parsable" in lines[0] and "Memory specification can not be satisfied" in lines[0]
    manifest = json.loads((tmp_path / "LOGS" / "bad" / "manifest.json").read_text())
    assert manifest["job_ids"] == [] and manifest["error"]
    assert os.path.exists(tmp_path / "LOGS" / "bad" / "submit.sh")


def test_jobdispatch_status_and_cancel_follow_the_array(slurm_node, tmp_path, cli_env):
    """``jobdispatch --status DIR`` / ``--cancel DIR``: the backend rebuilt from the manifest asks
    scontrol, and scancels the array."""
    env = dispatch_env(cli_env, tmp_path / "LOGS")
    proc = subprocess.run([JOBDISPATCH, "--slurm", "--nb_proc=1", "--repeat_jobs=2", "--exp_dir=follow", "--mem=64M",
                           "sh", "-c", "touch started.$JOBDISPATCH_TASK_INDEX; sleep 300"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "LOGS" / "follow"
    array_id = json.loads((launch / "manifest.json").read_text())["job_ids"][0]
    wait_for(lambda: (tmp_path / "started.0").exists(), what="the first task to start")

    def follow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([JOBDISPATCH, *args, str(launch)], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    status = follow("--status")
    assert status.returncode == 0, status.stderr
    assert "slurm launch of" in status.stdout and f"({array_id})" in status.stdout
    rows = [line.split()[:3] for line in status.stdout.splitlines()[2:4]]
    assert rows == [["0", "running", f"{array_id}_0"], ["1", "pending", f"{array_id}_1"]]
    cancel = follow("--cancel")
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines()[-1] == "jobdispatch: 2 tasks: 2 canceled"
    assert json.loads((launch / "manifest.json").read_text())["commands"][-1]["command"] == f"scancel {array_id}"
    wait_for(lambda: set(scontrol_states(array_id).values()) == {"CANCELLED"}, what="CANCELLED in scontrol")
    assert follow("--status").returncode == 1


def test_wait_on_a_1000_task_array_asks_squeue_once_per_poll_at_most_every_5_s(slurm_node, tmp_path, cli_env):
    """``jobdispatch --status --wait`` on a 1,000-task array: every task DONE, one scheduler query
    per poll (not one per task), and never two within 5 s (the default pace)."""
    env = dispatch_env(cli_env, tmp_path / "LOGS")
    proc = subprocess.run([JOBDISPATCH, "--slurm", "--repeat_jobs=1000", "--exp_dir=big", "--mem=16M", "true"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "LOGS" / "big"
    start = time.monotonic()
    waited = subprocess.run([JOBDISPATCH, "--status", str(launch), "--wait"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=900)
    waited_s = time.monotonic() - start
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.splitlines()[-1] == "jobdispatch: 1000 tasks: 1000 done"
    commands = json.loads((launch / "manifest.json").read_text())["commands"]
    queries = [c for c in commands if c["command"].split()[0] in ("squeue", "scontrol", "sacct")
               and "config" not in c["command"]]
    assert queries and all(c["command"].startswith("squeue ") for c in queries)
    # the first poll at once, then at most one every 5 s
    assert len(queries) <= 1 + waited_s / 5.0, (len(queries), waited_s)
