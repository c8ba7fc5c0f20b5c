"""The project's personal HTCondor pool (tests/infra/condor.sh) as the condor tests use it: started
or found running, and commands run as a user of the pool runs them — inside its chroot (the host has
the bindings, not the tools), as its job owner, with a clean environment."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.helpers.paths import TESTS_DIR

CONDOR_SH = TESTS_DIR / "infra" / "condor.sh"
CONDOR_ROOT = os.environ.get("CONDOR_ROOT", "/srv/jobman-condor-root")  # tests/infra/condor.sh's chroot
CONDOR_USER = os.environ.get("CONDOR_USER", "ciuser")  # its job owner (same uid on both sides)


def start_pool() -> dict[str, str]:
    """The pool, started (or found running) by ``condor.sh up``; returns the client environment it
    prints, also applied to this process (and the bindings reloaded). Fails the test if it cannot
    start: the condor tests never skip."""
    proc = subprocess.run(["bash", str(CONDOR_SH), "up"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/condor.sh up failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    env = dict(re.findall(r"^export (\w+)=(\S+)$", proc.stdout, re.MULTILINE))
    assert env.get("_CONDOR_COLLECTOR_HOST"), proc.stdout
    os.environ.update(env)
    import htcondor2

    htcondor2.reload_config()
    return env


def as_pool_user(command: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """``sh -c command`` inside the pool's chroot as its job owner, as that user would type it
    (``condor_submit``, ``condor_rm``...); paths under /tmp are the same on both sides."""
    return subprocess.run(["chroot", CONDOR_ROOT, "runuser", "-u", CONDOR_USER, "--", "env", "-i",
                           "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout_s)
