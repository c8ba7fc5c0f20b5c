"""A save renews the lease, so the keeper sends no heartbeat while an experiment saves more often
than the heartbeat interval: without a pooler every heartbeat is a server connection (a process
forked on PostgreSQL), which bench/bench_scale.py measured as most of the server's load at 1,000
workers. Heartbeats are counted by the database itself: a trigger records every update of a
running job that leaves its state and attempt as they were, which only a heartbeat does."""
from __future__ import annotations

from jobstore import status as st
from jobstore.store import open_db
from jobstore.store.urls import parse_url
from tests.helpers.rawsql import raw_query
from tests.helpers.worker import insert, run_worker

HEARTBEAT_S = 0.5
JOB_S = 2.5

_PG_TRIGGER = (
    "CREATE TABLE heartbeats (job bigint);"
    "CREATE FUNCTION count_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO heartbeats VALUES (NEW.id); RETURN NEW; END $$;"
    "CREATE TRIGGER heartbeat_seen AFTER UPDATE ON jobs FOR EACH ROW WHEN (OLD.status = 1 AND NEW.status = 1 "
    "AND OLD.attempt = NEW.attempt AND OLD.state = NEW.state) EXECUTE FUNCTION count_heartbeat()")
_SQLITE_TRIGGER = (
    "CREATE TABLE heartbeats (job integer);"
    "CREATE TRIGGER heartbeat_seen AFTER UPDATE ON jobs FOR EACH ROW WHEN OLD.status = 1 AND NEW.status = 1 "
    "AND OLD.attempt = NEW.attempt AND OLD.state = NEW.state BEGIN INSERT INTO heartbeats VALUES (NEW.id); END")


def count_heartbeats(url: str) -> None:
    """Install the trigger that records each heartbeat's job id in ``heartbeats``."""
    if parse_url(url).dialect == "sqlite":
        import sqlite3
        with sqlite3.connect(parse_url(url).path) as c:
            c.executescript(_SQLITE_TRIGGER)
    else:
        raw_query(url, _PG_TRIGGER)


def test_saves_spare_the_heartbeats_they_make_redundant(db_url, tmp_path, cli_env):
    saving, quiet = insert(db_url, "frequent_saver", [{"seconds": JOB_S, "save_s": 0.1},
                                                      {"seconds": JOB_S, "save_s": JOB_S}])
    count_heartbeats(db_url)
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", "--lease", "30",
                      "--heartbeat", str(HEARTBEAT_S))
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        assert [store.get(i).status for i in (saving, quiet)] == [st.DONE, st.DONE]
        assert store.get(saving).state["saves"] >= 10
    beats = dict(raw_query(db_url, "SELECT job, count(*) FROM heartbeats GROUP BY job"))
    # The quiet job (one save, at its end) needs its heartbeats: about JOB_S / HEARTBEAT_S of them.
    assert beats.get(quiet, 0) >= 3, beats
    # The saving job renews its lease every 0.1 s: the keeper has nothing to add (one allowed for a
    # save delayed past the interval on a loaded machine).
    assert beats.get(saving, 0) <= 1, beats
