"""Errors of ``jobdispatch``. Each becomes one line on stderr and a non-zero exit status (2 for
bad input), never a traceback. Errors of the backends (``backends.errors``) are shown the same way.
"""
from __future__ import annotations


class DispatchError(Exception):
    """Root of the errors of this package."""

    exit_code = 1


class UsageError(DispatchError):
    """A bad option, value, conf file or command line."""

    exit_code = 2
