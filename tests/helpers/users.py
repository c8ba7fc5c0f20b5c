"""A second user on the test machine, for the attacks of a shared cluster (tests run as root).

``attacker`` is created with ``useradd`` once; :func:`as_attacker` runs a shell line as that user
(``runuser``), :func:`shared_dir` makes a /tmp-like directory (mode 1777) both users can reach."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

ATTACKER = "attacker"


def attacker_uid() -> int:
    """The attacker's uid, creating the user the first time."""
    try:
        return pwd.getpwnam(ATTACKER).pw_uid
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", ATTACKER], check=True,
                       capture_output=True)
        return pwd.getpwnam(ATTACKER).pw_uid


def as_attacker(shell_line: str, cwd: str = "/") -> subprocess.CompletedProcess:
    """Run ``shell_line`` as the attacker; fails the test if it fails."""
    attacker_uid()
    proc = subprocess.run(["runuser", "-u", ATTACKER, "--", "/bin/sh", "-c", shell_line], cwd=cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


class SharedDir:
    """A world-writable sticky directory under /tmp (as /tmp or a scratch area), removed at the end."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="jobman-shared.", dir="/tmp")
        os.chmod(self.path, 0o1777)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
