"""The ``jobdispatch`` command (alias ``dbidispatch``): expand a command line into tasks and launch
them through a backend (``backends``), with logs and a manifest under ``$JOBDISPATCH_LOGDIR``."""
from __future__ import annotations

from .cli import main, run
from .config import detect_backend, resolve
from .errors import DispatchError, UsageError

__all__ = ["main", "run", "resolve", "detect_backend", "DispatchError", "UsageError"]
