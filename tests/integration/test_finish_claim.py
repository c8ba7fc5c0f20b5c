"""A worker that goes on claims its next job with the finish of the last one
(:meth:`Store.finish_and_claim`): one statement per job on PostgreSQL instead of two, with the same
outcome as a finish followed by a claim on both dialects, and the job claimed that way handed back
unstarted when the worker stops before running it."""
from __future__ import annotations

import contextlib
import os
import signal
import time

import psycopg
import pytest

from jobstore import status as st
from jobstore.store import open_db
from jobstore.worker import WorkerOptions, run_worker
from tests.helpers.dashboard import small_search
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, wait_for
from tests.helpers.worker import run_worker as run_worker_process

CLAIM = {"worker": "w1", "host": "h1", "lease_s": 60.0, "max_attempts": 3}
EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments")


def _fresh_store(url):
    """The store with its periodic reap just done, as a worker has it between two claims."""
    store = open_db(url)
    store.reap(3)
    store._next_reap_s = time.monotonic() + 600
    return store


def test_finish_and_claim_ends_one_job_and_claims_the_next(db_url):
    ids = insert(db_url, "noop", [{"i": i} for i in range(3)])
    with _fresh_store(db_url) as store:
        first = store.claim(**CLAIM)
        ok, nxt = store.finish_and_claim(first.id, first.attempt, status=st.DONE, end_reason="completed",
                                         state={**first.state, "result": 1.5}, claim=CLAIM)
        assert ok and nxt is not None and nxt.id == ids[1]
        assert (nxt.status, nxt.attempt, nxt.worker, nxt.host) == (st.RUNNING, 1, "w1", "h1")
        assert nxt.lease_until is not None and nxt.state["i"] == 1
        done = store.get(first.id)
        assert (done.status, done.end_reason, done.state["result"], done.lease_until) == (st.DONE, "completed", 1.5, None)
        # A refused finish (a stale attempt) writes nothing, and the next job is claimed all the same.
        ok, last = store.finish_and_claim(nxt.id, nxt.attempt + 5, status=st.DONE, end_reason="completed",
                                          claim=CLAIM)
        assert not ok and last.id == ids[2]
        assert store.get(nxt.id).status == st.RUNNING
        ok, none = store.finish_and_claim(last.id, last.attempt, status=st.ERR_RUN, end_reason="error",
                                          error="boom", claim=CLAIM)
        assert ok and none is None
        assert (store.get(last.id).status, store.get(last.id).error) == (st.ERR_RUN, "boom")


def test_a_next_job_at_its_last_attempt_number_is_skipped(db_url):
    ids = insert(db_url, "noop", [{"i": i} for i in range(3)])
    raw_query(db_url, "UPDATE jobs SET attempt = 9223372036854775807 WHERE id = %s", (ids[1],))
    with _fresh_store(db_url) as store:
        first = store.claim(**CLAIM)
        ok, nxt = store.finish_and_claim(first.id, first.attempt, status=st.DONE, end_reason="completed", claim=CLAIM)
        assert ok and nxt.id == ids[2] and nxt.status == st.RUNNING
        assert store.get(ids[1]).status == st.ERR_START


def test_finish_and_claim_is_one_statement_on_postgres(pg_url):
    insert(pg_url, "noop", [{"i": i} for i in range(2)])
    with _fresh_store(pg_url) as store:
        first = store.claim(**CLAIM)
        sent = []
        for method in ("exec", "read"):  # every statement goes through one of them
            real = getattr(store.sql, method)
            setattr(store.sql, method, lambda conn, name, *a, _real=real, **k: (sent.append(name), _real(conn, name, *a, **k))[1])
        ok, nxt = store.finish_and_claim(first.id, first.attempt, status=st.DONE, end_reason="completed",
                                         state=first.state, claim=CLAIM)
        assert ok and nxt is not None
        assert [q for q in sent if q != "all_keys"] == ["finish_claim"]  # all_keys: the key cache, once per store


def _xact_commits(url: str) -> int:
    """Transactions committed in the test's database so far (each autocommit statement is one),
    once every other session of it has ended and flushed its counts."""
    wait_for(lambda: raw_query(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")[0][0] == 0, 30, "the worker's session to end")
    return int(raw_query(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0])


def test_a_worker_sends_about_one_statement_per_job(pg_url, tmp_path, cli_env):
    n = 150
    ids = insert(pg_url, "noop", [{"i": i} for i in range(n)])
    before = _xact_commits(pg_url)
    proc = run_worker_process(cli_env, pg_url, str(tmp_path / "root"), "-n", "0")
    assert proc.returncode == 0, proc.stderr
    used = _xact_commits(pg_url) - before
    with open_db(pg_url) as store:
        assert [store.get(i).status for i in ids] == [st.DONE] * n
        assert {store.get(i).attempt for i in ids} == {1}
    # Two statements per job before (claim, finish); the rest is the worker's start (schema check,
    # table identity), a reap every few seconds and the empty claim at the end.
    assert used < n + 40, used


def test_the_job_claimed_with_a_finish_is_handed_back_when_the_worker_stops(pg_url, tmp_path, monkeypatch):
    """SIGTERM arrives just after the statement that finished job 1 and claimed job 2 (injected by
    wrapping the store's call): job 2 never starts and is claimable again at once."""
    ids = insert(pg_url, "noop", [{"i": i} for i in range(3)])
    monkeypatch.syspath_prepend(EXPERIMENTS)
    store = open_db(pg_url)
    real = store.finish_and_claim

    def then_sigterm(*args, **kwargs):
        result = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    store.finish_and_claim = then_sigterm
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        report = run_worker(store, str(tmp_path / "root"), WorkerOptions(n=0), out=out, err=err)
    store.close()
    assert report.stop_signal == "SIGTERM"
    assert [(o.job_id, o.status) for o in report.outcomes] == [(ids[0], st.DONE)]
    with open_db(pg_url) as store:
        second = store.get(ids[1])
        assert (second.status, second.end_reason, second.attempt) == (st.START, "handed-back", 1)
        assert second.lease_until is None and store.get(ids[2]).attempt == 0
        again = store.claim(**CLAIM)
        assert again.id == ids[1] and again.attempt == 2


@pytest.mark.parametrize("n", [1, 2])
def test_the_last_job_of_n_claims_nothing_more(db_url, tmp_path, cli_env, n):
    ids = insert(db_url, "noop", [{"i": i} for i in range(3)])
    proc = run_worker_process(cli_env, db_url, str(tmp_path / "root"), "-n", str(n))
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        assert [(store.get(i).status, store.get(i).attempt) for i in ids][n:] == [(st.START, 0)] * (3 - n)


def _lose_first_reply(store, method, query):
    """Make the first ``query`` sent through ``store.sql.<method>`` commit and then lose its reply,
    as a network does when the connection drops between the commit and the answer: the connection
    is closed under the store, which retries on a new one. Returns what the lost reply said."""
    real = getattr(store.sql, method)
    lost = []

    def once(conn, name, *args, **kwargs):
        cur = real(conn, name, *args, **kwargs)
        if name == query and not lost:
            lost.append(cur.fetchone())
            conn.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly (injected after the commit)")
        return cur

    setattr(store.sql, method, once)
    return lost


def _losses(url, job_id):
    return raw_query(url, f"SELECT losses FROM jobs WHERE id = {job_id}")[0][0]


def test_a_job_claimed_by_a_finish_claim_whose_reply_was_lost_is_handed_back_at_once(pg_url):
    insert(pg_url, "noop", [{"i": i} for i in range(3)])
    with _fresh_store(pg_url) as store:
        first = store.claim(**CLAIM)
        lost = _lose_first_reply(store, "read", "finish_claim")
        ok, nxt = store.finish_and_claim(first.id, first.attempt, status=st.DONE, end_reason="completed",
                                         state=first.state, claim=CLAIM)
        assert lost and ok and nxt is not None and nxt.status == st.RUNNING
        orphan = store.get(lost[0][1])  # claimed by the try whose reply was lost
        assert orphan.id not in (first.id, nxt.id)
        assert (orphan.status, orphan.end_reason, orphan.lease_until) == (st.START, "handed-back", None)
        assert _losses(pg_url, orphan.id) == 0  # not counted as lost: it never ran
        assert store.get(first.id).status == st.DONE
        assert store.count(statuses=[st.RUNNING]) == 1
        again = store.claim(**CLAIM)  # and it is claimable at once
        assert again.id == orphan.id and again.attempt == 2


def test_a_job_claimed_by_a_claim_whose_reply_was_lost_is_handed_back_at_once(pg_url):
    insert(pg_url, "noop", [{"i": i} for i in range(2)])
    with _fresh_store(pg_url) as store:
        lost = _lose_first_reply(store, "exec", "claim")
        job = store.claim(**CLAIM)
        orphan = store.get(lost[0][0])
        assert job is not None and orphan.id != job.id
        assert (orphan.status, orphan.end_reason, orphan.lease_until) == (st.START, "handed-back", None)
        assert store.count(statuses=[st.RUNNING]) == 1 and _losses(pg_url, orphan.id) == 0


def test_a_retried_claim_leaves_the_other_jobs_of_its_worker_alone(pg_url):
    # Only what the call's own lost tries claimed goes back: a job this worker name claimed
    # before the call (a second worker sharing the name, say) keeps running.
    insert(pg_url, "noop", [{"i": i} for i in range(3)])
    with _fresh_store(pg_url) as store:
        held = store.claim(**CLAIM)
        time.sleep(3.0)  # past the margin: claimed well before the retried call began
        lost = _lose_first_reply(store, "exec", "claim")
        job = store.claim(**CLAIM)
        assert lost and job is not None
        assert store.get(held.id).status == st.RUNNING
        assert store.get(lost[0][0]).status == st.START


def test_a_trial_claimed_from_a_search_whose_reply_was_lost_is_handed_back_at_once(pg_url):
    small_search(pg_url, {1: 0.5, 2: 0.25, 3: 0.125}, n_run=0)
    with open_db(pg_url) as store:
        real = store.db.transaction
        lost, depth = [], [0]

        @contextlib.contextmanager
        def commit_then_lose_the_reply(conn):
            depth[0] += 1
            try:
                with real(conn):
                    yield
            finally:
                depth[0] -= 1
            if not lost and depth[0] == 0:  # the trial is inserted, claimed and committed; its answer never arrives
                lost.append(True)
                conn.close()
                raise psycopg.OperationalError("server closed the connection unexpectedly (injected after the commit)")

        store.db.transaction = commit_then_lose_the_reply
        job = store.claim_from_search(worker="w", host="node1", lease_s=60)
        del store.db.transaction
        assert lost and job is not None and job.status == st.RUNNING
        (orphan,) = [j for j in store.jobs() if j.id != job.id]
        assert (orphan.status, orphan.end_reason, orphan.lease_until) == (st.START, "handed-back", None)
        assert store.count(statuses=[st.RUNNING]) == 1
