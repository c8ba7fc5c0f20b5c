"""The launches under a log root: ``jobdispatch --status`` with no DIR lists the recent ones, and
``last`` stands for the newest in ``--status last`` and ``--cancel last``.

A launch is a directory of the log root (``$JOBDISPATCH_LOGDIR``, else ``LOGS``) holding a
``manifest.json``; its age is the manifest's ``created_epoch`` (``created`` for older manifests). The listing shows the counts the
manifest recorded when it was last written (at submission, at each ``--status`` or wait), which is
why it says "as last seen": ``jobdispatch --status DIR`` asks the scheduler again.
"""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, TextIO

from jobstore.report.table import align

from .errors import UsageError
from .launch import MANIFEST_NAME

__all__ = ["LIST_LAUNCHES", "LAST", "log_root", "recent_launches", "resolve_last", "list_launches"]

LIST_LAUNCHES = ""  # the value of a bare --status
LAST = "last"
MAX_LAUNCHES_LISTED = 10
MAX_COMMAND_CHARS = 60


def log_root(settings: dict[str, Any]) -> Path:
    """Where launches are written, as :func:`dispatch.launch.launch_dir` puts them."""
    return Path(os.path.abspath(os.path.expanduser(settings.get("logdir") or "LOGS")))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recent_launches(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every launch under ``root`` with its manifest, the newest first."""
    found = []
    if root.is_dir():
        for d in root.iterdir():
            data = _read(d / MANIFEST_NAME) if d.is_dir() else None
            if data is not None:
                found.append((d, data))
    found.sort(key=lambda dd: (_float(dd[1].get("created_epoch")), str(dd[1].get("created") or ""), dd[0].name),
               reverse=True)
    return found


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def resolve_last(target: str, root: Path) -> str:
    """``last`` → the newest launch's directory; any other target as given."""
    if target != LAST:
        return target
    launches = recent_launches(root)
    if not launches:
        raise UsageError(f"--status last: no launch in {root} yet (expected directories holding {MANIFEST_NAME}; "
                         "--logdir or $JOBDISPATCH_LOGDIR names another log root)")
    return str(launches[0][0])


def _counts(data: dict[str, Any]) -> str:
    counts = data.get("counts") or {}
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return ", ".join(parts) or ("--test" if data.get("test") else "-")


def _command(data: dict[str, Any]) -> str:
    text = shlex.join(str(a) for a in data.get("argv") or [])
    return text if len(text) <= MAX_COMMAND_CHARS else text[:MAX_COMMAND_CHARS - 3] + "..."


def list_launches(root: Path, out: TextIO) -> int:
    """``jobdispatch --status``: the recent launches, one a line, and how to follow one."""
    launches = recent_launches(root)
    if not launches:
        print(f"jobdispatch: no launch in {root} yet", file=out)
        return 0
    shown = launches[:MAX_LAUNCHES_LISTED]
    rows = [(d.name, str(data.get("backend") or "?"), str(data.get("created") or "?"), _counts(data), _command(data))
            for d, data in shown]
    more = f" ({len(launches) - len(shown)} older not shown)" if len(launches) > len(shown) else ""
    print(f"jobdispatch: {len(launches)} launch{'es' if len(launches) != 1 else ''} in {root}, newest first{more}; "
          "tasks as last seen:", file=out)
    for line in align(("launch", "backend", "created", "tasks", "command"), rows):
        print(f"  {line}", file=out)
    print(f"jobdispatch --status last (or --status {shown[0][0]}) asks the scheduler again",
          file=out)
    return 0
