"""The project's errors, under one root. Every message quotes the bad value and says what is accepted.

:class:`JobmanError` is the root of every error that ``jobman`` and ``jobdispatch`` show as one line on
stderr (never a traceback) before exiting with the error's :attr:`~JobmanError.exit_code`: 2 for bad
input (:class:`UsageError` and its kinds, an unusable database), 1 for a failure while working.
``backends.errors`` and ``dispatch.errors`` derive their roots from it; this module imports nothing of
the project, so any package may import it. ``models`` keeps its own root: an experiment's errors are
recorded in its job's row, not shown by the tools.
"""
from __future__ import annotations


class JobmanError(Exception):
    """Root of the project's errors; ``exit_code`` is the status the command line exits with."""

    exit_code = 1


class UsageError(JobmanError):
    """Bad input on the command line or in a call: a parameter, a name, an option, a resource."""

    exit_code = 2


class ParamError(UsageError):
    """A malformed parameter, conf file or ``{{...}}`` expansion."""


class UrlError(UsageError):
    """A database URL that cannot be used."""


class ExperimentError(UsageError):
    """An experiment that cannot be imported or is not callable."""


class DatabaseError(JobmanError):
    """The database refused or could not be reached (translated from the driver at the store boundary).

    ``transient`` is True when trying again later may succeed (the server unreachable, a lost
    connection, a lock); False when the database refused the statement itself (a value it cannot
    store, a constraint): the worker retries only the former."""

    exit_code = 2
    transient = False


class LostLease(JobmanError):
    """A fenced write was refused: another attempt owns the job now."""
