"""Errors of the job store. Every message quotes the bad value and says what is accepted.

The command line turns any :class:`JobstoreError` into one line on stderr and exit status
:attr:`JobstoreError.exit_code` (2 for bad input), never a traceback.
"""
from __future__ import annotations


class JobstoreError(Exception):
    """Root of the errors of this package."""

    exit_code = 2


class UsageError(JobstoreError):
    """Bad input on the command line or in a call: a parameter, a name, an option."""


class ParamError(UsageError):
    """A malformed parameter, conf file or ``{{...}}`` expansion."""


class UrlError(UsageError):
    """A database URL that cannot be used."""


class ExperimentError(UsageError):
    """An experiment that cannot be imported or is not callable."""


class DatabaseError(JobstoreError):
    """The database refused or could not be reached (translated from the driver at the store boundary)."""


class LostLease(JobstoreError):
    """A fenced write was refused: another attempt owns the job now."""

    exit_code = 1
