"""The keeper thread (jobstore/worker/keeper.py) on a SQLite table: it renews a job's lease through
heartbeats, stops renewing once unwatched or closed, tells the experiment to stop when the job is no
longer ours, and after the idle delay does the deferred start save and releases the main
connection."""
from __future__ import annotations

import threading
import time

import pytest

from jobstore import status as st
from jobstore.store import open_db
from jobstore.worker.channel import Channel
from jobstore.worker.keeper import Keeper, Watched
from tests.helpers.worker import wait_for

HEARTBEAT_S = 0.2
LEASE_S = 30.0
CLAIM_LEASE_S = 2.0  # the claim's lease: shorter than LEASE_S, so that a heartbeat shows


@pytest.fixture
def store(tmp_path):
    with open_db(f"sqlite:///{tmp_path}/jobs.db?table=jobs") as db:
        db.insert_jobs([{"jobman.experiment": "worker_exps.noop", "i": i} for i in range(2)])
        yield db


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def keeper(store, log):
    k = Keeper(store, threading.Lock(), HEARTBEAT_S, LEASE_S, log.append)
    yield k
    k.close()


def claim(store):
    return store.claim(worker="w", host="h", lease_s=CLAIM_LEASE_S, max_attempts=3)


def watched(job, channel, *, idle_in_s=None, start_save=None) -> Watched:
    now = time.monotonic()
    return Watched(job.id, job.attempt, channel, next_heartbeat=now,
                   idle_due=None if idle_in_s is None else now + idle_in_s, start_save=start_save)


def lease_until(store, job_id: int) -> float:
    return store.get(job_id).lease_until


def keeper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "jobman-keeper"]


def test_heartbeats_renew_the_lease_until_unwatched(store, keeper):
    job = claim(store)
    claimed_until = lease_until(store, job.id)
    channel = Channel()
    keeper.watch(watched(job, channel))
    renewed = wait_for(lambda: lease_until(store, job.id) > claimed_until + LEASE_S / 2, 10, "a heartbeat")
    assert renewed
    first = lease_until(store, job.id)
    wait_for(lambda: lease_until(store, job.id) > first, 10, "a second heartbeat")  # it keeps renewing
    assert channel.lost_reason is None and channel.switch() is None
    assert store.get(job.id).status == st.RUNNING

    keeper.unwatch()
    time.sleep(HEARTBEAT_S / 2)  # a heartbeat in flight at unwatch() may still land
    settled = lease_until(store, job.id)
    time.sleep(3 * HEARTBEAT_S)
    assert lease_until(store, job.id) == settled  # no heartbeat once unwatched


def test_close_stops_the_thread(store):
    before = len(keeper_threads())
    k = Keeper(store, threading.Lock(), HEARTBEAT_S, LEASE_S, lambda m: None)
    job = claim(store)
    k.watch(watched(job, Channel()))
    wait_for(lambda: lease_until(store, job.id) > time.time() + LEASE_S / 2, 10, "a heartbeat")
    assert len(keeper_threads()) == before + 1
    k.close()
    assert len(keeper_threads()) == before
    settled = lease_until(store, job.id)
    time.sleep(3 * HEARTBEAT_S)
    assert lease_until(store, job.id) == settled


def test_a_job_no_longer_ours_asks_the_experiment_to_stop(store, keeper, log):
    job = claim(store)
    channel = Channel()
    keeper.watch(watched(job, channel))
    wait_for(lambda: lease_until(store, job.id) > time.time() + LEASE_S / 2, 10, "a heartbeat")
    assert store.set_status([job.id], st.CANCELED) == 1  # another client cancels it
    wait_for(lambda: channel.lost_reason, 10, "the keeper to notice")
    assert "no longer ours" in channel.lost_reason
    assert channel.switch() == "stop"
    assert any(f"job {job.id}: attempt {job.attempt} no longer holds the job" in m for m in log)


def test_idle_delay_does_the_start_save_then_releases_the_connection(store, keeper, monkeypatch):
    released = []
    real_release = store.release
    monkeypatch.setattr(store, "release", lambda: (released.append(time.monotonic()), real_release()))
    saves = []
    job = claim(store)
    channel = Channel()
    store.jobs()  # the main store holds a connection, as the worker's does after the claim
    keeper.watch(watched(job, channel, idle_in_s=0.3, start_save=lambda: saves.append(job.id) or True))
    wait_for(lambda: released, 10, "the idle release")
    assert saves == [job.id]  # the deferred save ran once, before the release
    assert channel.lost_reason is None
    time.sleep(3 * HEARTBEAT_S)
    assert len(released) == 1 and saves == [job.id]  # once per job
    assert store.get(job.id).status == st.RUNNING  # and the store reconnects when used again


def test_a_refused_start_save_asks_the_experiment_to_stop(store, keeper):
    job = claim(store)
    channel = Channel()
    keeper.watch(watched(job, channel, idle_in_s=0.0, start_save=lambda: False))
    wait_for(lambda: channel.lost_reason, 10, "the refused save to be noticed")
    assert "start save was refused" in channel.lost_reason
    assert channel.switch() == "stop"


def test_the_next_job_is_kept_after_the_first(store, keeper):
    first, second = claim(store), claim(store)
    keeper.watch(watched(first, Channel()))
    wait_for(lambda: lease_until(store, first.id) > time.time() + LEASE_S / 2, 10, "a heartbeat of the first")
    keeper.unwatch()
    keeper.watch(watched(second, Channel()))
    wait_for(lambda: lease_until(store, second.id) > time.time() + LEASE_S / 2, 10, "a heartbeat of the second")
