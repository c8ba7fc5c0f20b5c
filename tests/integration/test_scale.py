"""A cluster's worth of workers on one PostgreSQL: 160 `jobman sql -n 0` processes started at once
against a server that admits 30 connections, and through a transaction-pooling PgBouncer with a
pool of 20 server connections. Every worker must exit 0 and every job must run exactly once
(each execution appends a line to a shared log)."""
from __future__ import annotations

import collections

import pytest

from jobstore.status import DONE
from jobstore.store import open_db
from tests.helpers.worker import insert, start_worker, wait_for
from tests.infra.pgbouncer import PgBouncer
from tests.infra.pgserver import PgServer

pytestmark = pytest.mark.slow

N_WORKERS = 160
N_JOBS = 400
JOB_S = 0.1


@pytest.fixture(scope="module")
def small_server():
    """A server at 30 connections (27 for ordinary users): far fewer than the workers."""
    server = PgServer(settings={"max_connections": "30"})
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def bouncer(pg_server):
    b = PgBouncer(pg_server, pool_size=20, max_clients=400)
    yield b
    b.stop()


def storm(env, url, tmp_path, *worker_args):
    """Start N_WORKERS workers, hold them at a gate until all have started, release them onto
    N_JOBS jobs at once; return their (rc, stderr) and the runs per job."""
    log = tmp_path / "runs.log"
    ids = insert(url, "record", [{"log_path": str(log), "sleep_s": JOB_S, "i": i} for i in range(N_JOBS)])
    exproot = str(tmp_path / "exp")
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [start_worker(env, url, exproot, "-n", "0", "--import", "storm_gate", *worker_args,
                          extra_env={"JOBMAN_TEST_GATE": str(gate)}) for _ in range(N_WORKERS)]
    wait_for(lambda: len(list(gate.glob("ready.*"))) == N_WORKERS, 300, "every worker at the gate")
    (gate / "go").touch()
    results = []
    for p in procs:
        _, err = p.communicate(timeout=900)
        results.append((p.returncode, err))
    runs = collections.Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    return ids, results, runs


def check(url, ids, results, runs):
    failed = [(rc, err[-800:]) for rc, err in results if rc != 0]
    assert not failed, f"{len(failed)} of {N_WORKERS} workers failed; first: {failed[0]}"
    assert set(runs) == set(ids) and set(runs.values()) == {1}, \
        f"{len(runs)} of {len(ids)} jobs ran; runs per job: {collections.Counter(runs.values())}"
    with open_db(url) as db:
        assert db.count(statuses=[DONE]) == N_JOBS


def test_160_workers_wait_out_a_30_connection_limit(small_server, cli_env, tmp_path):
    url = small_server.url(small_server.createdb(), "jobs")
    ids, results, runs = storm(cli_env, url, tmp_path)
    check(url, ids, results, runs)
    # Some workers were refused at first, said so once, and got through.
    waited = [err for _, err in results if "refuses connections" in err]
    assert waited, "no worker met the connection limit: the test did not test it"
    assert all(err.count("refuses connections") == 1 for err in waited)


@pytest.mark.parametrize("pgbouncer_param", ["1", None], ids=["pgbouncer=1", "probed"])
def test_160_workers_through_pgbouncer_transaction_pooling(pg_server, bouncer, cli_env, tmp_path,
                                                          pgbouncer_param):
    db = pg_server.createdb()
    url = bouncer.url(db, "jobs", **({"pgbouncer": pgbouncer_param} if pgbouncer_param else {}))
    ids, results, runs = storm(cli_env, url, tmp_path)
    check(url, ids, results, runs)


def test_a_pooler_in_between_turns_prepared_statements_off(pg_server, bouncer):
    from jobstore.store.postgres import _PROBED, PostgresConnector
    from jobstore.store.urls import parse_url

    db = pg_server.createdb()
    _PROBED.clear()
    through = PostgresConnector(parse_url(bouncer.url(db, "jobs")))
    direct = PostgresConnector(parse_url(pg_server.url(db, "jobs")))
    assert through.run("probe", lambda c: c.prepare_threshold) is None and through.prepare is False
    assert direct.run("probe", lambda c: c.prepare_threshold) == 5 and direct.prepare is True
    forced = PostgresConnector(parse_url(pg_server.url(db, "jobs") + "&pgbouncer=1"))
    assert forced.run("probe", lambda c: c.prepare_threshold) is None
    for c in (through, direct, forced):
        c.release()
    pg_server.dropdb(db)
