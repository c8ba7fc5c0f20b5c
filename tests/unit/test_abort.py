"""When a second stop signal aborts the worker (jobstore/worker/abort.py), in-process: the rule,
and StopSignals raising KeyboardInterrupt for a real second SIGTERM but not for a duplicate."""
from __future__ import annotations

import os
import signal
import time

import pytest

from jobstore.worker import abort
from jobstore.worker.abort import DUPLICATE_WINDOW_S, AbortRule
from jobstore.worker.channel import StopSignals

TERM, INT, USR1 = signal.SIGTERM, signal.SIGINT, signal.SIGUSR1


@pytest.mark.parametrize("signals, verdicts", [
    ([(TERM, 0.0), (TERM, 0.1)], [False, False]),  # delivered twice (launcher + process group)
    ([(TERM, 0.0), (TERM, DUPLICATE_WINDOW_S + 0.1)], [False, True]),
    ([(USR1, 0.0), (TERM, 5.0)], [False, False]),  # a scheduler's warning, then its time limit
    ([(USR1, 0.0), (INT, 0.1)], [False, True]),  # ^C after any stop signal
    ([(INT, 0.0), (INT, 0.1)], [False, True]),
    ([(INT, 0.0), (TERM, DUPLICATE_WINDOW_S + 0.1)], [False, True]),
    ([(USR1, 0.0), (USR1, 9.0)], [False, False]),  # warnings never abort
])
def test_abort_rule(signals, verdicts):
    rule = AbortRule()
    assert [rule.aborts(sig, at) for sig, at in signals] == verdicts


def test_a_later_second_sigterm_raises_and_a_duplicate_does_not(monkeypatch):
    monkeypatch.setattr(abort, "DUPLICATE_WINDOW_S", 0.05)
    with StopSignals() as signals:
        os.kill(os.getpid(), TERM)
        os.kill(os.getpid(), TERM)  # at once: the same request twice
        assert signals.aborted_by is None
        time.sleep(0.1)
        with pytest.raises(KeyboardInterrupt, match="second SIGTERM"):
            os.kill(os.getpid(), TERM)
        assert signals.aborted_by == TERM and signals.watchdog.aborted_by == TERM
    # leaving the block in time disarms the watchdog: this process (pytest) goes on
    time.sleep(0.3)
