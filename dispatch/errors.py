"""Errors of ``jobdispatch``. Each becomes one line on stderr and a non-zero exit status (2 for
bad input), never a traceback. Errors of the backends (``backends.errors``) are shown the same way:
all derive from the project's root :class:`jobstore.errors.JobmanError`.
"""
from __future__ import annotations

from jobstore.errors import JobmanError, UsageError

__all__ = ["DispatchError", "UsageError"]


class DispatchError(JobmanError):
    """Root of the errors of this package."""
