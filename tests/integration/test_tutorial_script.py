"""conf/tutorial.sh end to end, twice: the second run succeeds and schedules nothing new (its
jobdispatch launch gets a new log directory instead of refusing an existing ``--exp_dir``). The 12
jobs are finished through the store's claim and finish, as a worker does, so the script's workers
find nothing to claim and the MLP is not trained here."""
from __future__ import annotations

import os
import subprocess
import sys

from jobstore.status import DONE, EndReason
from jobstore.store import open_db
from tests.helpers.paths import ROOT

RESULTS = {"best_validation_loss": 0.1, "test_score": 0.1, "minutes_trained": 0.5}


def run_script(url: str, cwd, env: dict, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", os.path.join(ROOT, "conf", "tutorial.sh"), url], cwd=cwd,
                          env=dict(env, WORKERS="2", **extra), capture_output=True, text=True, timeout=300)


def finish_all(url: str) -> int:
    n = 0
    with open_db(url) as db:
        while (job := db.claim(worker="test", host="localhost", lease_s=60, max_attempts=3)) is not None:
            assert db.finish(job.id, job.attempt, status=DONE, end_reason=EndReason.COMPLETED,
                             state={**job.state, **RESULTS})
            n += 1
    return n


def test_tutorial_script_runs_twice(db_url, tmp_path, cli_env):
    url = db_url.split("?", 1)[0] + "?table=mlp_dumi"
    cli_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + cli_env["PATH"]
    p = run_script(url, tmp_path, cli_env, SCHEDULE_ONLY="1")
    assert p.returncode == 0, p.stderr
    assert finish_all(url) == 12
    for _ in range(2):
        p = run_script(url, tmp_path, cli_env)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr
        assert "best_validation_loss" in p.stdout
    with open_db(url) as db:
        jobs = db.jobs()
    assert len(jobs) == 12 and {j.status for j in jobs} == {DONE}
    assert len(os.listdir(tmp_path / "LOGS")) == 2  # one launch directory per run
