"""Issue 14, item 2: counters that cannot overflow. On PostgreSQL the attempt numbers and counts
are bigint (schema version 4); a table made by version 3 with integer columns is migrated in place
when a worker opens it, rows and views kept, and a job at attempt 2**31 - 1 then runs to DONE.
SQLite's INTEGER is 64-bit already; there, and on PostgreSQL, a job whose counter is at 2**63 - 1
ends ERR_START at its claim instead of crashing the worker."""
from __future__ import annotations

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, run_worker

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
# (table, column) of every counter: attempt numbers, lost-lease and copy counts, search budgets.
COUNTERS = [("jobs", "attempt"), ("jobs", "losses"), ("jobs", "copy"), ("jobs__metrics", "attempt"),
            ("jobs__jobdirs", "attempt"), ("jobs__errors", "attempt"), ("jobs__searches", "budget")]


def _column_types(url: str) -> dict[tuple[str, str], str]:
    rows = raw_query(url, "SELECT table_name, column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = current_schema()")
    return {(t, c): typ for t, c, typ in rows}


def _make_version_3(url: str) -> None:
    """What version 3 made: integer counters (the side table of errors, created on first use by
    then, missing), and its schema version."""
    raw_query(url, "DROP TABLE jobs__errors")
    raw_query(url, "DROP INDEX jobs__updated")  # the dashboard's index of changed rows came with version 4
    raw_query(url, "ALTER TABLE jobs ALTER COLUMN attempt TYPE integer, ALTER COLUMN losses TYPE integer, "
                   "ALTER COLUMN copy TYPE integer")
    for table, column in COUNTERS[3:]:
        if table != "jobs__errors":
            raw_query(url, f"ALTER TABLE {table} ALTER COLUMN {column} TYPE integer")
    raw_query(url, "UPDATE jobs__meta SET value = '3' WHERE key = 'schema_version'")


def _run_one(url: str, tmp_path, cli_env) -> None:
    proc = run_worker(cli_env, url, str(tmp_path / "root"), "-n", "1")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_a_version_3_table_is_migrated_to_bigint_counters_and_runs_a_job_past_int_max(pg_url, tmp_path, cli_env):
    [jid] = insert(pg_url, "noop", [{"x": 1}])
    with open_db(pg_url) as store:
        store.create_view("results")
    _make_version_3(pg_url)
    assert _column_types(pg_url)[("jobs", "attempt")] == "integer"
    raw_query(pg_url, "UPDATE jobs SET attempt = %s WHERE id = %s", (INT_MAX, jid))

    _run_one(pg_url, tmp_path, cli_env)  # opening the table migrates it, then the job runs

    types = _column_types(pg_url)
    assert {c: types[c] for c in COUNTERS} == {c: "bigint" for c in COUNTERS}
    assert raw_query(pg_url, "SELECT value FROM jobs__meta WHERE key = 'schema_version'") == [("4",)]
    assert raw_query(pg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'jobs__updated'") == [(1,)]
    with open_db(pg_url) as store:
        job = store.get(jid)
        assert (job.status, job.attempt, job.state["x"]) == (st.DONE, INT_MAX + 1, 1)
        store.create_view("results")  # views still build over the altered table
    assert raw_query(pg_url, "SELECT id, x, jobman_status FROM results") == [(jid, 1, st.DONE)]


def test_a_job_past_int_max_is_claimed_and_runs_to_done(db_url, tmp_path, cli_env):
    [jid] = insert(db_url, "noop", [{"x": 1}])
    raw_query(db_url, "UPDATE jobs SET attempt = %s WHERE id = %s", (INT_MAX, jid))
    _run_one(db_url, tmp_path, cli_env)
    with open_db(db_url) as store:
        job = store.get(jid)
    assert (job.status, job.attempt) == (st.DONE, INT_MAX + 1)


def test_a_job_with_an_exhausted_counter_ends_err_start_and_the_next_job_runs(db_url, tmp_path, cli_env):
    stuck, nxt = insert(db_url, "noop", [{"x": 1}, {"x": 2}])
    raw_query(db_url, "UPDATE jobs SET attempt = %s, priority = 9 WHERE id = %s", (BIGINT_MAX, stuck))
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    with open_db(db_url) as store:
        bad, good = store.get(stuck), store.get(nxt)
    assert (bad.status, bad.attempt, bad.end_reason) == (st.ERR_START, BIGINT_MAX, "start-error")
    assert "attempt counter at its maximum" in bad.error and bad.lease_until is None
    assert good.status == st.DONE
