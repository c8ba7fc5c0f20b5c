"""Experiments for the fault tests (issue 14): results the table cannot store, a hanging or
exiting import, and a job directory shared by two attempts."""
from __future__ import annotations

import datetime
import decimal
import time

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


def never_polls(state, channel):
    """Sleeps forever and never calls channel.switch(): only a second stop signal ends it."""
    with open("started", "a") as f:
        f.write("started\n")
    while True:
        time.sleep(0.5)


def swallows_interrupts(state, channel):
    """Like :func:`never_polls`, and catches the KeyboardInterrupt of a second stop signal too, as
    an experiment stuck in native code would never see it: only the abort watchdog ends it."""
    with open("started", "a") as f:
        f.write("started\n")
    while True:
        try:
            time.sleep(0.5)
        except KeyboardInterrupt:
            with open("interrupted", "a") as f:
                f.write("swallowed\n")
