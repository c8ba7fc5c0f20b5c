"""Fixtures shared by integration test modules: the schedulers started by the project's own scripts
(tests/infra), a directory the pool's job owner can write, and the MLP's MNIST slice. One copy each."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.condor import start_pool
from tests.helpers.mlp import write_mnist_slice
from tests.helpers.paths import TESTS_DIR


@pytest.fixture(scope="session")
def slurm_node() -> str:
    """The one-node test cluster, started (or found running) by tests/infra/slurm.sh; its node's name."""
    proc = subprocess.run(["bash", str(TESTS_DIR / "infra" / "slurm.sh"), "up"], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/slurm.sh up failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    nodes = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True).stdout.split()
    assert len(nodes) == 1, nodes
    return nodes[0]


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


@pytest.fixture(scope="session")
def mnist_slice(tmp_path_factory) -> str:
    """10,000/2,000/2,000 rows of the real MNIST: enough epochs to stop the MLP mid-run, still fast."""
    return write_mnist_slice(tmp_path_factory.mktemp("mnist") / "slice.pkl.gz", 10000, 2000, 2000)
