"""What the MLP's tests share: the size of the MNIST slice they train on (the ``small_mnist``
fixture in tests/unit/conftest.py) and a channel that records what the experiment asks of it."""
from __future__ import annotations

N_TRAIN, N_VALID, N_TEST = 2000, 1000, 1000


class RecordingChannel:
    """Jobman's channel protocol: COMPLETE/INCOMPLETE, switch() and save(). ``stop_at`` lists the
    switch() calls (1-based) that answer ``message``."""

    COMPLETE = None
    INCOMPLETE = True

    def __init__(self, stop_at=(), message="stop", state=None):
        self.stop_at, self.message, self.state = set(stop_at), message, state
        self.switches = 0
        self.saved = []

    def switch(self, message=None):
        self.switches += 1
        return self.message if self.switches in self.stop_at else None

    def save(self):
        self.saved.append(dict(self.state) if self.state is not None else None)
