"""Where a password could leak: process command lines (/proc) and the files under a directory."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def _ppid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def cmdlines_with(secret: str, exclude: set[int], forks_of: tuple[int, bytes] | None = None) -> dict[int, str]:
    """pid -> command line of every process (but ``exclude``) whose command line holds ``secret``.

    ``forks_of=(pid, its command line)``: a child of ``pid`` showing exactly that command line is
    left out too. A child forked by a process shows its parent's memory, command line included,
    until it execs what it was forked for (a subprocess's few microseconds): that is the parent's
    command line, not one the child was given."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if secret.encode() in raw:
            if forks_of is not None and raw == forks_of[1] and _ppid(int(entry)) == forks_of[0]:
                continue
            found[int(entry)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return found


def scan_while_running(proc: subprocess.Popen, secret: str, seen_word: str, timeout_s: float) -> tuple[dict, int]:
    """Scan /proc until ``proc`` ends: the command lines holding ``secret`` (``proc`` itself, the
    command the user typed, excluded, and its children before they exec, which show the same) and
    how many scans saw a process whose command line holds ``seen_word`` (proof that the launched
    processes were there to be seen)."""
    leaks: dict[int, str] = {}
    seen = 0
    deadline = time.monotonic() + timeout_s
    own = Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # Popen returns once proc has exec'd
    while proc.poll() is None and time.monotonic() < deadline:
        leaks.update(cmdlines_with(secret, {proc.pid, os.getpid()}, forks_of=(proc.pid, own)))
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
