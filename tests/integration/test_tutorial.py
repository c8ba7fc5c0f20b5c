"""The tutorial (reference/seed-tutorial.txt) as written: its shell commands and its Python
script, with only the database URL, the experiment's module path and the script's import lines
changed; then its psql query on the view once results exist (written through the store's claim and
finish, as a worker does)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from jobstore.params.state import expand, flatten
from jobstore.status import DONE, EndReason
from jobstore.store import open_db
from jobstore.store.urls import parse_url

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "experiments"))
import tutorial_exp  # noqa: E402

CONF = "learning_rate=0.01\nL1_reg=0.00\nL2_reg=0.0001\nn_iter=50\nbatch_size=20\nn_hidden=10\n"
QUERY = ("select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore "
         "from {view} where jobman_status=2 order by bestvalidationloss;")
COLUMNS = ["batchsize", "bestvalidationloss", "learningrate", "minutestrained", "nhidden", "niter", "testscore"]

# The tutorial's Python script, verbatim with its indentation restored. Changed: the three import
# lines (jobman -> jobstore, mlp_jobman -> tutorial_exp) and the URL.
SCRIPT = '''\
from jobstore import api0, sql
from jobstore.tools import DD, flatten
# Experiment function
from tutorial_exp import experiment
# Database
TABLE_NAME = 'mlp_dumi'
db = api0.open_db('@BASE@?table='+TABLE_NAME)
# Default values
state = DD()
state.learning_rate = 0.01
state.L1_reg = 0.00
state.L2_reg = 0.0001
state.n_iter = 50
state.batch_size = 20
state.n_hidden = 10
# Hyperparameter exploration
for n_hidden in 20, 30:
    state.n_hidden = n_hidden
    # Explore L1 regularization w/o L2
    state.L2_reg = 0.
    for L1_reg in 0., 1e-6, 1e-5, 1e-4:
        state.L1_reg = L1_reg
        # Insert job
        sql.insert_job(experiment, flatten(state), db)
    # Explore L2 regularization w/o L1
    state.L1_reg = 0.
    for L2_reg in 1e-5, 1e-4:
        state.L1_reg = L1_reg
        # Insert job
        sql.insert_job(experiment, flatten(state), db)
# Create the view
db.createView(TABLE_NAME+'_view')
'''

# The tutorial's commands. Changed: the URL and the experiment's module path; the two commands
# the tutorial wraps with a backslash glued to the previous word are written on one line.
SHELL = '''\
set -e
jobman sqlschedule @URL@ tutorial_exp.experiment mlp_jobman.conf
jobman sqlschedules @URL@ tutorial_exp.experiment mlp_jobman.conf 'n_hidden={{20,30}}'
jobman sqlschedules @URL@ tutorial_exp.experiment mlp_jobman.conf 'n_hidden={{20,30}}' "learning_rate:=@numpy.random.uniform(1e-6, 1e-1)"
jobman sqlview @URL@ mlp_dumi_view
'''


def base_of(db_url: str) -> str:
    return db_url.split("?", 1)[0]


def run_all_jobs(url: str) -> int:
    """Run every job with the tutorial's experiment, through the store's claim and finish."""
    class Channel:
        COMPLETE = None
        INCOMPLETE = True

    n = 0
    with open_db(url) as db:
        while (job := db.claim(worker="test", host="localhost", lease_s=60, max_attempts=3)) is not None:
            state = expand(job.state)
            assert tutorial_exp.experiment(state, Channel()) is Channel.COMPLETE
            assert db.finish(job.id, job.attempt, status=DONE, end_reason=EndReason.COMPLETED, state=flatten(state))
            n += 1
    return n


def query_view(url: str, view: str) -> list[list[str]]:
    """The tutorial's query, run by the real client (psql; sqlite3 for SQLite): rows of strings."""
    u = parse_url(url)
    sql = QUERY.format(view=view)
    if u.dialect == "sqlite":
        p = subprocess.run(["sqlite3", "-header", u.path, sql], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        header, *rows = p.stdout.splitlines()
        assert header.split("|") == COLUMNS
        return [r.split("|") for r in rows]
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    p = subprocess.run(["psql", "-X", "-h", u.host, "-p", str(u.port), "-U", u.user, "-d", u.dbname, "-c", sql],
                       capture_output=True, text=True, timeout=60, env=env, cwd="/tmp")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [c.strip() for c in lines[0].split("|")] == COLUMNS
    rows = [[c.strip() for c in line.split("|")] for line in lines[2:] if "|" in line]
    assert lines[-1].strip() in (f"({len(rows)} rows)", f"({len(rows)} row)")
    return rows


def expected_rows(url: str) -> list[list[float]]:
    with open_db(url) as db:
        jobs = [j.state for j in db.jobs(statuses=[DONE])]
    rows = [[s["batch_size"], s["best_validation_loss"], s["learning_rate"], s["minutes_trained"], s["n_hidden"],
             s["n_iter"], s["test_score"]] for s in jobs]
    return sorted(rows, key=lambda r: r[1])


def as_numbers(rows: list[list[str]]) -> list[list[float]]:
    return [[float(x) for x in r] for r in rows]


def same_rows(got: list[list[float]], expected: list[list[float]]) -> bool:
    return len(got) == len(expected) and all(g == pytest.approx(e, rel=1e-12) for g, e in zip(got, expected))


def test_tutorial_commands_then_psql_query(db_url, tmp_path, cli_env):
    (tmp_path / "mlp_jobman.conf").write_text(CONF)
    url = base_of(db_url) + "?table=mlp_dumi"
    cli_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + cli_env["PATH"]
    p = subprocess.run(["bash", "-c", SHELL.replace("@URL@", url)], cwd=tmp_path, env=cli_env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stdout.splitlines()
    adding = [ast.literal_eval(x[len("ADDING "):]) for x in lines if x.startswith("ADDING ")]
    assert [s["n_hidden"] for s in adding] == [10, 20, 30, 20, 30]
    assert all(s["jobman.experiment"] == "tutorial_exp.experiment" and s["jobman.status"] == 0
               and s["jobman.sql.priority"] == 1.0 for s in adding)
    assert lines.count("[['mlp_jobman.conf', 'n_hidden=20'], ['mlp_jobman.conf', 'n_hidden=30']] "
                       "[['n_hidden=20'], ['n_hidden=30']]") == 1
    assert lines.count("Added 2 on 2 jobs") == 2
    assert lines[-1].startswith("Created view mlp_dumi_view on table mlp_dumi")

    assert run_all_jobs(url) == 5
    rows = as_numbers(query_view(url, "mlp_dumi_view"))  # the view was created before the results
    assert same_rows(rows, expected_rows(url))
    assert len(rows) == 5 and rows == sorted(rows, key=lambda r: r[1])
    random_lrs = {r[2] for r in rows if r[4] in (20, 30)} - {0.01}
    assert len(random_lrs) == 2 and all(1e-6 <= x <= 1e-1 for x in random_lrs)

    p = subprocess.run(["jobman", "sqlstatus", "--status=DONE", "--ret_nb_jobs", url], cwd=tmp_path, env=cli_env,
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "5", p.stderr


def test_tutorial_python_script(db_url, tmp_path, cli_env):
    url_base = base_of(db_url)
    script = tmp_path / "insert_jobs.py"
    script.write_text(SCRIPT.replace("@BASE@", url_base))
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=cli_env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    url = url_base + "?table=mlp_dumi"
    with open_db(url) as db:
        jobs = db.jobs()
    # The script's L2 loop assigns L1_reg (a bug kept verbatim): both of its inserts repeat the last
    # L1 job and are skipped as duplicates, so 4 jobs per n_hidden remain.
    got = sorted((j.state["n_hidden"], j.state["L1_reg"], j.state["L2_reg"]) for j in jobs)
    assert got == sorted((h, l1, 0.0) for h in (20, 30) for l1 in (0.0, 1e-6, 1e-5, 1e-4))
    assert {j.experiment for j in jobs} == {"tutorial_exp.experiment"}
    assert {j.status for j in jobs} == {0}
    assert all(j.state["learning_rate"] == 0.01 and j.state["batch_size"] == 20 for j in jobs)

    assert run_all_jobs(url) == 8
    rows = as_numbers(query_view(url, "mlp_dumi_view"))
    assert len(rows) == 8 and same_rows(rows, expected_rows(url))


def test_python_api_names(db_url, tmp_path, cli_env):
    """insert_job returns the id, None for a duplicate; takes a dotted name too; refuses __main__."""
    code = textwrap.dedent(f'''
        import jobstore
        from jobstore import DD, flatten, expand, open_db, insert_job
        from tutorial_exp import experiment
        db = open_db({db_url!r})
        s = DD(a=1, b=DD(c=2.5))
        first = insert_job(experiment, flatten(s), db)
        again = insert_job("tutorial_exp.experiment", flatten(s), db)
        forced = insert_job(experiment, s, db, force_dup=True)
        print(type(first).__name__, again, forced != first)
        print(sorted(db.get(first).state.items()))
        def local(state, channel):
            pass
        try:
            insert_job(local, flatten(s), db)
        except jobstore.errors.UsageError as e:
            print("refused:", e)
    ''')
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "int None True"
    state = dict(ast.literal_eval(lines[1]))
    assert state["a"] == 1 and state["b.c"] == 2.5 and state["jobman.experiment"] == "tutorial_exp.experiment"
    assert lines[2].startswith("refused: ") and "__main__" in lines[2]


def test_tutorial_sqlschedules_with_the_real_experiment_and_shipped_conf(db_url, tmp_path, cli_env):
    """The shipped conf/mlp_jobman.conf holds the tutorial's defaults, and the real experiment
    (models.mlp_jobman.experiment, only imported here) schedules as the tutorial shows."""
    root = os.path.dirname(TESTS)
    with open(os.path.join(root, "conf", "mlp_jobman.conf")) as f:
        shipped = f.read()
    (tmp_path / "mlp_jobman.conf").write_text(shipped)
    url = base_of(db_url) + "?table=mlp_dumi"
    cli_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + cli_env["PATH"]
    p = subprocess.run(["bash", "-c", f"jobman sqlschedules {url} models.mlp_jobman.experiment mlp_jobman.conf "
                                      "'n_hidden={{20,30}}'"],
                       cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == ("[['mlp_jobman.conf', 'n_hidden=20'], ['mlp_jobman.conf', 'n_hidden=30']] "
                        "[['n_hidden=20'], ['n_hidden=30']]")
    for line, n_hidden in zip(lines[1:3], (20, 30)):
        assert line.startswith("ADDING ")
        assert ast.literal_eval(line[len("ADDING "):]) == {
            "n_iter": 50, "jobman.experiment": "models.mlp_jobman.experiment", "jobman.status": 0,
            "jobman.sql.priority": 1.0, "L1_reg": 0.0, "learning_rate": 0.01, "n_hidden": n_hidden,
            "batch_size": 20, "L2_reg": 0.0001}
    assert lines[3:] == ["Added 2 on 2 jobs"]
