"""Issue 19, item 11 on the project's real one-node SLURM cluster (tests/infra/slurm.sh): the host
of each array task is recorded (scontrol's BatchHost) and shown by ``jobdispatch --status``."""
from __future__ import annotations

from pathlib import Path

import pytest

from backends import Resources, Task, TaskStatus
from backends.slurm import SlurmBackend
from tests.helpers.dispatch import dispatch_env, jobdispatch, manifest, only_launch

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120.0

pytestmark = pytest.mark.slurm


def test_each_task_records_its_host(slurm_node, tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options={"poll_interval_s": 0.5})  # not the pace under test
    sub = b.launch([Task(i, "sleep 2") for i in range(2)], Resources(cpu=1, mem_mb=64, time_s=600))
    b.wait(sub, timeout_s=WAIT_S)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE] * 2
    assert [t.host for t in sub.tasks] == [slurm_node] * 2


def test_jobdispatch_shows_the_host_and_takes_slurm_time_forms(slurm_node, tmp_path, cli_env):
    """``--time=5:00`` is SLURM's MM:SS; ``--status last`` lists each task with its node."""
    env = dispatch_env(cli_env)
    proc = jobdispatch(env, tmp_path, "--slurm", "--wait", "--time=5:00", "--mem=64M", "--repeat_jobs=2", "sleep", "2")
    assert proc.returncode == 0, proc.stderr
    launch = only_launch(tmp_path)
    assert "#SBATCH --time=0:05:00" in (launch / "submit.sh").read_text()
    assert [t["host"] for t in manifest(launch)["tasks"]] == [slurm_node] * 2
    status = jobdispatch(env, tmp_path, "--status", "last")
    assert status.returncode == 0, status.stderr
    rows = [ln.split() for ln in status.stdout.splitlines()[2:4]]
    assert [(r[0], r[1], r[4]) for r in rows] == [("0", "done", slurm_node), ("1", "done", slurm_node)]
