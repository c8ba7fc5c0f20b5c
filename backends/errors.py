"""Errors of the backends. Every message is one line that names the bad value (a command, a host,
a resource) and, where it helps, what would be accepted.

``jobdispatch`` prints ``str(error)`` on one line and exits with :attr:`BackendError.exit_code`;
it never shows a traceback for these. The root is the project's :class:`jobstore.errors.JobmanError`
(a leaf module that knows no job table); a request a backend cannot honour is the project's one
:class:`~jobstore.errors.UsageError`.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence

from jobstore.errors import JobmanError, UsageError

__all__ = ["BackendError", "UsageError", "CommandError", "SubmitParseError", "ConnectError", "HostKeyError",
           "AuthError"]


class BackendError(JobmanError):
    """Root of the errors of this package: a scheduler, a host or a command failed."""


class CommandError(BackendError):
    """An external command (``sbatch``, ``condor_submit``, a remote shell line...) failed.

    Carries what a user needs to see why: the command, where it ran, its exit status and its
    output, verbatim. ``returncode`` is 127 when the program could not be started at all."""

    def __init__(self, command: Sequence[str] | str, returncode: int, stdout: str = "",
                 stderr: str = "", where: str = "local") -> None:
        self.command = command if isinstance(command, str) else tuple(command)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.where = where
        super().__init__(self._message())

    @property
    def command_line(self) -> str:
        return self.command if isinstance(self.command, str) else shlex.join(self.command)

    def _message(self) -> str:
        said = (self.stderr.strip() or self.stdout.strip()).replace("\n", " | ")
        place = "" if self.where == "local" else f" on {self.where}"
        return (f"command `{self.command_line}`{place} failed with exit status {self.returncode}"
                + (f": {said}" if said else ""))


class SubmitParseError(BackendError):
    """A scheduler accepted a submission but its answer held no recognisable job id."""


class ConnectError(BackendError):
    """A host could not be reached (refused, timed out, no route)."""


class HostKeyError(BackendError):
    """An ssh host key that is unknown or does not match known_hosts."""


class AuthError(BackendError):
    """The ssh server refused every key offered."""
