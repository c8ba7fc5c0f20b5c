"""The channel's switch() logic, save(), and the stop-signal trap (real signals sent to this process)."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from jobstore.params.state import DD
from jobstore.worker import provenance
from jobstore.worker.channel import Channel, StopSignals, format_conf, write_conf


class FakeClock:
    """A controllable monotonic clock (the channel takes the clock as a parameter)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_constants_are_jobmans():
    ch = Channel(DD())
    assert ch.COMPLETE is None and ch.INCOMPLETE is True
    assert (ch.START, ch.RUNNING, ch.DONE, ch.ERR_START, ch.ERR_SYNC, ch.ERR_RUN, ch.CANCELED) == (0, 1, 2, 3, 4, 5, -1)


def test_switch_none_without_options():
    clock = FakeClock()
    ch = Channel(DD(), clock=clock)
    clock.t += 1e6
    assert ch.switch() is None
    assert ch() is None


def test_save_every_resets_when_returned():
    clock = FakeClock()
    ch = Channel(DD(), save_every_s=10, clock=clock)
    clock.t += 9.9
    assert ch.switch() is None
    clock.t += 0.2
    assert ch.switch() == "save"
    assert ch.switch() is None  # the tick restarted when 'save' was returned
    clock.t += 10
    assert ch() == "save"


def test_finish_up_once_then_no_more_save():
    clock = FakeClock()
    ch = Channel(DD(), finish_up_after_s=30, save_every_s=10, clock=clock)
    clock.t += 10
    assert ch.switch() == "save"
    clock.t += 20
    assert ch.switch() == "finish-up"
    clock.t += 100
    assert ch.switch() is None
    assert ch.switch() is None


def test_lost_job_says_stop_sticky():
    clock = FakeClock()
    ch = Channel(DD(), save_every_s=1, clock=clock)
    ch.lose("lease lost")
    clock.t += 5
    assert [ch.switch(), ch.switch(), ch()] == ["stop", "stop", "stop"]
    assert ch.lost_reason == "lease lost"


def test_save_calls_the_workers_save_and_refusal_means_stop():
    calls = []
    answers = iter([True, False])
    ch = Channel(DD(a=1), save=lambda: calls.append(1) or next(answers))
    assert ch.save() is True
    assert ch.switch() is None
    assert ch.save() is False
    assert len(calls) == 2
    assert ch.switch() == "stop"


def test_save_and_switch_returns_switch_answer():
    clock = FakeClock()
    saved = []
    ch = Channel(DD(), save=lambda: saved.append(1) or True, save_every_s=5, clock=clock)
    assert ch.save_and_switch() is None
    clock.t += 5
    assert ch.save_and_switch() == "save"
    ch.lose("x")
    assert ch.save_and_switch() == "stop"
    assert len(saved) == 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2])
def test_signal_makes_switch_stop_and_handlers_are_restored(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}
    with StopSignals() as signals:
        ch = Channel(DD(), signals=signals)
        assert signals.installed
        assert ch.switch() is None
        os.kill(os.getpid(), sig)  # delivered to the main thread before kill() returns to Python code
        assert signals.received == sig
        assert ch.switch() == "stop"
        assert ch.switch() == "stop"
        assert ch.stop_requested
    after = {s: signal.getsignal(s) for s in before}
    assert after == before


def test_second_sigint_raises_keyboardinterrupt():
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGUSR1)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert signals.received == signal.SIGUSR1 and signals.count == 2
    # a second SIGTERM does not raise: a batch scheduler may send it twice
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.count == 2 and signals.name == "SIGTERM"


def test_signals_not_installed_outside_main_thread():
    result = {}

    def body():
        with StopSignals() as s:
            result["installed"] = s.installed

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert result == {"installed": False}


def test_conf_format_sorted_repr(tmp_path):
    flat = {"b": "x y", "a.c": 1.5, "a.b": [1, 2], "z": None}
    assert format_conf(flat) == "a.b = [1, 2]\na.c = 1.5\nb = 'x y'\nz = None\n"
    path = tmp_path / "current.conf"
    write_conf(str(path), flat)
    assert path.read_text() == format_conf(flat)
    assert [p.name for p in tmp_path.iterdir()] == ["current.conf"]


def test_provenance_replaces_stale_scheduler_keys(tmp_path):
    ad = tmp_path / "job.ad"
    ad.write_text('ClusterId = 12\nProcId = 3\nGlobalJobId = "sched#12.3#1700000000"\nOut = "o"\n')
    env = {"_CONDOR_SLOT": "slot1_2", "_CONDOR_JOB_AD": str(ad), "CUDA_VISIBLE_DEVICES": "1"}
    flat = {"x": 1, "jobman.sql.slurm_job_id": "99", "jobman.sql.sge_task_id": "4",
            "jobman.sql.host_name": "old", "jobman.sql.priority": 1.0}
    info = provenance.attempt_info(job_dir="/j/1", worker="w1", attempt=2, start_time=5.0, env=env,
                                   with_gpu=False)
    provenance.replace_attempt_info(flat, info)
    assert "jobman.sql.slurm_job_id" not in flat and "jobman.sql.sge_task_id" not in flat
    assert flat["jobman.sql.condor_slot"] == "slot1_2"
    assert flat["jobman.sql.condor_global_job_id"] == "sched#12.3#1700000000"
    assert flat["jobman.sql.condor_cluster_id"] == "12"
    assert flat["jobman.sql.cuda_visible_devices"] == "1"
    assert flat["jobman.sql.host_workdir"] == "/j/1" and flat["jobman.sql.pid"] == os.getpid()
    assert flat["jobman.sql.host_name"] == provenance.host_name()
    assert flat["jobman.sql.priority"] == 1.0 and flat["x"] == 1


def test_provenance_slurm_ids():
    env = {"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "1"}
    assert provenance.scheduler_info(env) == {"jobman.sql.slurm_job_id": "101",
                                              "jobman.sql.slurm_array_job_id": "100",
                                              "jobman.sql.slurm_array_task_id": "1"}


def test_conf_files_read_back_as_the_state_they_were_written_from(tmp_path):
    """A value never leaves its line; a key that would not read back (a row written by anyone may
    hold one) is refused rather than written as a second, executable line."""
    from jobstore.errors import ParamError
    from jobstore.params.parser import parse_params

    flat = {"a.b": "x\ny = 1\nz:=@os.system('touch PWNED')", "c": "q'#\"", "n": 3, "f": float("inf")}
    path = tmp_path / "current.conf"
    write_conf(str(path), flat)
    assert parse_params([str(path)], cwd=str(tmp_path)) == flat
    assert not (tmp_path / "PWNED").exists()
    for key in ("a\nz:=@os.system('touch PWNED')", "k=v", "x <- other.conf", "c#d"):
        with pytest.raises(ParamError, match="cannot be written to a .conf file"):
            format_conf({key: 1})
