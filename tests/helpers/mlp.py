"""What the MLP's tests share: the MNIST slices they train on (the ``small_mnist`` fixture in
tests/unit/conftest.py, ``mnist_slice`` in tests/integration/conftest.py) and a channel that records
what the experiment asks of it."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

from models import data

N_TRAIN, N_VALID, N_TEST = 2000, 1000, 1000


def write_mnist_slice(path: Path, n_train: int, n_valid: int, n_test: int) -> str:
    """The first rows of the real MNIST in a file of their own, in the loader's format (so the
    loader is exercised too); its path."""
    part = data.subset(data.load_mnist(), n_train, n_valid, n_test)
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(tuple((s.x.copy(), s.y.copy()) for s in (part.train, part.valid, part.test)), f)
    return str(path)


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
