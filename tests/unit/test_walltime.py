"""Walltime awareness (issue 15, item 7): the deadline and its one-line refusal, reading SLURM's
EndTime from scontrol's and squeue's output, and bad limits. The SLURM commands are replaced by
their recorded output here (parsing only); tests/integration/test_walltime.py reads the real
SLURM's EndTime."""
from __future__ import annotations

import time

import pytest

from jobstore.units import parse_seconds
from jobstore.worker.walltime import Deadline, resolve_deadline, slurm_end_time

SCONTROL = ("JobId=41 JobName=w UserId=u(1000) JobState=RUNNING Reason=None RunTime=00:00:03 "
            "TimeLimit=00:02:00 SubmitTime=2026-11-12T09:58:00 StartTime=2026-11-12T09:58:00 "
            "EndTime=2026-11-12T10:00:00 Deadline=N/A\n")
END = time.mktime(time.strptime("2026-11-12T10:00:00", "%Y-%m-%dT%H:%M:%S"))


def answers(**by_command: str | None):
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str | None:
        calls.append(argv)
        return by_command.get(argv[0])
    return run, calls


def test_the_end_comes_from_scontrol():
    run, calls = answers(scontrol=SCONTROL)
    assert slurm_end_time({"SLURM_JOB_ID": "41"}, run) == (END, "2026-11-12T10:00:00")
    assert calls == [["scontrol", "-o", "show", "job", "41"]]


def test_squeue_when_scontrol_fails():
    run, calls = answers(scontrol=None, squeue="2026-11-12T10:00:00\n")
    assert slurm_end_time({"SLURM_JOB_ID": "41"}, run) == (END, "2026-11-12T10:00:00")
    assert calls[1] == ["squeue", "-h", "-j", "41", "-o", "%e"]


@pytest.mark.parametrize("end", ["Unknown", "N/A", "NONE"])
def test_no_time_limit_is_no_end(end):
    run, _ = answers(scontrol=SCONTROL.replace("2026-11-12T10:00:00 Deadline", f"{end} Deadline"), squeue=end)
    assert slurm_end_time({"SLURM_JOB_ID": "41"}, run) is None


def test_outside_slurm_nothing_is_asked_and_min_time_left_is_said_to_be_ignored():
    run, calls = answers()
    said: list[str] = []
    assert resolve_deadline(None, 60.0, said.append, env={}, run=run) is None
    assert calls == []
    assert said == ["--min-time-left 60 ignored: not running under SLURM; give --walltime S"]


def test_walltime_counts_from_the_start_and_wins_over_slurm():
    run, calls = answers(scontrol=SCONTROL)
    d = resolve_deadline(100.0, None, print, env={"SLURM_JOB_ID": "41"}, run=run, started_s=1000.0)
    assert d == Deadline(1100.0, "--walltime 100", 0.0) and calls == []
    assert resolve_deadline(None, None, print, env={"SLURM_JOB_ID": "41"}, run=run) is None


def test_refusal_once_less_than_the_minimum_remains():
    d = Deadline(1100.0, "SLURM job 41 (EndTime 2026-11-12T10:00:00)", 120.0)
    assert d.refusal(now_s=980.0) is None  # exactly 120 s left: still claims
    assert d.refusal(now_s=1000.0) == ("100 s left before the end of SLURM job 41 (EndTime 2026-11-12T10:00:00), "
                                       "less than --min-time-left 120: claiming no new job")
    assert d.refusal(now_s=2000.0).startswith("0 s left")


@pytest.mark.parametrize("text", ["abc", "-5", "nan", "inf", "", "1e999"])
def test_bad_seconds_are_one_line_naming_the_value(text):
    with pytest.raises(ValueError) as e:
        parse_seconds(text, "--min-time-left", zero_ok=True)
    assert str(e.value) == f"invalid --min-time-left {text!r}: expected a number of seconds >= 0"


def test_zero():
    assert parse_seconds("0", "--min-time-left", zero_ok=True) == 0.0
    with pytest.raises(ValueError, match=r"invalid --walltime '0': expected a number of seconds > 0"):
        parse_seconds("0", "--walltime", zero_ok=False)
