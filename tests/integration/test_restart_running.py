"""Issue 14, item 5: ``--set_status=START`` on a RUNNING job (the README's recovery) does not let a
second attempt run beside the first: the job keeps its lease until the running attempt stops, the
fenced-out attempt (told by its refused start save or end here; by a heartbeat, see
test_worker_faults) writes nothing into the job directory after the
refusal (its end goes to result-<attempt>.json); then the job runs again. Both dialects."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, job_dir, read, run_worker, start_worker, wait_for


def test_a_running_job_set_to_start_is_not_run_twice_at_once(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "fault_exps.writes_conf", [{"seconds": 4}])
    root = str(tmp_path / "root")
    first = start_worker(cli_env, db_url, root, "-n", "1", "--lease", "60", "--heartbeat", "30")
    d = job_dir(root, db_url, i)
    # started, and its start save done (current.conf; deferred by 1 s on PostgreSQL): the reset below
    # then fences it at its end, 4 s later, not at once (a race the thief could win)
    wait_for(lambda: all(os.path.exists(os.path.join(d, f)) for f in ("started", "current.conf")),
             what="the first attempt to start")
    setter = subprocess.run([sys.executable, "-m", "jobstore.cli", "sqlstatus", "--set_status=START", db_url,
                             str(i)], env=cli_env, capture_output=True, text=True, timeout=60)
    assert setter.returncode == 0, setter.stderr
    thief = run_worker(cli_env, db_url, root, "-n", "0")  # the first attempt still runs: nothing to claim
    assert "ran 0 jobs" in thief.stdout, thief.stdout + thief.stderr
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 1 and "no longer holds the job" in err
    kept = json.loads(read(os.path.join(d, "result-1.json")))
    # its deferred start save (PostgreSQL) or its end was refused: it stopped or ran to its end
    assert kept["state"].get("stopped") or kept["state"].get("slept")
    conf_path = os.path.join(d, "current.conf")
    conf = read(conf_path) if os.path.exists(conf_path) else ""
    assert "stopped" not in conf and "slept" not in conf  # the refused attempt wrote no conf
    second = run_worker(cli_env, db_url, root, "-n", "0")  # claimable at once: the lease was released
    assert "ran 1 job" in second.stdout, second.stdout + second.stderr
    with open_db(db_url) as store:
        job = store.get(i)
    # two runs, two attempts: the hand-reset itself costs none (issue 19), it fences by status
    assert job.status == st.DONE and job.attempt == 2 and job.state["slept"] is True
    assert read(os.path.join(d, "started")).count("\n") == 2  # two attempts, one after the other
    assert "slept = True" in read(os.path.join(d, "current.conf"))
