"""`jobman sqlschedule`, `sqlschedules`, `sqlstatus` and `sqlview` through the real command line,
against a real PostgreSQL server and SQLite; and every kind of bad input (one line, exit 2, no
traceback, nothing written)."""
from __future__ import annotations

import ast
import os
import socket
import sqlite3
import subprocess
import sys

import psycopg
import pytest

from jobstore.store import open_db
from jobstore.store.urls import parse_url

BIN = os.path.join(os.path.dirname(sys.executable), "jobman")
EXP = "tutorial_exp.experiment"
CONF = "learning_rate=0.01\nL1_reg=0.00\nL2_reg=0.0001\nn_iter=50\nbatch_size=20\nn_hidden=10\n"
DEFAULTS = {"learning_rate": 0.01, "L1_reg": 0.0, "L2_reg": 0.0001, "n_iter": 50, "batch_size": 20, "n_hidden": 10}


def jobman(*args: str, env: dict, cwd: str) -> subprocess.CompletedProcess:
    cmd = [BIN] if os.path.exists(BIN) else [sys.executable, "-m", "jobstore.cli"]
    return subprocess.run(cmd + list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def ok(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout.splitlines()


def printed_state(text: str, word: str) -> dict:
    assert text.startswith(word + " {"), text
    return ast.literal_eval(text[len(word) + 1:])


def tables_of(url: str) -> list[str]:
    """Every table or view in the database behind ``url`` (empty when nothing was created)."""
    u = parse_url(url)
    if u.dialect == "sqlite":
        if not os.path.exists(u.path):
            return []
        with sqlite3.connect(u.path) as c:
            return [r[0] for r in c.execute("select name from sqlite_master where type in ('table', 'view')")]
    with psycopg.connect(**u.conninfo()) as c:
        return [r[0] for r in c.execute("select table_name from information_schema.tables "
                                        "where table_schema = 'public'")]


def all_states(url: str) -> list[dict]:
    with open_db(url) as db:
        return [j.state for j in db.jobs()]


@pytest.fixture
def work(tmp_path, cli_env):
    (tmp_path / "mlp_jobman.conf").write_text(CONF)

    def run(*args: str) -> subprocess.CompletedProcess:
        return jobman(*args, env=cli_env, cwd=str(tmp_path))
    return run


# -- sqlschedule ----------------------------------------------------------------------------------
def test_sqlschedule_adds_then_skips_then_forces(db_url, work):
    expected = {**DEFAULTS, "jobman.experiment": EXP, "jobman.status": 0, "jobman.sql.priority": 1.0}
    [line] = ok(work("sqlschedule", db_url, EXP, "mlp_jobman.conf"))
    assert printed_state(line, "ADDING") == expected
    [line] = ok(work("sqlschedule", db_url, EXP, "mlp_jobman.conf"))
    assert printed_state(line, "SKIPPING") == expected
    [line] = ok(work("sqlschedule", "-f", db_url, EXP, "mlp_jobman.conf"))
    assert printed_state(line, "ADDING") == expected
    states = all_states(db_url)
    assert len(states) == 2
    for s in states:
        assert {k: s[k] for k in expected} == expected


def test_sqlschedule_overrides_and_builders(db_url, work):
    [line] = ok(work("sqlschedule", db_url, EXP, "mlp_jobman.conf", "n_hidden=99", "opt::pkg.Adam",
                     "tag=hello", "jobman.sql.priority=3"))
    state = printed_state(line, "ADDING")
    assert state["n_hidden"] == 99 and state["opt.__builder__"] == "pkg.Adam" and state["tag"] == "hello"
    with open_db(db_url) as db:
        [job] = db.jobs()
    assert job.priority == 3.0 and job.state["n_hidden"] == 99 and job.experiment == EXP


# -- sqlschedules ---------------------------------------------------------------------------------
def test_sqlschedules_tutorial_output(db_url, work):
    lines = ok(work("sqlschedules", db_url, EXP, "mlp_jobman.conf", "n_hidden={{20,30}}"))
    assert lines[0] == ("[['mlp_jobman.conf', 'n_hidden=20'], ['mlp_jobman.conf', 'n_hidden=30']] "
                        "[['n_hidden=20'], ['n_hidden=30']]")
    assert [printed_state(x, "ADDING")["n_hidden"] for x in lines[1:3]] == [20, 30]
    assert printed_state(lines[1], "ADDING") == {**DEFAULTS, "n_hidden": 20, "jobman.experiment": EXP,
                                                 "jobman.status": 0, "jobman.sql.priority": 1.0}
    assert lines[3:] == ["Added 2 on 2 jobs"]
    lines = ok(work("sqlschedules", db_url, EXP, "mlp_jobman.conf", "n_hidden={{20,30}}"))
    assert [x.split(" ")[0] for x in lines[1:3]] == ["SKIPPING", "SKIPPING"]
    assert lines[3:] == ["Added 0 on 2 jobs"]
    assert sorted(s["n_hidden"] for s in all_states(db_url)) == [20, 30]


def test_sqlschedules_random_search_draws_per_job(db_url, work):
    lines = ok(work("sqlschedules", db_url, EXP, "mlp_jobman.conf", "n_hidden={{20,30}}",
                    "learning_rate:=@numpy.random.uniform(1e-6, 1e-1)"))
    assert lines[-1] == "Added 2 on 2 jobs"
    lrs = [s["learning_rate"] for s in all_states(db_url)]
    assert len(set(lrs)) == 2 and all(isinstance(x, float) and 1e-6 <= x <= 1e-1 for x in lrs)


def test_sqlschedules_product_and_several_segments(db_url, work):
    lines = ok(work("sqlschedules", "-q", db_url, EXP, "a={{1,2}}_{{x,y}}", "b={{p,q}}"))
    assert lines == ["Added 8 on 8 jobs"]
    pairs = sorted((s["a"], s["b"]) for s in all_states(db_url))
    assert pairs == sorted((f"{i}_{c}", b) for i in (1, 2) for c in "xy" for b in "pq")


def test_sqlschedules_repeat(db_url, work):
    lines = ok(work("sqlschedules", "-r", "3", db_url, EXP, "n={{1,2}}"))
    assert lines[-1] == "Added 6 on 6 jobs"
    assert sum(x.startswith("ADDING") for x in lines) == 6
    lines = ok(work("sqlschedules", "-r", "3", db_url, EXP, "n={{1,2,3}}"))
    assert lines[-1] == "Added 3 on 9 jobs"  # n=1 and n=2 existed: not repeated; n=3 is new
    assert lines.count("The last cmd failed to insert, we won't repeat it...") == 2
    assert sorted(s["n"] for s in all_states(db_url)) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    # -f -q: really inserted copies are counted (Jobman printed the number of combinations)
    assert ok(work("sqlschedules", "-f", "-q", "-r", "2", db_url, EXP, "n={{1,2}}")) == ["Added 4 on 4 jobs"]
    assert len(all_states(db_url)) == 13


# -- sqlstatus ------------------------------------------------------------------------------------
@pytest.fixture
def three_jobs(db_url, work):
    ok(work("sqlschedules", "-q", db_url, EXP, "mlp_jobman.conf", "n_hidden={{20,30,40}}"))
    with open_db(db_url) as db:
        return sorted(j.id for j in db.jobs())


def test_sqlstatus_lines_prints_and_missing_ids(db_url, work, three_jobs):
    a, b, c = three_jobs
    proc = work("sqlstatus", "--print=n_hidden", "--print=nokey", db_url, str(a), str(c), "999999")
    assert proc.returncode == 2 and proc.stderr == "Job id 999999 don't exist in the db\n"  # issue 19, item 12
    lines = proc.stdout.splitlines()
    assert lines == [
        f"Job id {a}, status=0 jobman.sql.priority=1.0 n_hidden=20 nokey=KeyDontExist",
        f"Job id {c}, status=0 jobman.sql.priority=1.0 n_hidden=40 nokey=KeyDontExist",
    ]
    # the tutorial's "JOB_ID1, JOB_ID2, ..." form
    assert ok(work("sqlstatus", db_url, f"{a},", f"{b}")) == [
        f"Job id {a}, status=0 jobman.sql.priority=1.0", f"Job id {b}, status=0 jobman.sql.priority=1.0"]
    quiet = work("sqlstatus", "--quiet", db_url, str(a), "999999")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (2, "", "Job id 999999 don't exist in the db\n")
    change = work("sqlstatus", "--set_status=DONE", db_url, str(a), "999999")
    assert change.returncode == 2 and "no job 999999 in table" in change.stderr and "nothing changed" in change.stderr
    with open_db(db_url) as db:
        assert db.get(a).status == 0


def test_sqlstatus_set_status_count_select_and_priority(db_url, work, three_jobs):
    a, b, c = three_jobs
    assert ok(work("sqlstatus", "--status=START", "--ret_nb_jobs", db_url)) == ["3"]
    assert ok(work("sqlstatus", "--set_status=DONE", "--quiet", db_url, str(a))) == [
        "Changed the status to DONE for 1 job"]
    assert ok(work("sqlstatus", "--set_status=-1", "-q", "--select=n_hidden=30", db_url)) == [
        "Changed the status to CANCELED for 1 job"]
    assert ok(work("sqlstatus", "--status=START", "--ret_nb_jobs", db_url)) == ["1"]
    assert ok(work("sqlstatus", "--status=2", "--status=CANCELED", "--ret_nb_jobs", db_url)) == ["2"]
    assert ok(work("sqlstatus", "--status=done", db_url)) == [f"Job id {a}, status=2 jobman.sql.priority=1.0"]
    assert ok(work("sqlstatus", "--select=jobman.status=CANCELED", "--select=n_hidden=30", db_url)) == [
        f"Job id {b}, status=-1 jobman.sql.priority=1.0"]
    assert ok(work("sqlstatus", "--select=n_hidden=30", "--select=learning_rate=0.01", "--ret_nb_jobs",
                   db_url)) == ["1"]
    assert ok(work("sqlstatus", "--all", "--ret_nb_jobs", db_url, str(a))) == ["3"]
    assert ok(work("sqlstatus", "--status=START", "--ret_nb_jobs", db_url, str(a))) == ["2"]
    with open_db(db_url) as db:
        db.set_priority([c], 5.0)
    assert ok(work("sqlstatus", "--print=n_hidden", db_url, str(c))) == [
        f"Job id {c}, status=0 jobman.sql.priority=5.0 n_hidden=40"]
    assert ok(work("sqlstatus", "--resert_prio", "-q", db_url, str(c))) == ["Reset the priority to the default value"]
    with open_db(db_url) as db:
        assert db.get(c).priority == 1.0
        assert {j.id: j.status for j in db.jobs()} == {a: 2, b: -1, c: 0}


def test_sqlstatus_print_keys(db_url, work, three_jobs):
    lines = ok(work("sqlstatus", "--print-keys", "-q", db_url, str(three_jobs[0])))
    assert lines[0].startswith("Keys in the state of the first jobs ")
    keys = lines[0].split()[8:]
    assert {"learning_rate", "n_hidden", "L1_reg", "jobman.experiment"} <= set(keys)


def test_sqlstatus_ret_nb_jobs_excludes_set_status(db_url, work, three_jobs):
    p = work("sqlstatus", "--ret_nb_jobs", "--set_status=DONE", "--all", db_url)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    [line] = p.stderr.strip().splitlines()
    assert "--ret_nb_jobs" in line and "not allowed with" in line


# -- sqlview --------------------------------------------------------------------------------------
def test_sqlview_create_query_and_drop(db_url, work, three_jobs):
    [line] = ok(work("sqlview", db_url, "jobs_view"))
    assert line.startswith("Created view jobs_view on table jobs with ")
    cols = line.split(": ", 1)[1].split(", ")
    assert {"learningrate", "l1reg", "nhidden", "batchsize", "jobman_status"} <= set(cols)
    u = parse_url(db_url)
    query = "select nhidden, learningrate, jobman_status from jobs_view order by nhidden"
    if u.dialect == "sqlite":
        with sqlite3.connect(u.path) as c:
            rows = c.execute(query).fetchall()
    else:
        with psycopg.connect(**u.conninfo()) as c:
            rows = c.execute(query).fetchall()
    assert rows == [(20, 0.01, 0), (30, 0.01, 0), (40, 0.01, 0)]
    assert ok(work("sqlview", "-d", db_url, "jobs_view")) == ["Dropped view jobs_view"]
    assert "jobs_view" not in tables_of(db_url)


# -- quotes and SQL in keys and values ------------------------------------------------------------
def test_quotes_and_sql_are_stored_and_shown_verbatim(db_url, work):
    value = "x'); drop table jobs; -- \"q\""
    key = "it's"
    ok(work("sqlschedule", db_url, EXP, f"{key}={value}", "b=1"))
    with open_db(db_url) as db:
        [job] = db.jobs()
    assert job.state[key] == value
    lines = ok(work("sqlstatus", f"--print={key}", db_url, str(job.id)))
    assert lines == [f"Job id {job.id}, status=0 jobman.sql.priority=1.0 {key}={value}"]
    assert ok(work("sqlstatus", f"--select={key}={value}", "--ret_nb_jobs", db_url)) == ["1"]
    ok(work("sqlview", db_url, "quoted_view"))
    assert "jobs" in tables_of(db_url)


# -- bad input: one line, exit 2, no traceback, nothing written -----------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_INPUT = [
    # (id, args with {url}, the bad value that the message must name, a word of what is accepted)
    ("malformed-param", ["sqlschedule", "{url}", EXP, "a.b:c=1"], "'a.b:c=1'", "key=value"),
    ("bare-word", ["sqlschedules", "{url}", EXP, "n_hidden20"], "'n_hidden20'", "key=value"),
    ("unbalanced", ["sqlschedules", "{url}", EXP, "n_hidden={{20,30"], "'n_hidden={{20,30'", "{{a,b,...}}"),
    ("unbalanced-close", ["sqlschedules", "{url}", EXP, "n=20}}"], "'n=20}}'", "{{a,b,...}}"),
    ("missing-conf", ["sqlschedule", "{url}", EXP, "nosuch.conf"], "'nosuch.conf'", "conf file"),
    ("bad-expression", ["sqlschedules", "{url}", EXP, "lr:=1/0"], "'lr:=1/0'", "ZeroDivisionError"),
    ("bad-import-in-expression", ["sqlschedule", "{url}", EXP, "lr:=@numpy.random.unifrm(0, 1)"],
     "numpy.random.unifrm", "importable"),
    ("experiment-typo", ["sqlschedule", "{url}", "tutorial_exp.experimnt", "a=1"], "tutorial_exp.experimnt",
     "module.function"),
    ("experiment-module-typo", ["sqlschedules", "{url}", "tutorial_xp.experiment", "a={{1,2}}"],
     "tutorial_xp", "module.function"),
    ("bad-repeat", ["sqlschedules", "-r", "0", "{url}", EXP, "a=1"], "0", ">= 1"),
    ("unknown-status", ["sqlstatus", "--status=FINISHED", "{url}"], "'FINISHED'", "DONE"),
    ("unknown-set-status", ["sqlstatus", "--set_status=7", "--all", "{url}"], "'7'", "CANCELED"),
    ("bad-view-name", ["sqlview", "{url}", "t;drop table x"], "'t;drop table x'", "letters, digits"),
    ("bad-job-id", ["sqlstatus", "{url}", "x1"], "'x1'", "integers"),
]


@pytest.mark.parametrize("args,bad,accepted", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input(db_url, work, args, bad, accepted):
    p = work(*[a.replace("{url}", db_url) for a in args])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stdout == ""
    [line] = p.stderr.strip().splitlines()
    assert bad in line and accepted in line, line
    assert tables_of(db_url) == []


def test_bad_input_leaves_the_table_as_it_was(db_url, work):
    ok(work("sqlschedules", "-q", db_url, EXP, "n={{1,2}}"))
    before = sorted(map(repr, all_states(db_url)))
    for args in (["sqlschedules", db_url, EXP, "n={{3,4}}", "m={{x"],
                 ["sqlschedules", db_url, EXP, "n={{3,4}}", "lr:=[1, 2][n]"],
                 ["sqlschedules", db_url, "tutorial_exp.nope", "n={{3,4}}"],
                 ["sqlstatus", "--set_status=BOGUS", "--all", db_url]):
        p = work(*args)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert sorted(map(repr, all_states(db_url))) == before


@pytest.mark.parametrize("url,bad,accepted", [
    ("postgres//127.0.0.1/db?table=t", "'postgres//127.0.0.1/db?table=t'", "postgresql://"),
    ("mysql://u@h/db?table=t", "'mysql'", "postgresql://"),
    ("postgresql://postgres@127.0.0.1/db", "no table", "?table=NAME"),
    ("sqlite:///{tmp}/x.db", "no table", "?table=NAME"),
    ("sqlite:///{tmp}/x.db?table=t;drop table x", "'t;drop table x'", "letters, digits"),
    ("postgresql://postgres@127.0.0.1:{port}/db?table=jobs", "127.0.0.1", ""),
])
@pytest.mark.parametrize("command", ["sqlschedule", "sqlstatus", "sqlview"])
def test_bad_url(tmp_path, work, cli_env, command, url, bad, accepted):
    port = _closed_port()
    closed = "{port}" in url
    url = url.replace("{tmp}", str(tmp_path)).replace("{port}", str(port))
    args = {"sqlschedule": [url, EXP, "a=1"], "sqlstatus": ["--all", url], "sqlview": [url, "v"]}[command]
    cli_env["JOBMAN_CONNECT_TIMEOUT"] = "1"  # a closed port is waited for (30 s by default)
    p = work(command, *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    *waited, line = p.stderr.strip().splitlines()
    # the wait is announced in one line; the error is the last line
    assert len(waited) == closed and all("refuses connections" in w and w.endswith("; waiting up to 1 s") for w in waited), waited
    assert bad in line and accepted in line, line
    if "{port}" not in url:
        assert not os.path.exists(tmp_path / "x.db")
    else:
        assert str(port) in line


@pytest.fixture
def password_role(pg_server):
    """A role that must give its password (scram), on the session's trust-auth server: one
    pg_hba line for this role only, ahead of the trust lines."""
    role, password = "jobman_pw_role", "right-pass"
    pg_server.add_password_role(role, password)
    return role, password


def test_wrong_password(pg_server, pg_db, work, password_role):
    role, password = password_role
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as c:
        c.execute(f"grant all on schema public to {role}")
    good = f"postgresql://{role}:{password}@127.0.0.1:{pg_server.port}/{pg_db}?table=jobs"
    bad = f"postgresql://{role}:wrong-pass@127.0.0.1:{pg_server.port}/{pg_db}?table=jobs"
    for command, args in (("sqlschedule", [bad, EXP, "a=1"]), ("sqlstatus", ["--all", bad])):
        p = work(command, *args)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        [line] = p.stderr.strip().splitlines()
        assert role in line and "password" in line.lower(), line
        assert "wrong-pass" not in line
    assert tables_of(pg_server.url(pg_db)) == []
    [line] = ok(work("sqlschedule", good, EXP, "a=1"))  # the role itself works: only the password was wrong
    assert line.startswith("ADDING ")
    assert "right-pass" not in line


def test_sqlschedules_progress_only_on_a_terminal(sqlite_url, tmp_path, cli_env):
    import pty

    cmd = [BIN, "sqlschedules", "-q", sqlite_url, EXP, "a={{" + ",".join(map(str, range(50))) + "}}",
           "b={{" + ",".join(map(str, range(60))) + "}}"]
    master, slave = pty.openpty()
    try:
        p = subprocess.run(cmd, env=cli_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, text=True,
                           timeout=300)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert p.returncode == 0 and p.stdout == "Added 3000 on 3000 jobs\n"
    assert b"\rparsing 3000/3000" in seen and b"inserting 3000 jobs" in seen
    p = subprocess.run(cmd[:3] + ["-f"] + cmd[3:], env=cli_env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and p.stdout == "Added 3000 on 3000 jobs\n" and p.stderr == ""


def test_experiment_module_in_the_current_directory(sqlite_url, tmp_path):
    """As in the tutorial: mlp_jobman.py sits beside the user, with no PYTHONPATH set."""
    (tmp_path / "my_local_exp.py").write_text("def experiment(state, channel):\n    return channel.COMPLETE\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = jobman("sqlschedule", sqlite_url, "my_local_exp.experiment", "a=1", env=env, cwd=str(tmp_path))
    [line] = ok(p)
    assert printed_state(line, "ADDING")["jobman.experiment"] == "my_local_exp.experiment"
    p = jobman("sqlschedule", sqlite_url, "my_local_exp.experimen", "a=1", env=env, cwd=str(tmp_path))
    assert p.returncode == 2 and "'my_local_exp.experimen'" in p.stderr


def test_a_bad_connect_timeout_is_one_line(tmp_path, work, cli_env):
    cli_env["JOBMAN_CONNECT_TIMEOUT"] = "soon"
    p = work("sqlstatus", "--all", f"postgresql://postgres@127.0.0.1:{_closed_port()}/db?table=t")
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "invalid $JOBMAN_CONNECT_TIMEOUT 'soon'" in p.stderr


def test_a_bad_retry_total_is_one_line(tmp_path, work, cli_env):
    cli_env["JOBMAN_RETRY_TOTAL"] = "-1"
    p = work("sqlstatus", "--all", f"postgresql://postgres@127.0.0.1:{_closed_port()}/db?table=t")
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "invalid $JOBMAN_RETRY_TOTAL '-1': expected a number of seconds >= 0" in p.stderr
