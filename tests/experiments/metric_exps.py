"""Experiments for the metric-history tests: they report through ``channel.report``."""
from __future__ import annotations


def curve(state, channel):
    """Report ``loss`` = 1/(step+1) and ``acc`` for ``state.steps`` steps, saving every
    ``state.save_every`` steps (0: never; then the points go with the finish)."""
    every = int(state.get("save_every", 0))
    for step in range(int(state.steps)):
        channel.report(step, loss=1.0 / (step + 1), acc=step / 10.0)
        if every and (step + 1) % every == 0:
            channel.save()
    state.final_loss = 1.0 / int(state.steps)
    return channel.COMPLETE


def bad_report(state, channel):
    """A metric that is not a number: the report raises, the job ends in ERR_RUN."""
    channel.report(0, loss="high")
    return channel.COMPLETE
