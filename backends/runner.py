"""Every external command a backend runs goes through a :class:`Runner`.

Two runners: :class:`LocalRunner` (a subprocess on this machine) and
:class:`~backends.sshclient.SshRunner` (a shell line on a remote host through paramiko, in
:mod:`backends.sshclient`). Both return a :class:`Completed` and raise one error type,
:class:`~backends.errors.CommandError`, carrying the command, the exit status, stdout and stderr,
when the command fails (``check=True``, the default).

A runner also keeps the time spent inside external commands (``time_in_commands_s``) and a log of
what it ran (``history``): the manifest records the latter, ``bench/bench_dispatch.py`` uses the
former to separate the dispatcher's own overhead from the scheduler's. :meth:`Runner.call` puts an
in-process call (the HTCondor bindings) in the same log, as if it were a command.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from .errors import CommandError

COMMAND_TIMEOUT_S = 120.0
T = TypeVar("T")

@dataclass(frozen=True)
class Completed:
    """What a finished external command gave back."""

    command: tuple[str, ...] | str
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    where: str = "local"
    started_s: float = 0.0  # time.monotonic() at start, to order commands run by several runners

    def record(self) -> dict[str, Any]:
        """The manifest's view of this command."""
        cmd = self.command if isinstance(self.command, str) else shlex.join(self.command)
        return {"command": cmd, "where": self.where, "returncode": self.returncode,
                "elapsed_s": round(self.elapsed_s, 4)}


class Runner(ABC):
    """Runs external commands somewhere; subclasses say where (:meth:`_run`)."""

    where = "local"

    def __init__(self) -> None:
        self.time_in_commands_s = 0.0
        self.history: list[Completed] = []

    def run(self, command: Sequence[str] | str, *, input: str | None = None, check: bool = True,
            timeout_s: float | None = COMMAND_TIMEOUT_S, cwd: str | os.PathLike[str] | None = None,
            env: Mapping[str, str] | None = None) -> Completed:
        """Run ``command`` (argv list, or a shell line) to completion and return its outcome.

        Raises :class:`CommandError` when it exits non-zero and ``check`` is true, or when it cannot
        be started (exit status 127) or runs past ``timeout_s`` (exit status 124)."""
        start = time.monotonic()
        try:
            returncode, out, err = self._run(command, input=input, timeout_s=timeout_s, cwd=cwd, env=env)
        finally:
            self.time_in_commands_s += time.monotonic() - start
        done = Completed(command if isinstance(command, str) else tuple(command), returncode, out, err,
                         time.monotonic() - start, self.where, start)
        self.history.append(done)
        if check and returncode != 0:
            raise CommandError(done.command, returncode, out, err, self.where)
        return done

    def call(self, label: str, fn: Callable[[], T]) -> T:
        """Run one in-process call (e.g. an HTCondor bindings call) as if it were a command named
        ``label``: timed, kept in :attr:`history` (hence in the manifest), and any exception turned
        into a one-line :class:`CommandError` (exit status 1, the exception's text as stderr)."""
        start = time.monotonic()
        try:
            value = fn()
        except Exception as e:  # whatever the library raises, the user sees one line
            said = " ".join(str(e).split()) or type(e).__name__
            self.log(Completed(label, 1, "", said, time.monotonic() - start, self.where, start))
            raise CommandError(label, 1, "", said, self.where) from None
        self.log(Completed(label, 0, "", "", time.monotonic() - start, self.where, start))
        return value

    def log(self, done: Completed) -> None:
        """Record a finished command that did not go through :meth:`run` (an upload, a library
        call): in :attr:`history`, and its time in :attr:`time_in_commands_s`."""
        self.history.append(done)
        self.time_in_commands_s += done.elapsed_s

    @abstractmethod
    def _run(self, command: Sequence[str] | str, *, input: str | None, timeout_s: float | None,
             cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> tuple[int, str, str]:
        """Run the command; return (exit status, stdout, stderr)."""

    def close(self) -> None:
        """Release connections (nothing to do for a local runner)."""
        return None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalRunner(Runner):
    """Commands on this machine, as subprocesses (the PATH is searched for argv[0])."""

    def _run(self, command: Sequence[str] | str, *, input: str | None, timeout_s: float | None,
             cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> tuple[int, str, str]:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout_s,
                                  cwd=cwd, env=None if env is None else dict(env))
        except FileNotFoundError as e:
            return 127, "", f"{argv[0]}: command not found ({e.strerror})"
        except PermissionError as e:
            return 126, "", f"{argv[0]}: {e.strerror}"
        except subprocess.TimeoutExpired as e:
            return 124, _text(e.stdout), _text(e.stderr) + f"\ntimed out after {timeout_s} s"
        return proc.returncode, proc.stdout, proc.stderr

    def spawn(self, argv: Sequence[str], *, stdout: IO[Any] | int | None = subprocess.DEVNULL,
              stderr: IO[Any] | int | None = subprocess.DEVNULL, cwd: str | os.PathLike[str] | None = None,
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process without waiting (the local backend's tasks). It gets its own
        session so that a cancel can signal the task's whole process group."""
        start = time.monotonic()
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                    cwd=cwd, env=None if env is None else dict(env), start_new_session=True)
        except OSError as e:
            raise CommandError(argv, 127, "", f"{argv[0]}: {e.strerror}", self.where) from None
        finally:
            self.time_in_commands_s += time.monotonic() - start
        return proc


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
