"""Process backends: no scheduler, the backend starts the processes itself (local, ssh).

:class:`ProcessBackend` owns the submission: the tasks are placed on hosts (``placement``: one
group per host, local: this machine), everything needed is made ready (``prepare``: connect to every
host and upload, so that an unreachable host stops the launch before anything starts), then each
group is started (``start``) and its tasks get their host, id and status. A concrete backend keeps
its own ``refresh`` and ``stop``: how to see and end its processes is what differs between them.

Ids: ``start`` returns the id of what it started when that outlives the dispatcher (an ssh runner,
``host:pid``; recorded in ``job_ids``) or None (local tasks, children of ``jobdispatch``); a task's id
is ``<that id>.<index>``, else ``<launch directory name>.<index>``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from .base import Backend
from .submission import Submission, TaskRecord, TaskStatus

__all__ = ["ProcessBackend", "Placement", "round_robin"]

T = TypeVar("T")


class Placement(NamedTuple):
    """One group of tasks run together: ``key`` (the backend's own number for it: ssh, the host's
    position in the host list), the host name, and the tasks' records."""

    key: int
    host: str
    records: list[TaskRecord]


class ProcessBackend(Backend):
    """Tasks started by the backend itself (see the module docstring)."""

    def submit(self, sub: Submission) -> None:
        """Place, prepare, then start each group and record its tasks' host, id and status."""
        placement = self.placement(sub)
        self.prepare(sub, placement)
        for group in placement:
            job_id = self.start(sub, group)
            if job_id is not None:
                sub.job_ids.append(job_id)
            for rec in group.records:
                rec.host = group.host
                rec.id = f"{job_id or self.launch_dir.name}.{rec.index}"
                if rec.status is TaskStatus.NOT_SUBMITTED:  # start() may have it running already
                    rec.status = TaskStatus.PENDING
            self.notify(sub)

    # ------------------------------------------------------------------------------- hooks --

    def placement(self, sub: Submission) -> list[Placement]:
        """The groups of tasks and where each runs."""
        raise NotImplementedError

    def prepare(self, sub: Submission, placement: Sequence[Placement]) -> None:
        """Make every host ready before any task starts (default: nothing to do)."""

    def start(self, sub: Submission, group: Placement) -> str | None:
        """Start ``group``'s tasks; the id of what was started if it outlives the dispatcher."""
        raise NotImplementedError


def round_robin(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` dealt over ``n`` groups: item k goes to group k mod n."""
    groups: list[list[T]] = [[] for _ in range(n)]
    for k, item in enumerate(items):
        groups[k % n].append(item)
    return groups
