"""Helpers for jobdispatch's integration tests: run the real command in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
