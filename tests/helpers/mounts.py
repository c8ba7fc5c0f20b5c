"""Real small file systems for node faults (a full disk, a read-only mount): tmpfs mounts made here
(the tests and benches run as root) and unmounted afterwards."""
from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator


class MountError(RuntimeError):
    """``mount`` refused (not root, no tmpfs in this container...)."""


@contextlib.contextmanager
def tmpfs(path: str, options: str) -> Iterator[str]:
    """A tmpfs mounted at ``path`` with ``options`` (``size=256k,mode=0700``) for the block."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MountError(f"cannot mount a tmpfs at {path}: {proc.stderr.strip() or proc.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def fill(path: str) -> None:
    """Write a file under ``path`` until its file system is full."""
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
