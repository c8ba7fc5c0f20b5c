"""Fixtures shared by integration test modules: the MLP's MNIST slice and the HTCondor pool."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.condor import start_pool
from tests.helpers.mlp import write_mnist_slice


@pytest.fixture(scope="session")
def mnist_slice(tmp_path_factory) -> str:
    """10,000/2,000/2,000 rows of the real MNIST: enough epochs to stop the MLP mid-run, still fast."""
    return write_mnist_slice(tmp_path_factory.mktemp("mnist") / "slice.pkl.gz", 10000, 2000, 2000)


@pytest.fixture(scope="session")
def condor_pool() -> dict[str, str]:
    """The personal HTCondor pool (tests/infra/condor.sh up) and its client environment."""
    return start_pool()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp (bind-mounted into the pool's chroot) that the pool's job owner can
    write: pytest's tmp_path is root-only and jobs run as another user."""
    d = Path(tempfile.mkdtemp(prefix="jobman-condor-", dir="/tmp"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)
