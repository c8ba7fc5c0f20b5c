"""The job store against a real PostgreSQL server and a real SQLite file (``db_url``: both)."""
from __future__ import annotations

import logging
import math
import multiprocessing
import sqlite3
import threading
import time

import psycopg
import pytest

from jobstore.errors import DatabaseError, UrlError, UsageError
from jobstore.status import CANCELED, DONE, ERR_RUN, RUNNING, START
from jobstore.store import open_db
from jobstore.store.jobs import SCHEMA_VERSION
from jobstore.store.urls import parse_url

LEASE_S = 30.0


def raw_query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run SQL with the plain driver, as a user with psql or sqlite3 would."""
    u = parse_url(url)
    if u.dialect == "sqlite":
        with sqlite3.connect(u.path) as c:
            return c.execute(sql, params).fetchall()
    with psycopg.connect(**u.conninfo(), autocommit=True) as c:
        cur = c.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def job(**state):
    return {"jobman.experiment": "tests.exp.run", **state}


def claim(db, worker="w1", lease_s=LEASE_S, max_attempts=3):
    return db.claim(worker=worker, host="testhost", lease_s=lease_s, max_attempts=max_attempts)


# -- schema ---------------------------------------------------------------------------------------
def test_schema_is_created_once_and_versioned(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([job(a=1)])
        assert db.schema_version() == SCHEMA_VERSION
    with open_db(db_url) as db:  # opening again keeps the rows
        assert db.count() == 1
        assert db.schema_version() == SCHEMA_VERSION
    assert raw_query(db_url, "SELECT value FROM jobs__meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_a_version_1_table_is_migrated_in_place_with_its_rows(db_url):
    """Version 2 brought side tables (metrics, searches): a table made by version 1 gets them when
    it is opened, even by a command that creates nothing, and keeps its rows."""
    with open_db(db_url) as db:
        [first] = db.insert_jobs([job(a=1)])
    for side in ("jobs__metrics", "jobs__searches", "jobs__search_jobs"):
        raw_query(db_url, f"DROP TABLE {side}")
    raw_query(db_url, "UPDATE jobs__meta SET value = '1' WHERE key = 'schema_version'")
    with open_db(db_url, create=False) as db:
        assert db.schema_version() == SCHEMA_VERSION
        assert [j.id for j in db.jobs()] == [first.job_id]
    for side in ("jobs__metrics", "jobs__searches", "jobs__search_jobs"):
        assert raw_query(db_url, f"SELECT count(*) FROM {side}") == [(0,)]


def test_a_version_2_table_gets_the_job_directories_table_in_place(db_url):
    """Version 3 brought the side table of job directories (jobman sql --jobdir=db)."""
    with open_db(db_url) as db:
        [first] = db.insert_jobs([job(a=1)])
    raw_query(db_url, "DROP TABLE jobs__jobdirs")
    raw_query(db_url, "UPDATE jobs__meta SET value = '2' WHERE key = 'schema_version'")
    with open_db(db_url, create=False) as db:
        assert db.schema_version() == SCHEMA_VERSION
        assert [j.id for j in db.jobs()] == [first.job_id] and db.jobdirs().get(first.job_id) is None
    assert raw_query(db_url, "SELECT count(*) FROM jobs__jobdirs") == [(0,)]


def test_missing_table_without_create_is_an_error(db_url):
    with pytest.raises(DatabaseError, match="no job table 'other'"):
        open_db(db_url.replace("table=jobs", "table=other"), create=False)


def test_missing_sqlite_file_without_create_is_an_error_and_leaves_no_file(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(DatabaseError, match="does not exist"):
        open_db(f"sqlite:///{path}?table=jobs", create=False)
    assert not path.exists()


def test_foreign_table_of_the_same_name_is_refused(db_url):
    with open_db(db_url.replace("table=jobs", "table=placeholder")):
        pass  # creates the database file
    raw_query(db_url, "CREATE TABLE notjobs (x integer)")
    with pytest.raises(DatabaseError, match="'notjobs'.*not a job table"):
        open_db(db_url.replace("table=jobs", "table=notjobs"))


def test_the_table_test_answers_as_pg_tables_does(pg_url):
    """``table_exists`` reads pg_class, not the pg_tables view: the same answer for a table, a
    partitioned table, a view, an index, a sequence, and a table of that name in another schema."""
    raw_query(pg_url, "CREATE TABLE plain (x integer)")
    raw_query(pg_url, "CREATE TABLE parted (x integer) PARTITION BY RANGE (x)")
    raw_query(pg_url, "CREATE VIEW aview AS SELECT 1 AS x")
    raw_query(pg_url, "CREATE INDEX anindex ON plain (x)")
    raw_query(pg_url, "CREATE SEQUENCE aseq")
    raw_query(pg_url, "CREATE SCHEMA elsewhere")
    raw_query(pg_url, "CREATE TABLE elsewhere.hidden (x integer)")
    names = ["plain", "parted", "aview", "anindex", "aseq", "hidden", "absent"]
    with open_db(pg_url) as db:
        got = {n: db.db.run("t", lambda c, n=n: db.sql.exec(c, "table_exists", {"name": n}).fetchone()[0])
               for n in names}
    listed = {r[0] for r in raw_query(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert got == {n: n in listed for n in names} == {**dict.fromkeys(names, False), "plain": True, "parted": True}


@pytest.mark.parametrize("name", ["t;drop table x", "1abc", "a-b", "x" * 60])
def test_bad_table_names_are_refused(db_url, name):
    with pytest.raises(UrlError, match="invalid table name"):
        open_db(db_url.replace("table=jobs", f"table={name}"))


# -- insertion ------------------------------------------------------------------------------------
def test_insert_dedups_by_content_and_forces_copies(db_url):
    with open_db(db_url) as db:
        res = db.insert_jobs([job(a=1, b="x"), job(a=2), job(b="x", a=1)])
        assert [r.inserted for r in res] == [True, True, False]
        assert res[2].job_id is None and res[0].job_id != res[1].job_id
        assert res[0].state == {"jobman.experiment": "tests.exp.run", "a": 1, "b": "x", "jobman.status": 0,
                                "jobman.sql.priority": 1.0}
        assert [r.inserted for r in db.insert_jobs([job(a=1, b="x")])] == [False]
        # another experiment, or another type, is another job
        assert db.insert_jobs([{"jobman.experiment": "tests.exp.other", "a": 1, "b": "x"}])[0].inserted
        assert db.insert_jobs([job(a=1.0, b="x")])[0].inserted
        forced = db.insert_jobs([job(a=2), job(a=2)], force=True, priority=5.0)
        assert all(r.inserted for r in forced)
        copies = sorted(j.extra["copy"] for j in db.jobs(select={"a": 2}) if j.experiment == "tests.exp.run")
        assert copies == [0, 1, 2]
        assert db.get(forced[0].job_id).priority == 5.0
        assert db.count() == 6
        assert db.get(res[1].job_id).status == START


def test_the_database_itself_refuses_a_duplicate(db_url):
    with open_db(db_url) as db:
        jid = db.insert_jobs([job(a=1)])[0].job_id
        h = db.get(jid).hash
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        raw_query(db_url, f"INSERT INTO jobs (experiment, hash, copy) VALUES ('x', '{h}', 0)")


def test_a_bad_job_late_in_a_batch_leaves_the_table_and_its_keys_as_they_were(db_url):
    # PostgreSQL encodes the jobs while it sends them: the bad one arrives after thousands of rows.
    with open_db(db_url) as db:
        first = db.insert_jobs([job(a=0)])[0].job_id
        keys = db.keys()
        good = [job(a=i, fresh=i) for i in range(1, 3001)]
        with pytest.raises(UsageError, match="job 3000 has no 'jobman.experiment'"):
            db.insert_jobs(good + [{"a": -1}])
        with pytest.raises(UsageError, match="value of key 'bad' is a object"):
            db.insert_jobs(good + [job(bad=object())])
        assert db.count() == 1 and db.keys() == keys
        # the same store goes on: the new key is registered now, ids follow the input order
        res = db.insert_jobs(good[:3] + [job(a=0), good[0]])
        assert [r.inserted for r in res] == [True, True, True, False, False]
        assert db.keys()["fresh"] == "bigint"
        ids = [r.job_id for r in res[:3]]
        assert ids == sorted(ids) and ids[0] > first and ids == list(range(ids[0], ids[0] + 3))
        later = db.insert_jobs([job(a=-2)])[0].job_id
        assert later > ids[-1]


def test_keys_of_an_insert_that_failed_after_registering_them_are_registered_again(db_url, monkeypatch):
    # The registry is written in the insert's transaction; when the insert fails after it, the
    # rows and the keys are rolled back and the store must not go on believing the keys known.
    with open_db(db_url) as db:
        db.insert_jobs([job(a=0)])
        register = db.views_.register

        def register_then_fail(conn, types):
            register(conn, types)
            raise RuntimeError("injected: the insert fails after registering its keys")

        monkeypatch.setattr(db.views_, "register", register_then_fail)
        with pytest.raises(RuntimeError, match="injected"):
            db.insert_jobs([job(a=1, fresh=1)])
        monkeypatch.undo()
        assert db.count() == 1 and "fresh" not in db.keys()
        db.insert_jobs([job(a=1, fresh=1)])
        assert db.keys()["fresh"] == "bigint"
        db.save(db.claim(worker="w", host="h", lease_s=60, max_attempts=3).id, 1, {"fresh": 2.5}, 60)
        assert db.keys()["fresh"] == "double precision"


def test_statements_read_at_once_share_a_cursor_per_connection(db_url):
    # The worker's claims, finishes and heartbeats go through one cursor per connection (a new
    # psycopg cursor per statement was a measurable part of the per-job CPU); a new connection
    # gets its own, and every read still sees its own statement's result.
    with open_db(db_url) as db:
        a, b = (r.job_id for r in db.insert_jobs([job(a=1), job(a=2)]))
        assert db.get(a).state["a"] == 1
        first = db.sql._cursor
        assert db.get(b).state["a"] == 2 and db.sql._cursor is first
        job_b = db.claim(worker="w", host="h", lease_s=60, max_attempts=3)
        assert db.heartbeat(job_b.id, job_b.attempt, 60) and db.sql._cursor is first
        db.release()  # the connection is closed: the next statement opens another
        assert db.get(a).state["a"] == 1 and db.sql._cursor[0] is not first[0]
        assert db.finish(job_b.id, job_b.attempt, status=DONE, end_reason="completed")
        assert db.get(job_b.id).status == DONE


@pytest.mark.parametrize("pgbouncer", ["0", "1"])
def test_the_worker_statements_are_prepared_at_their_first_run_unless_behind_a_pooler(pg_url, pgbouncer):
    # prepared at once rather than at the sixth run (psycopg's default): a new worker's first jobs
    # do not parse and plan finish_claim afresh; with ?pgbouncer=1 nothing is prepared
    with open_db(f"{pg_url}&pgbouncer={pgbouncer}") as db:
        db.insert_jobs([job(a=1), job(a=2)])
        first = claim(db)
        ok, second = db.finish_and_claim(first.id, first.attempt, status=DONE, end_reason="completed",
                                         claim={"worker": "w1", "host": "testhost", "lease_s": LEASE_S})
        assert ok and second is not None
        assert db.heartbeat(second.id, second.attempt, LEASE_S)
        prepared = db.db.run("t", lambda c: [r[0] for r in c.execute(
            "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql").fetchall()])
    if pgbouncer == "1":
        assert prepared == []
    else:
        assert any(text.lstrip().startswith("WITH finished AS") for text in prepared), prepared
        assert any(text.lstrip().startswith('UPDATE "jobs" SET lease_until') for text in prepared), prepared


def test_text_that_needs_escaping_in_a_bulk_load(db_url):
    exp = "tests.exp.run\\\t\n\r"
    state = {"jobman.experiment": exp, "s": "back\\slash\ttab\nline\rcr \\N", "k\\\t": "\\.",
             "jobman.sql.priority": math.inf}
    with open_db(db_url) as db:
        res = db.insert_jobs([state, dict(state, n=1)])
        assert all(r.inserted for r in res)
        for r in res:
            got = db.get(r.job_id)
            assert got.experiment == exp and got.priority == math.inf
            assert {k: got.state[k] for k in r.state} == r.state


def _insert_same(url: str, n: int, barrier) -> None:
    with open_db(url) as db:
        barrier.wait()
        db.insert_jobs([job(i=i) for i in range(n)])


def test_concurrent_inserts_of_the_same_jobs_give_one_row_each(db_url):
    open_db(db_url).close()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_insert_same, args=(db_url, 300, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_db(db_url) as db:
        assert db.count() == 300
        assert raw_query(db_url, "SELECT count(DISTINCT hash) FROM jobs") == [(300,)]


def test_values_round_trip(db_url):
    weird_key = "k'ey\"; drop table jobs; --"
    state = job(inf=math.inf, ninf=-math.inf, nan=math.nan, tup=(1, (2, "x")), lst=[1, [2]], flag=True,
                zero=False, none=None, d={"a": (1, 2)}, s="it's \"quoted\"; DROP TABLE jobs", u="héllo ☃",
                big=2**70, b=b"\x00\x01")
    state[weird_key] = "v'al"
    with open_db(db_url) as db:
        jid = db.insert_jobs([state])[0].job_id
        got = db.get(jid).state
        assert math.isnan(got.pop("nan"))
        expected = {k: v for k, v in state.items() if k != "nan"}
        assert {k: got[k] for k in expected} == expected
        assert type(got["tup"]) is tuple and type(got["tup"][1]) is tuple and type(got["lst"]) is list
        assert got["flag"] is True and got["zero"] is False
        assert db.count(select={weird_key: "v'al"}) == 1
        # the same through a save
        j = claim(db)
        new = dict(j.state, result=(math.inf, -1.5))
        assert db.save(j.id, j.attempt, new, LEASE_S)
        assert db.get(jid).state["result"] == (math.inf, -1.5)
        assert raw_query(db_url, "SELECT count(*) FROM jobs") == [(1,)]


# -- claiming -------------------------------------------------------------------------------------
def test_claim_order_is_priority_then_lowest_id(db_url):
    with open_db(db_url) as db:
        ids = [r.job_id for r in db.insert_jobs([job(i=0), job(i=1, **{"jobman.sql.priority": 3.0}),
                                                 job(i=2, **{"jobman.sql.priority": 3.0}),
                                                 job(i=3, **{"jobman.sql.priority": 2.0})])]
        got = [claim(db).id for _ in range(4)]
        assert got == [ids[1], ids[2], ids[3], ids[0]]
        assert claim(db) is None


def test_claim_sets_the_lease_and_provenance(db_url):
    with open_db(db_url) as db:
        assert claim(db) is None  # empty table
        jid = db.insert_jobs([job(a=1)])[0].job_id
        j = claim(db, worker="wk-7", lease_s=100)
        assert (j.id, j.status, j.attempt, j.worker, j.host) == (jid, RUNNING, 1, "wk-7", "testhost")
        assert j.state["jobman.status"] == RUNNING and j.state["a"] == 1
        assert 99 <= j.lease_until - j.started <= 101
        assert claim(db) is None


def _claim_all(url: str, out: list, errors: list) -> None:
    try:
        with open_db(url) as db:
            while (j := claim(db)) is not None:
                out.append(j.id)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


def test_concurrent_claims_never_give_a_job_twice(db_url):
    n_jobs, n_threads = (400, 8) if db_url.startswith("postgres") else (200, 4)
    with open_db(db_url) as db:
        db.insert_jobs([job(i=i) for i in range(n_jobs)])
    got: list[int] = []
    errors: list[Exception] = []
    threads = [threading.Thread(target=_claim_all, args=(db_url, got, errors)) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(got) == n_jobs and len(set(got)) == n_jobs
    with open_db(db_url) as db:
        assert db.count_by_status() == {RUNNING: n_jobs}


# -- leases and fencing ---------------------------------------------------------------------------
def test_expired_lease_is_claimed_again_and_the_old_attempt_is_fenced(db_url):
    with open_db(db_url) as db:
        jid = db.insert_jobs([job(a=1)])[0].job_id
        old = claim(db, worker="dead", lease_s=0.3)
        assert claim(db) is None  # lease still valid
        time.sleep(0.6)
        new = claim(db, worker="alive")
        assert (new.id, new.attempt, new.worker) == (jid, 2, "alive")
        assert new.priority >= 2.0 and new.extra["losses"] == 1
        assert "lease expired" in new.error
        assert not db.heartbeat(old.id, old.attempt, LEASE_S)
        assert not db.save(old.id, old.attempt, dict(old.state, late=1), LEASE_S)
        assert not db.finish(old.id, old.attempt, status=DONE, end_reason="completed", state=dict(old.state, late=1))
        assert db.heartbeat(new.id, new.attempt, LEASE_S)
        assert db.finish(new.id, new.attempt, status=DONE, end_reason="completed", state=dict(new.state, r=2))
        final = db.get(jid)
        assert (final.status, final.end_reason, final.state["r"]) == (DONE, "completed", 2)
        assert "late" not in final.state


def test_an_expired_job_waits_for_the_next_reap_only_while_other_jobs_are_claimable(db_url):
    with open_db(db_url) as db:
        db.reap_interval_s = 3600.0  # this store's first claim reaps; the next ones do not need to
        lost = db.insert_jobs([job(a=1)])[0].job_id
        assert claim(db, worker="dead", lease_s=0.3).id == lost
        time.sleep(0.6)
        other = db.insert_jobs([job(a=2)])[0].job_id
        assert claim(db).id == other  # a job is claimable: no reap yet
        assert db.get(lost).status == RUNNING
        # none is: the claim reaps at once although its store reaped recently
        again = claim(db, worker="alive")
        assert (again.id, again.attempt, again.worker, again.extra["losses"]) == (lost, 2, "alive", 1)
        # and a store whose interval has passed reaps before claiming what is START
        db.insert_jobs([job(a=3)])
        assert claim(db, worker="dead2", lease_s=0.3) is not None
        time.sleep(0.6)
        fresh = db.insert_jobs([job(a=4)])[0].job_id
        with open_db(db_url) as db2:  # a new store reaps on its first claim
            got = claim(db2, worker="alive2")
            assert got.id != fresh and got.attempt == 2 and got.extra["losses"] == 1


def test_a_heartbeat_keeps_the_lease(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([job(a=1)])
        j = claim(db, lease_s=0.6)
        for _ in range(4):
            time.sleep(0.3)
            assert db.heartbeat(j.id, j.attempt, 0.6)
        assert claim(db) is None
        assert db.get(j.id).attempt == 1


def test_jobs_lost_max_attempts_times_end_as_err_run(db_url):
    with open_db(db_url) as db:
        jid = db.insert_jobs([job(a=1)])[0].job_id
        for attempt in (1, 2):
            j = claim(db, lease_s=0.2, max_attempts=2)
            assert (j.id, j.attempt) == (jid, attempt)
            time.sleep(0.4)
        assert claim(db, max_attempts=2) is None
        final = db.get(jid)
        assert (final.status, final.end_reason, final.extra["losses"]) == (ERR_RUN, "lost", 2)
        assert "lease expired" in final.error and "max attempts 2" in final.error


def test_finish_semantics(db_url):
    with open_db(db_url) as db:
        a, b, c = (r.job_id for r in db.insert_jobs([job(i=1), job(i=2), job(i=3)]))
        j = claim(db)
        assert db.finish(j.id, j.attempt, status=START, end_reason="preempted", priority=2.0,
                         state=dict(j.state, step=5))
        assert not db.finish(j.id, j.attempt, status=DONE, end_reason="completed")  # already ended
        again = claim(db)
        assert (again.id, again.attempt, again.priority, again.state["step"]) == (a, 2, 2.0, 5)
        assert db.finish(again.id, again.attempt, status=ERR_RUN, end_reason="error", error="Traceback: boom")
        row = db.get(a)
        assert (row.status, row.end_reason, row.error, row.lease_until) == (ERR_RUN, "error", "Traceback: boom", None)
        assert row.ended >= row.started
        j2 = claim(db)
        assert db.finish(j2.id, j2.attempt, status=DONE, end_reason="completed")  # state left as it was
        assert db.get(b).state["i"] == 2 and db.get(b).status == DONE
        assert db.count_by_status() == {START: 1, DONE: 1, ERR_RUN: 1}
        assert db.count(statuses=[START]) == 1 and db.jobs(statuses=[START])[0].id == c


def test_set_status_fences_the_running_worker(db_url):
    with open_db(db_url) as db:
        ids = [r.job_id for r in db.insert_jobs([job(i=1), job(i=2)])]
        j = claim(db)
        assert db.set_status([j.id], CANCELED) == 1
        assert not db.heartbeat(j.id, j.attempt, LEASE_S)
        assert not db.save(j.id, j.attempt, j.state, LEASE_S)
        assert not db.finish(j.id, j.attempt, status=DONE, end_reason="completed")
        row = db.get(j.id)
        assert (row.status, row.end_reason, row.attempt) == (CANCELED, "canceled", 1)  # fenced by its status: no attempt counted
        second = claim(db)
        assert second.id == ids[1]  # canceled jobs are never claimed
        assert claim(db) is None
        assert db.set_status(ids, START) == 2 and db.count(statuses=[START]) == 2
        # the second was RUNNING: it keeps its lease until that attempt stops (issue 14, item 5)
        assert db.set_priority([ids[1]], 7.5) == 1 and claim(db).id == ids[0]
        assert claim(db) is None
        assert db.release_lease(second.id, second.attempt) and claim(db).id == ids[1]
        assert db.set_status([], DONE) == 0 and db.set_status([10**9], DONE) == 0


# -- queries --------------------------------------------------------------------------------------
def test_select_compares_json_types_leniently(db_url):
    with open_db(db_url) as db:
        ids = [r.job_id for r in db.insert_jobs([job(a=1), job(a=1.0), job(a=True), job(a="1"), job(a=2),
                                                 job(a=[1, 2]), job(b=1)])]
        def sel(v):
            return [j.id for j in db.jobs(select={"a": v})]
        assert sel(1) == ids[0:3]
        assert sel(True) == ids[0:3]
        assert sel("1") == ids[0:4]
        assert sel(2.0) == [ids[4]]
        assert sel([1, 2]) == [ids[5]]
        assert sel("x") == []
        assert db.count(select={"a": 1, "jobman.status": "START"}) == 3
        assert db.count(select={"jobman.experiment": "tests.exp.run"}) == 7
        assert db.count(select={"jobman.id": ids[6]}) == 1
        assert db.count(ids=ids[:2], statuses=[START]) == 2 and db.count(ids=[]) == 0
        assert [j.id for j in db.jobs(limit=2)] == ids[:2]
        with pytest.raises(UsageError, match="unknown status 'NOPE'"):
            db.count(select={"jobman.status": "NOPE"})


def test_keys_in_order_of_first_appearance_with_widened_types(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([job(n=1, s="x", f=0.5, flag=True, z=None)])
        db.insert_jobs([job(n=2.5, s="y", l=[1], z=3)])
        keys = db.keys()
        assert list(keys)[:5] == ["jobman.id", "jobman.experiment", "jobman.status", "jobman.sql.priority",
                                  "jobman.hash"]
        assert {k: v for k, v in keys.items() if not k.startswith("jobman.")} == {
            "n": "double precision", "s": "text", "f": "double precision", "flag": "boolean", "z": "bigint",
            "l": "jsonb"}


# -- views ----------------------------------------------------------------------------------------
TUTORIAL_QUERY = ("select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore "
                  "from {view} where jobman_status=2 order by bestvalidationloss")


def test_view_follows_new_keys_and_answers_the_tutorial_query(db_url):
    with open_db(db_url) as db:
        base = {"batch_size": 20, "learning_rate": 0.01, "n_iter": 10, "L1_reg": 0.0, "L2_reg": 0.0001}
        db.insert_jobs([job(**base, n_hidden=h) for h in (20, 30, 100)])
        cols = db.createView("mlp_view")
        assert cols[:6] == ["id", "jobman_id", "jobman_experiment", "jobman_status", "jobman_sql_priority",
                            "jobman_hash"]
        assert cols[6:-6] == ["batchsize", "learningrate", "niter", "l1reg", "l2reg", "nhidden"]  # then the row times
        assert raw_query(db_url, TUTORIAL_QUERY.replace("bestvalidationloss,", "").replace(
            ",minutestrained", "").replace(",testscore", "").replace(
            "order by bestvalidationloss", "order by nhidden").format(view="mlp_view")) == []
        # results arrive: the view shows them without sqlview being run again
        for loss in (0.3, 0.1):
            j = claim(db)
            res = dict(j.state, best_validation_loss=loss, test_score=loss + 0.01, minutes_trained=1.5, iter=7)
            assert db.finish(j.id, j.attempt, status=DONE, end_reason="completed", state=res)
        rows = raw_query(db_url, TUTORIAL_QUERY.format(view="mlp_view"))
        assert [r[1] for r in rows] == [0.1, 0.3]
        assert rows[0][0] == 20 and rows[0][2] == 0.01 and rows[0][3] == 1.5 and rows[0][6] == pytest.approx(0.11)
        assert "mlp_view" in db.views()
        # a key whose type widens keeps working
        j = claim(db)
        db.finish(j.id, j.attempt, status=DONE, end_reason="completed", state=dict(j.state, best_validation_loss=1))
        db.insert_jobs([job(n_hidden=2.5)])
        vals = [r[0] for r in raw_query(db_url, "select nhidden from mlp_view order by id")]
        assert vals == [20, 30, 100, 2.5] and all(isinstance(v, float) for v in vals)
        db.drop_view("mlp_view")
        assert db.views() == []
        with pytest.raises(UsageError, match="no view 'mlp_view'"):
            db.drop_view("mlp_view")


def test_view_columns_are_typed_and_quoted(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([job(i=3, f=math.inf, b=True, t=(1, 2), s="it's", **{"a.b_c": 1, "q'x": "y", "id": 9})])
        cols = db.create_view("v2")
        assert cols[6:-6] == ["i", "f", "b", "t", "s", "a_bc", "q'x", "id_i"]
        assert cols[-6:] == ["jobman_created", "jobman_created_iso", "jobman_started", "jobman_started_iso",
                             "jobman_ended", "jobman_ended_iso"]
        (row,) = raw_query(db_url, "select i, f, b, s, a_bc, \"q'x\", id_i, t from v2")
        assert row[:7] == (3, math.inf, True if db_url.startswith("postgres") else 1, "it's", 1, "y", 9)
        assert row[7] in ([1, 2], "[1,2]")
        with pytest.raises(UrlError, match="invalid view name"):
            db.create_view("v;drop table jobs")
        with pytest.raises(UsageError, match="taken by the job table"):
            db.create_view("jobs")


# -- connections and errors -----------------------------------------------------------------------
def test_release_and_clone(db_url):
    with open_db(db_url) as db:
        jid = db.insert_jobs([job(a=1)])[0].job_id
        db.release()
        assert db.get(jid).id == jid  # reconnects
        other = db.clone()
        results = []
        t = threading.Thread(target=lambda: results.append(other.get(jid).id))
        t.start()
        t.join()
        other.close()
        assert results == [jid]


def test_unreachable_server_and_missing_database_are_one_line_errors(pg_server):
    closed_port = pg_server.port + 1 if pg_server.port < 65000 else pg_server.port - 1
    t0 = time.monotonic()
    with pytest.raises(DatabaseError) as e:  # a refused connection is waited for, as long as asked
        open_db(f"postgresql://u:secret@127.0.0.1:{closed_port}/db?table=jobs", connect_timeout_s=2)
    msg = str(e.value)
    assert "\n" not in msg and "secret" not in msg and msg.startswith("cannot connect to postgresql://u:***@")
    assert "still refused after 2 s" in msg
    assert time.monotonic() - t0 < 15  # the wait is bounded by connect_timeout_s, not a minute
    t0 = time.monotonic()
    with pytest.raises(DatabaseError) as e:  # what waiting cannot fix is reported at once
        open_db(pg_server.url("no_such_db", "jobs"))
    assert time.monotonic() - t0 < 5
    assert "\n" not in str(e.value) and "no_such_db" in str(e.value)


def test_sqlite_in_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DatabaseError, match="does not exist"):
        open_db(f"sqlite:///{tmp_path}/nope/jobs.db?table=jobs")


def test_save_survives_a_postgres_restart(pg_server, pg_url, caplog):
    caplog.set_level(logging.WARNING, logger="jobstore")
    with open_db(pg_url) as db:
        db.insert_jobs([job(a=1)])
        j = claim(db)
        restarter = threading.Thread(target=pg_server.restart, kwargs={"down_s": 2.0})
        restarter.start()
        time.sleep(1.0)  # the server is going down or down
        assert db.save(j.id, j.attempt, dict(j.state, step=1), LEASE_S)
        restarter.join()
        assert db.finish(j.id, j.attempt, status=DONE, end_reason="completed", state=dict(j.state, step=2))
        row = db.get(j.id)
        assert (row.status, row.state["step"], row.attempt) == (DONE, 2, 1)
    assert any("retry" in r.getMessage() and "save" in r.getMessage() for r in caplog.records)
