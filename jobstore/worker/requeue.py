"""What the worker does when an experiment returns ``channel.INCOMPLETE`` (``True``) unasked.

INCOMPLETE is meant as the answer to ``switch()`` saying ``'stop'`` or ``'finish-up'``: the job is
requeued and resumes from its checkpoint. An experiment that returns ``True`` meaning "success" (or
returns INCOMPLETE by choice without recording any progress) would otherwise be reclaimed at once by
the same worker, forever, while the other jobs never run. So an *unasked* INCOMPLETE — no stop
request, no finish-up, and the state (outside ``jobman.*``) unchanged — is counted in the job's
state under :data:`STREAK_KEY`; the worker pauses before its next claim (letting other workers take
the job), and once the count reaches ``--max-attempts`` the job ends as ERR_RUN with a message saying
what the return values mean, as a job lost that many times does. An INCOMPLETE that was asked for,
or that changed the state (progress made), resets the count.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["STREAK_KEY", "PAUSE_FIRST_S", "PAUSE_MAX_S", "unasked_streak", "too_many", "pause"]

STREAK_KEY = "jobman.incomplete_streak"
PAUSE_FIRST_S = 0.5  # the worker's pause before its next claim after one unasked INCOMPLETE
PAUSE_MAX_S = 8.0  # doubled after each further one in a row, up to this
_PAUSE_TICK_S = 0.1


def _progress(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith("jobman.")}


def unasked_streak(before: Mapping[str, Any], after: Mapping[str, Any], asked: bool) -> int:
    """How many unasked INCOMPLETEs in a row the job has returned, this one included; 0 when this
    one was asked for or made progress (then the count starts again)."""
    if asked or _progress(before) != _progress(after):
        return 0
    return int(before.get(STREAK_KEY) or 0) + 1


def too_many(streak: int) -> str:
    """The ERR_RUN error text of a job that returned INCOMPLETE unasked ``streak`` times."""
    return (f"the experiment returned channel.INCOMPLETE (True) {streak} times in a row without a stop "
            "request and without changing its state: return channel.COMPLETE (None) when the job is "
            "done, and channel.INCOMPLETE only after channel.switch() said 'stop' or 'finish-up'\n")


def pause(streak: int, stopped: Callable[[], bool]) -> None:
    """Wait before the next claim (longer after each unasked INCOMPLETE in a row), so that another
    worker takes the job; a stop signal ends the wait."""
    end = time.monotonic() + min(PAUSE_MAX_S, PAUSE_FIRST_S * 2 ** max(0, streak - 1))
    while not stopped() and time.monotonic() < end:
        time.sleep(_PAUSE_TICK_S)
