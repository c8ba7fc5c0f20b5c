"""Errors of the backends. Every message is one line that names the bad value (a command, a host,
a resource) and, where it helps, what would be accepted.

``jobdispatch`` prints ``str(error)`` on one line and exits with :attr:`BackendError.exit_code`;
it never shows a traceback for these. The backends know nothing of the job store, so this root is
separate from ``jobstore.errors.JobstoreError``.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence


class BackendError(Exception):
    """Root of the errors of this package."""

    exit_code = 1


class UsageError(BackendError):
    """A request the backend cannot honour (no GPU visible, no ssh host given, a bad option)."""

    exit_code = 2


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
