"""Issue 19, item 14: what cron jobs, CI and monitors read — ``jobman sqlstatus --check`` (exit 0, 1
or 3 and one line), ``--json`` of ``sqlstatus`` (summary, job lines, count) and ``export``, through
the real command line on PostgreSQL and SQLite."""
from __future__ import annotations

import json
import subprocess
import sys

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert

LEASE_S = 600.0


def jobman(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def end_next(url: str, status: int, **results) -> int:
    """Claim the next job and end it with ``status`` (RUNNING: leave it held with a live lease)."""
    with open_db(url) as db:
        job = db.claim(worker="w1", host="node1", lease_s=LEASE_S, max_attempts=3)
        state = {**job.state, **results}
        if status == st.RUNNING:
            assert db.save(job.id, job.attempt, state, LEASE_S)
        else:
            error = "Traceback (most recent call last):\nmodels.errors.ParamError: lr < 0" if status == st.ERR_RUN else None
            assert db.finish(job.id, job.attempt, status=status, state=state, error=error,
                             end_reason="completed" if status == st.DONE else "error")
        return job.id


def check(env: dict, url: str, *extra: str) -> tuple[int, str]:
    proc = jobman(env, "sqlstatus", "--check", *extra, url)
    assert proc.stderr == "" and len(proc.stdout.splitlines()) == 1, (proc.stdout, proc.stderr)
    return proc.returncode, proc.stdout.strip()


def test_check_exit_statuses(db_url, cli_env):
    insert(db_url, "noop", [{"x": i} for i in range(4)])
    rc, line = check(cli_env, db_url)
    assert rc == 3 and line.startswith("STALLED table jobs:") and "4 waiting, no worker alive" in line

    end_next(db_url, st.RUNNING)
    rc, line = check(cli_env, db_url)
    assert (rc, line) == (0, "OK table jobs: 0 done, 1 running, 3 waiting, 0 in error")

    failed = end_next(db_url, st.ERR_RUN)
    rc, line = check(cli_env, db_url)
    assert rc == 1 and line.startswith("ERRORS table jobs: 0 done, 1 running, 2 waiting, 1 in error")
    assert f"last: job {failed} ParamError: lr < 0 (jobman sqlstatus --traceback {failed} DB)" in line
    rc, line = check(cli_env, db_url, "--max-errors=1")  # one error tolerated: fine again
    assert rc == 0 and line.startswith("OK ")

    proc = jobman(cli_env, "sqlstatus", "--check", "--max-errors=-1", db_url)
    assert proc.returncode == 2 and "invalid --max-errors -1" in proc.stderr
    missing = jobman(cli_env, "sqlstatus", "--check", db_url.replace("table=jobs", "table=nope"))
    assert missing.returncode == 2 and "no job table 'nope'" in missing.stderr


def test_json_summary_jobs_count_and_export(db_url, cli_env):
    ids = insert(db_url, "noop", [{"x": i} for i in range(3)])
    done = end_next(db_url, st.DONE, best_validation_loss=0.25, bad=float("nan"))
    failed = end_next(db_url, st.ERR_RUN)

    proc = jobman(cli_env, "sqlstatus", "--summary", "--json", db_url)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    s = json.loads(line)
    assert s["format"] == 1 and s["table"] == "jobs" and s["total"] == 3
    assert s["counts"]["START"] == 1 and s["counts"]["DONE"] == 1 and s["counts"]["ERR_RUN"] == 1
    assert s["stalled"] is True and s["workers_alive"] == 0
    assert s["pace"]["finished"] == 2 and s["pace"]["jobs_per_hour"] > 0
    assert [b["id"] for b in s["best"]] == [done] and s["best"][0]["value"] == 0.25
    assert s["errors"] == [{"id": failed, "status": "ERR_RUN", "status_code": 5, "end_reason": "error",
                            "error": "ParamError: lr < 0"}]

    proc = jobman(cli_env, "sqlstatus", "--json", "--all", db_url)
    jobs = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [j["id"] for j in jobs] == ids
    first = jobs[0]
    assert (first["status"], first["status_code"], first["attempt"], first["host"]) == ("DONE", 2, 1, "node1")
    assert first["state"]["best_validation_loss"] == 0.25 and first["state"]["bad"] is None  # NaN: null
    assert first["ended"].startswith("20") and isinstance(first["ended_epoch"], float)
    assert jobs[1]["error"].endswith("ParamError: lr < 0") and jobs[2]["started"] is None

    proc = jobman(cli_env, "sqlstatus", "--json", "--ret_nb_jobs", "--status=START", db_url)
    assert json.loads(proc.stdout) == {"count": 1}

    proc = jobman(cli_env, "export", "--json", "--keys=x,error", db_url)
    rows = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [(r["id"], r["state"]["x"]) for r in rows] == [(ids[0], 0), (ids[1], 1), (ids[2], 2)]
    assert rows[1]["state"]["error"].endswith("lr < 0")
