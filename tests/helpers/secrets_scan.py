"""Where a password could leak: process command lines (/proc) and the files under a directory."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def cmdlines_with(secret: str, exclude: set[int]) -> dict[int, str]:
    """pid -> command line of every process (but ``exclude``) whose command line holds ``secret``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if secret.encode() in raw:
            found[int(entry)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return found


def scan_while_running(proc: subprocess.Popen, secret: str, seen_word: str, timeout_s: float) -> tuple[dict, int]:
    """Scan /proc until ``proc`` ends: the command lines holding ``secret`` (``proc`` itself, the
    command the user typed, excluded) and how many scans saw a process whose command line holds
    ``seen_word`` (proof that the launched processes were there to be seen)."""
    leaks: dict[int, str] = {}
    seen = 0
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        leaks.update(cmdlines_with(secret, {proc.pid, os.getpid()}))
        seen += bool(cmdlines_with(seen_word, {proc.pid, os.getpid()}))
        time.sleep(0.05)
    return leaks, seen


def files_with(root: Path, secret: str) -> tuple[list[str], list[str]]:
    """(paths whose name holds ``secret``, files whose content holds it) under ``root``."""
    names, contents = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if secret in name:
                names.append(os.path.join(dirpath, name))
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            try:
                if secret.encode() in Path(path).read_bytes():
                    contents.append(path)
            except OSError:
                continue
    return names, contents
