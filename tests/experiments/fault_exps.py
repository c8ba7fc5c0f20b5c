"""Experiments for the fault tests (issue 14): results the table cannot store, a hanging or
exiting import, and a job directory shared by two attempts."""
from __future__ import annotations

import datetime
import decimal

from worker_exps import sleepy  # tests/experiments, beside this module

from jobstore.worker.finalstate import UnstorableState


def bad_result(state, channel):
    """A final state with a datetime, a Decimal and a NUL character."""
    state.when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    state.amount = decimal.Decimal("1.5")
    state.name = "a\x00b"
    state.fine = 7
    return channel.COMPLETE


def bad_save(state, channel):
    """channel.save() with a datetime in the state: the error reaches the experiment."""
    state.when = datetime.datetime(2026, 1, 2)
    try:
        channel.save()
    except UnstorableState as e:
        state.caught = str(e)
    del state.when
    return channel.COMPLETE


def writes_conf(state, channel):
    """:func:`worker_exps.sleepy` (``started`` written, switch every 50 ms for ``state.seconds``,
    INCOMPLETE when told to stop), under the name the fault tests schedule: the worker then tries
    to write its end."""
    return sleepy(state, channel)
