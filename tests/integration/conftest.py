"""Fixtures for the schedulers started by the project's own scripts (tests/infra): one copy each,
shared by every test module that submits to SLURM or to the HTCondor pool."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[1] / "infra"


def _infra_up(script: str) -> str:
    """Run ``tests/infra/<script> up`` (idempotent: finds a running service); its stdout."""
    proc = subprocess.run(["bash", str(INFRA / script), "up"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/{script} up failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def slurm_node() -> str:
    """The one-node test cluster, started (or found running) by tests/infra/slurm.sh; its node's name."""
    _infra_up("slurm.sh")
    nodes = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True).stdout.split()
    assert len(nodes) == 1, nodes
    return nodes[0]


@pytest.fixture(scope="session")
def condor_pool() -> dict[str, str]:
    """The personal HTCondor pool, started (or found running) by tests/infra/condor.sh; returns the
    client environment it prints, also applied to this process (and the bindings reloaded)."""
    out = _infra_up("condor.sh")
    env = dict(re.findall(r"^export (\w+)=(\S+)$", out, re.MULTILINE))
    assert env.get("_CONDOR_COLLECTOR_HOST"), out
    os.environ.update(env)
    import htcondor2

    htcondor2.reload_config()
    return env


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp that the pool's job owner can write (jobs run as another user there, and
    pytest's tmp_path is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="jobman-condor-", dir="/tmp"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)
