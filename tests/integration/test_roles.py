"""Least-privilege roles, as the README sets them up, on the suite's PostgreSQL with scram-sha-256
password authentication (passwords in a 0600 pgpass file, never in a URL): an owner role schedules
(creates the table and its views), a worker role runs every job but can change no table's shape,
a read-only role follows the sweep (status, summary, export) and can change nothing."""
from __future__ import annotations

import csv
import io
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from jobstore import status as st
from tests.helpers.worker import EXP

ROLES = {"lab_owner": "Own3r-pw", "lab_worker": "W0rker-pw", "lab_reader": "Re4der-pw"}

# The README's grants (section "Least-privilege roles"), run by an administrator once per database.
GRANTS = """
GRANT CONNECT, TEMPORARY ON DATABASE {db} TO lab_owner, lab_worker, lab_reader;
GRANT USAGE ON SCHEMA public TO lab_worker, lab_reader;
GRANT USAGE, CREATE ON SCHEMA public TO lab_owner;
ALTER DEFAULT PRIVILEGES FOR ROLE lab_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lab_worker;
ALTER DEFAULT PRIVILEGES FOR ROLE lab_owner IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO lab_worker;
ALTER DEFAULT PRIVILEGES FOR ROLE lab_owner IN SCHEMA public GRANT SELECT ON TABLES TO lab_reader;
"""


@pytest.fixture
def lab(pg_server, tmp_path, cli_env):
    """(url of a role, env with the pgpass file, the database name)."""
    for role, password in ROLES.items():
        pg_server.add_password_role(role, password)
    db = pg_server.createdb()
    with psycopg.connect(pg_server.dsn(db), autocommit=True) as c:
        for statement in GRANTS.format(db=sql.Identifier(db).as_string(None)).split(";"):
            if statement.strip():
                c.execute(statement)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("".join(f"127.0.0.1:{pg_server.port}:{db}:{r}:{p}\n" for r, p in ROLES.items()))
    pgpass.chmod(0o600)
    env = {**cli_env, "PGPASSFILE": str(pgpass)}
    yield (lambda role: pg_server.url(db, "jobs", role)), env, db
    pg_server.dropdb(db)


def jobman(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_owner_schedules_worker_runs_reader_follows(lab, tmp_path):
    url, env, db = lab
    log = tmp_path / "runs.log"
    proc = jobman(env, "sqlschedules", url("lab_owner"), f"{EXP}.record", f"log_path={log}", "i={{1,2,3,4}}")
    assert proc.returncode == 0, proc.stderr
    assert jobman(env, "sqlview", url("lab_owner"), "lab_view").returncode == 0

    proc = jobman(env, "sql", "-n", "0", url("lab_worker"), str(tmp_path / "exp"))
    assert proc.returncode == 0, proc.stderr
    assert len(log.read_text().splitlines()) == 4

    proc = jobman(env, "sqlstatus", "--ret_nb_jobs", "--status=DONE", url("lab_reader"))
    assert proc.returncode == 0 and proc.stdout.strip() == "4", (proc.stdout, proc.stderr)
    assert jobman(env, "sqlstatus", "--summary", url("lab_reader")).returncode == 0
    proc = jobman(env, "export", url("lab_reader"))
    # a header and 4 rows (a record may span lines: the scheduled tree's diff, when it is dirty)
    assert proc.returncode == 0 and len(list(csv.reader(io.StringIO(proc.stdout)))) == 5, proc.stderr

    # The owner refreshes the view with the keys the workers brought (a worker cannot replace it).
    assert jobman(env, "sqlview", url("lab_owner"), "lab_view").returncode == 0
    with psycopg.connect(url("lab_reader").split("?")[0], passfile=env["PGPASSFILE"]) as c:
        assert c.execute("SELECT count(*) FROM lab_view WHERE recorded").fetchone()[0] == 4


def test_the_reader_changes_nothing_and_the_worker_no_table_shape(lab):
    url, env, db = lab
    assert jobman(env, "sqlschedules", url("lab_owner"), f"{EXP}.noop", "i={{1,2}}").returncode == 0
    proc = jobman(env, "sqlstatus", "--set_status=CANCELED", "--all", url("lab_reader"))
    assert proc.returncode == 2 and "permission denied" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    with psycopg.connect(url("lab_worker").split("?")[0], passfile=env["PGPASSFILE"], autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DROP TABLE jobs")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("ALTER TABLE jobs ADD COLUMN x int")
    with psycopg.connect(url("lab_owner").split("?")[0], passfile=env["PGPASSFILE"]) as c:
        statuses = [r[0] for r in c.execute("SELECT status FROM jobs")]
    assert statuses.count(st.START) >= 2 and st.CANCELED not in statuses
