"""HTCondor and preemption on the project's real personal pool (tests/infra/condor.sh): a held job is
reported by `jobdispatch --status` as held with its hold reason, not as failed; a job of a
`--requeue` launch that exits 75 stays in the queue and runs again (on_exit_remove), up to the
maximum. If the pool cannot start, these tests fail; they never skip."""
from __future__ import annotations

import pytest

from backends import Resources, Task, TaskStatus
from backends.condor import CondorBackend
from tests.helpers.condor import group_dir
from tests.helpers.dispatch import dispatch_env, jobdispatch, manifest
from tests.helpers.worker import wait_for

WAIT_S = 180.0

pytestmark = pytest.mark.condor


def test_a_held_job_is_held_with_its_reason_not_failed(condor_pool, shared_dir, cli_env):
    logs = group_dir(shared_dir, "LOGS")
    env = dispatch_env({**cli_env, **condor_pool}, JOBDISPATCH_LOGDIR=str(logs))
    proc = jobdispatch(env, shared_dir, "--condor", "--group_access", "--exp_dir=held", "--mem=64M",
                       "--raw=hold = True", "true")
    assert proc.returncode == 0, proc.stderr
    launch = logs / "held"
    status = wait_for(lambda: (s := jobdispatch(env, shared_dir, "--status", str(launch)))
                      and "held" in s.stdout and s, WAIT_S, "the job to be held")
    assert status.stdout.splitlines()[2].split()[:2] == ["0", "held"]
    assert "  task 0 is held: submitted on hold at user's request" in status.stdout
    assert status.stdout.splitlines()[-1] == "jobdispatch: 1 task: 1 held"
    assert manifest(launch)["tasks"][0]["status"] == "held"
    cancel = jobdispatch(env, shared_dir, "--cancel", str(launch))
    assert cancel.returncode == 0, cancel.stderr


def test_a_job_exiting_75_in_a_requeue_launch_runs_again_up_to_the_maximum(condor_pool, shared_dir):
    b = CondorBackend(group_dir(shared_dir, "launch"), cwd=shared_dir,
                      options={"group_access": True, "requeue": 2})
    script = "echo run >> runs.0; exit 75"  # what a worker stopped while jobs wait exits with
    sub = b.launch([Task(0, script)], Resources(mem_mb=64))
    assert "on_exit_remove = (ExitCode =!= 75) || (NumJobStarts > 2)" in (b.launch_dir / "submit.condor").read_text()
    b.wait(sub, timeout_s=WAIT_S)
    assert (shared_dir / "runs.0").read_text() == "run\n" * 3  # the first run and 2 requeues
    assert sub.tasks[0].status == TaskStatus.FAILED and sub.tasks[0].exit_code == 75
    assert sub.tasks[0].requeues == 2
