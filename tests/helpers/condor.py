"""The project's personal HTCondor pool (tests/infra/condor.sh) as the condor tests use it: started
or found running, and commands run as a user of the pool runs them — inside its chroot (the host has
the bindings, not the tools), as its job owner, with a clean environment."""
from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path

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


def pool_user_argv(*argv: str, path: str = "/usr/local/bin:/usr/bin:/bin", **env: str) -> list[str]:
    """The command line running ``argv`` inside the pool's chroot as its job owner, with only
    PATH, LANG and ``env`` in its environment (what a user of the pool has, not the host's)."""
    return ["chroot", CONDOR_ROOT, "runuser", "-u", CONDOR_USER, "--", "env", "-i", f"PATH={path}", "LANG=C.UTF-8",
            *(f"{k}={v}" for k, v in env.items()), *argv]


def as_pool_user(command: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """``sh -c command`` run as a user of the pool types it (``condor_submit``, ``condor_rm``...);
    paths under /tmp are the same on both sides."""
    return subprocess.run(pool_user_argv("sh", "-c", command), capture_output=True, text=True, timeout=timeout_s)


def group_dir(base: Path, name: str = "launch") -> Path:
    """A directory of the submitter (root) that the job owner's group may write in: jobs run as
    another user here, and a world-writable launch directory is refused (--group_access)."""
    d = base / name
    d.mkdir(mode=0o770)
    os.chown(d, -1, pwd.getpwnam(CONDOR_USER).pw_gid)
    d.chmod(0o770)
    return d
