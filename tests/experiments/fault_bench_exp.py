"""The experiment of ``bench/bench_faults.py``: a short sleep bracketed by two lines in a shared log,
so that the bench can tell every run of every job, by whom, and whether two overlapped."""
from __future__ import annotations

import os
import time


def _log(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # O_APPEND: short lines stay whole
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def logged(state, channel):
    """``start <id> <attempt> <pid> <time>``, sleep ``state.seconds`` (switch() every 50 ms: a stop
    hands the job back), ``end <id> <attempt> <pid> <time> <how>``."""
    job, attempt = state["jobman.id"], state.jobman.sql.attempt
    _log(state.log_path, f"start {job} {attempt} {os.getpid()} {time.time():.3f}")
    deadline = time.monotonic() + float(state.seconds)
    while time.monotonic() < deadline:
        if channel.switch() == "stop":
            _log(state.log_path, f"end {job} {attempt} {os.getpid()} {time.time():.3f} stopped")
            return channel.INCOMPLETE
        time.sleep(0.05)
    state.slept = True
    _log(state.log_path, f"end {job} {attempt} {os.getpid()} {time.time():.3f} completed")
    return channel.COMPLETE
