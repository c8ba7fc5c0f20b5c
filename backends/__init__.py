"""Backends: one module per scheduler, all on :class:`backends.base.Backend`.

``BACKENDS`` maps a registry name to ``"module:Class"``; :func:`get_backend` imports on demand so
that ``jobdispatch --local`` never imports paramiko or the HTCondor bindings.
"""
from __future__ import annotations

import importlib

from .base import (
    CANCELED,
    DONE,
    FAILED,
    FINAL_STATUSES,
    LOST,
    NOT_SUBMITTED,
    PENDING,
    RUNNING,
    UNKNOWN,
    Backend,
    Resources,
    Submission,
    Task,
    TaskRecord,
)
from .errors import (
    AuthError,
    BackendError,
    CommandError,
    ConnectError,
    HostKeyError,
    SubmitParseError,
    UsageError,
)
from .runner import Completed, LocalRunner, Runner
from .sshclient import SshAuth, SshRunner, SshTarget

BACKENDS: dict[str, str] = {
    "local": "backends.local:LocalBackend",
    "ssh": "backends.ssh:SshBackend",
    "slurm": "backends.slurm:SlurmBackend",
    "condor": "backends.condor:CondorBackend",
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``; :class:`UsageError` naming the known ones."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}: expected one of {', '.join(backend_names())}") from None
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as e:
        raise UsageError(f"backend {name!r} is not available here ({e})") from None


__all__ = [
    "BACKENDS", "backend_names", "get_backend",
    "Backend", "Task", "Resources", "Submission", "TaskRecord",
    "NOT_SUBMITTED", "PENDING", "RUNNING", "DONE", "FAILED", "CANCELED", "LOST", "UNKNOWN", "FINAL_STATUSES",
    "BackendError", "UsageError", "CommandError", "SubmitParseError", "ConnectError", "HostKeyError", "AuthError",
    "Runner", "LocalRunner", "SshRunner", "SshTarget", "SshAuth", "Completed",
]
