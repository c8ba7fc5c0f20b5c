"""Fixtures of the MLP's unit tests."""
from __future__ import annotations

import pytest

from tests.helpers.mlp import N_TEST, N_TRAIN, N_VALID, write_mnist_slice


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory):
    """The first rows of the real MNIST in a file of their own (exercises the loader too)."""
    return write_mnist_slice(tmp_path_factory.mktemp("mnist") / "small.pkl.gz", N_TRAIN, N_VALID, N_TEST)
