"""Backends: one module per scheduler, on one of two shapes of :class:`backends.base.Backend`:
:class:`~backends.batch.BatchBackend` (slurm, condor) and :class:`~backends.process.ProcessBackend`
(local, ssh).

The registry (:mod:`backends.registry`) lists the built-in backends and the plugins installed under the
entry-point group ``jobman.backends``; :func:`get_backend` imports a backend's module on demand, so
that ``jobdispatch --local`` never imports paramiko or the HTCondor bindings.
"""
from __future__ import annotations

from .base import Backend, read_exit_code, read_pid
from .batch import BatchBackend
from .errors import (
    AuthError,
    BackendError,
    CommandError,
    ConnectError,
    HostKeyError,
    SubmitParseError,
    UsageError,
)
from .launcher import LAUNCHER_NAME
from .process import Placement, ProcessBackend
from .registry import BUILTIN, ENTRY_POINT_GROUP, backend_help, backend_names, detect_backend, get_backend
from .runner import Completed, LocalRunner, Runner
from .sshclient import SshAuth, SshRunner, SshTarget
from .submission import Resources, Submission, Task, TaskRecord, TaskStatus

__all__ = [
    "BUILTIN", "ENTRY_POINT_GROUP", "backend_names", "get_backend", "backend_help", "detect_backend",
    "Backend", "BatchBackend", "ProcessBackend", "Placement", "LAUNCHER_NAME", "read_exit_code", "read_pid",
    "Task", "Resources", "Submission", "TaskRecord", "TaskStatus",
    "BackendError", "UsageError", "CommandError", "SubmitParseError", "ConnectError", "HostKeyError", "AuthError",
    "Runner", "LocalRunner", "SshRunner", "SshTarget", "SshAuth", "Completed",
]
