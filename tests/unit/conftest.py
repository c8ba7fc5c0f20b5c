"""Fixtures of the MLP's unit tests."""
from __future__ import annotations

import gzip
import pickle

import pytest

from models import data
from tests.helpers.mlp import N_TEST, N_TRAIN, N_VALID


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory):
    """The first rows of the real MNIST in a file of their own (exercises the loader too)."""
    full = data.load_mnist()
    part = data.subset(full, N_TRAIN, N_VALID, N_TEST)
    path = tmp_path_factory.mktemp("mnist") / "small.pkl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(tuple((s.x.copy(), s.y.copy()) for s in (part.train, part.valid, part.test)), f)
    return str(path)
