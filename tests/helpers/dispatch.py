"""Helpers for jobdispatch's integration tests: run the real command in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from backends.base import read_pid
from backends.local import process_start

from .worker import wait_for

VENV_BIN = os.path.dirname(sys.executable)


def dispatch_env(cli_env: dict[str, str], **extra: str) -> dict[str, str]:
    """cli_env without the user's jobdispatch defaults, with the venv's console scripts first on PATH."""
    env = {k: v for k, v in cli_env.items() if not k.startswith(("JOBDISPATCH_", "DBIDISPATCH_"))}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def jobdispatch(env: dict[str, str], cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(VENV_BIN, "jobdispatch"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def only_launch(cwd: Path, logdir: str = "LOGS") -> Path:
    dirs = [d for d in (cwd / logdir).iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def manifest(launch: Path) -> dict[str, Any]:
    return json.loads((launch / "manifest.json").read_text())


def task_pid(launch: Path, name: str | int, timeout_s: float = 60) -> int:
    """The pid a task's launcher wrote in ``<name>.pid`` (waiting for it)."""
    return wait_for(lambda: read_pid(launch / f"{name}.pid"), timeout_s, f"task {name}'s pid")


def alive(pid: int) -> bool:
    """Running and not a zombie (/proc, as the local backend checks)."""
    return process_start(pid) is not None
