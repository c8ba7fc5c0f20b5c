"""Adaptive search served by the unchanged workers, on PostgreSQL and SQLite: an exact budget and
no duplicate under 8 workers, a worker killed between the ask and the insert leaves nothing, a
dead worker's job is resumed by its lease and not asked again, the summary shows the search."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.search import BRANIN_SPACE, search_rows, sqlsearch
from tests.helpers.worker import run_worker, start_worker, wait_for

HOOK_ENV = "JOBMAN_SEARCH_AFTER_ASK"


@pytest.mark.slow
def test_eight_workers_spend_a_budget_of_50_exactly_without_duplicates(db_url, tmp_path, cli_env):
    log = str(tmp_path / "executions.log")
    reg = sqlsearch(cli_env, db_url, "branin", *BRANIN_SPACE, f"log_path={log}", "sleep_s=0.2",
                    "--objective", "y", "--trials", "50", "--seed", "7", "--name", "br")
    assert reg.returncode == 0, reg.stderr
    assert "REGISTERED search 'br'" in reg.stdout
    procs = [start_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0") for _ in range(8)]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    for rc, _out, err in results:
        assert rc == 0, err
    rows = search_rows(db_url)
    jobs = rows["jobs"]
    assert len(jobs) == 50
    assert sum(out.count("Selected job id=") for _, out, _ in results) == 50
    assert {j.status for j in jobs} == {st.DONE}
    assert len({j.hash for j in jobs}) == 50
    assert len({(j.state["x1"], j.state["x2"]) for j in jobs}) == 50
    assert {j.state["jobman.search"] for j in jobs} == {"br"}
    assert len({j.worker for j in jobs}) > 1  # served by several workers at once (0.2 s per job)
    assert all(-5 <= j.state["x1"] <= 10 and 0 <= j.state["x2"] <= 15 for j in jobs)
    assert sorted(jid for jid, _ in rows["links"]) == sorted(j.id for j in jobs)
    with open(log) as f:
        executions = f.read().split()
    assert sorted(map(int, executions)) == sorted(j.id for j in jobs)  # each job ran once


@pytest.mark.slow
def test_worker_killed_between_ask_and_insert_leaves_no_job(db_url, tmp_path, cli_env):
    marker = tmp_path / "asked"
    reg = sqlsearch(cli_env, db_url, "branin", *BRANIN_SPACE, "--objective", "y", "--trials", "3")
    assert reg.returncode == 0, reg.stderr
    hook = {HOOK_ENV: "search_exps.hang_after_ask", "SEARCH_TEST_MARKER": str(marker)}
    proc = start_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", extra_env=hook)
    try:
        wait_for(marker.exists, 120, "the worker to ask the sampler")
        proc.send_signal(signal.SIGKILL)  # inside the transaction, after the ask, before the insert
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert search_rows(db_url) == {"jobs": [], "links": []}
    done = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0")
    assert done.returncode == 0, done.stderr
    rows = search_rows(db_url)
    assert len(rows["jobs"]) == 3 and len(rows["links"]) == 3  # the budget, no more
    assert {j.status for j in rows["jobs"]} == {st.DONE}


@pytest.mark.slow
def test_dead_workers_job_is_resumed_by_its_lease_not_asked_again(db_url, tmp_path, cli_env):
    marker = tmp_path / "first-run"
    reg = sqlsearch(cli_env, db_url, "hang_first", *BRANIN_SPACE, f"marker={marker}",
                    "--objective", "y", "--trials", "1")
    assert reg.returncode == 0, reg.stderr
    proc = start_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", "--lease", "2")
    try:
        wait_for(marker.exists, 120, "the search's job to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_db(db_url) as store:
        (job,) = store.jobs()
        assert job.status == st.RUNNING and job.attempt == 1
    # The lease runs out on the database clock (epoch seconds); then the next worker reclaims it.
    wait_for(lambda: time.time() > (job.lease_until or 0) + 1.0, 60, "the dead worker's lease to expire")
    again = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0")
    assert again.returncode == 0, again.stderr
    assert f"Selected job id={job.id}" in again.stdout
    rows = search_rows(db_url)
    (resumed,) = rows["jobs"]
    assert (resumed.id, resumed.status, resumed.attempt) == (job.id, st.DONE, 2)
    assert (resumed.state["x1"], resumed.state["x2"]) == (job.state["x1"], job.state["x2"])
    assert len(rows["links"]) == 1


def test_summary_shows_each_search(db_url, tmp_path, cli_env):
    for name, trials in (("first", "4"), ("second", "6")):
        reg = sqlsearch(cli_env, db_url, "branin", *BRANIN_SPACE, "--objective", "y", "--trials", trials,
                        "--sampler", "random", "--seed", "1", "--name", name)
        assert reg.returncode == 0, reg.stderr
    done = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "5")
    assert done.returncode == 0, done.stderr
    with open_db(db_url) as store:
        best = min(j.state["y"] for j in store.jobs() if j.state["jobman.search"] == "first")
    out = subprocess.run([sys.executable, "-m", "jobstore.cli", "sqlstatus", "--summary", db_url],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    first = next(ln for ln in lines if ln.split()[:1] == ["first"])
    second = next(ln for ln in lines if ln.split()[:1] == ["second"])
    # search, sampler, objective, goal, done, running, failed, left, best, job
    assert first.split()[1:8] == ["random", "y", "min", "4", "0", "0", "0"]
    assert first.split()[8] == f"{best:.4g}"
    assert second.split()[1:8] == ["random", "y", "min", "1", "0", "0", "5"]


# -- bad input: one line, exit 2, nothing written --------------------------------------------------

BAD = [
    (("x~uniform(1,1)",), "empty range in 'x~uniform(1,1)'"),
    (("x~loguniform(0,1)",), "a log scale needs low > 0"),
    (("x~normal(0,1)",), "unknown distribution 'normal'"),
    (("x~uniform(0,1",), "malformed search dimension 'x~uniform(0,1'"),
    (("x~choice()",), "empty choice in 'x~choice()'"),
    (("x~int(1,2)", "--sampler", "bayes"), "unknown sampler 'bayes': expected one of tpe, random, cmaes, grid"),
    (("x~uniform(0,1)", "--sampler", "grid"), "the grid sampler needs discrete dimensions"),
    (("x~int(1,3)", "--sampler", "grid", "--trials", "9"), "--trials 9 exceeds the grid's 3 points"),
    (("x=2",), "no searched key"),
    (("x~int(1,3)", "--trials", "0"), "invalid --trials 0"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_search_is_one_line_exit_2_and_writes_nothing(sqlite_url, tmp_path, cli_env, args, message):
    if "--trials" not in args:
        args = (*args, "--trials", "2")
    res = sqlsearch(cli_env, sqlite_url, "branin", *args, "--objective", "y")
    assert res.returncode == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not os.path.exists(tmp_path / "jobs.db")


def test_taken_name_is_refused_and_the_first_search_kept(sqlite_url, cli_env):
    first = sqlsearch(cli_env, sqlite_url, "branin", "x1~uniform(0,1)", "x2=1", "--objective", "y",
                      "--trials", "2", "--name", "s")
    again = sqlsearch(cli_env, sqlite_url, "branin", "x1~uniform(0,1)", "x2=1", "--objective", "y",
                      "--trials", "9", "--name", "s")
    assert first.returncode == 0, first.stderr
    assert again.returncode == 2 and "a search named 's' already exists" in again.stderr
    with open_db(sqlite_url) as store:
        (search,) = store.searches().all()
    assert (search.name, search.budget) == ("s", 2)


def test_without_optuna_one_line_names_the_extra(sqlite_url, tmp_path, cli_env):
    # Optuna is installed here: a module named optuna that fails to import stands in for a machine
    # without it.
    stub = tmp_path / "no_optuna"
    stub.mkdir()
    (stub / "optuna.py").write_text("raise ImportError('No module named optuna')\n")
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(stub), cli_env["PYTHONPATH"]])}
    res = sqlsearch(env, sqlite_url, "branin", *BRANIN_SPACE, "--objective", "y", "--trials", "2")
    assert res.returncode == 2
    assert "jobman-ng[search]" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "jobs.db")
