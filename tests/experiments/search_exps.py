"""Experiments and hooks for the search tests: Branin as an objective, an experiment whose first
run hangs (a worker to kill while it holds the job), and an after-ask hook that hangs inside the
worker's ask-insert-claim transaction (a worker to kill between the ask and the insert)."""
from __future__ import annotations

import math
import os
import time


def branin_value(x1: float, x2: float) -> float:
    """The Branin function: minimum 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)."""
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def branin(state, channel):
    """``state.y = branin(state.x1, state.x2)``; appends the job id to ``state.log_path`` if set
    (O_APPEND: one short line per execution), so a test counts executions; sleeps ``state.sleep_s``
    if set, so that parallel workers overlap."""
    state.y = branin_value(float(state.x1), float(state.x2))
    time.sleep(float(state.get("sleep_s", 0)))
    if state.get("log_path"):
        fd = os.open(state.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{state['jobman.id']}\n".encode())
        finally:
            os.close(fd)
    return channel.COMPLETE


def hang_first(state, channel):
    """The first execution writes ``state.marker`` and hangs; later ones compute Branin."""
    if not os.path.exists(state.marker):
        with open(state.marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
    return branin(state, channel)


def hang_after_ask(params):
    """JOBMAN_SEARCH_AFTER_ASK hook: write the asked point to $SEARCH_TEST_MARKER, then hang."""
    with open(os.environ["SEARCH_TEST_MARKER"], "w") as f:
        f.write(repr(params))
    time.sleep(600)
