"""What a launch is made of and what became of it: the data every backend shares.

A launch is a list of :class:`Task` (index, shell command, extra environment) plus one
:class:`Resources`; a :class:`Submission` records what was written and submitted, with one
:class:`TaskRecord` per task whose :class:`TaskStatus` the backend keeps up to date. A submission
round-trips through ``manifest.json`` (:meth:`Submission.to_dict` / :meth:`Submission.from_dict`),
which is how ``jobdispatch --status/--cancel`` follow an earlier launch.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

__all__ = ["TaskStatus", "Task", "Resources", "TaskRecord", "Submission", "REQUEUE_EXIT_CODE"]

# The exit status of a worker that asked its scheduler to run its task again (``jobman sql
# --requeue``; the same value as jobstore.worker.selfrequeue.REQUEUE_EXIT_CODE): HTCondor keeps
# such a job in the queue, and a launch with requeue on trusts the scheduler over that ``.rc``.
REQUEUE_EXIT_CODE = 75


class TaskStatus(str, Enum):
    """The status of one task, the same words for every backend. A ``str`` whose value is the word
    itself, so that ``manifest.json`` holds ``"done"`` and ``TaskStatus("done")`` reads it back."""

    NOT_SUBMITTED = "not_submitted"  # --test, or a submission that failed before this task was sent
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"  # exit status 0
    FAILED = "failed"  # non-zero exit status
    CANCELED = "canceled"
    HELD = "held"  # HTCondor: on hold (its reason in Submission.extra["hold_reasons"]); may run again
    LOST = "lost"  # the scheduler forgot it and it left no exit status
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        """Whether nothing will change this status any more (no need to ask the scheduler)."""
        return self in _FINAL

    def __str__(self) -> str:  # the word, in messages and f-strings (Enum's default is the name)
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


_FINAL = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.LOST,
                    TaskStatus.NOT_SUBMITTED})


@dataclass(frozen=True)
class Task:
    """One command to run: its index in the launch (0-based, also the array index), a shell
    command line, extra environment for this task only, and the base name of its log files
    (``<name>.out``, ``.err``, ``.rc``, ``.pid`` in the launch directory; default: the index)."""

    index: int
    command: str
    env: Mapping[str, str] = field(default_factory=dict)
    name: str = ""

    @property
    def log_name(self) -> str:
        return self.name or str(self.index)


@dataclass(frozen=True)
class Resources:
    """What every task of a launch asks for. ``None`` / empty means "not requested" (the
    scheduler's default). Values are already validated and in these units."""

    cpu: int | None = None  # cores per task
    mem_mb: int | None = None  # memory per task, MiB
    gpus: int = 0  # GPUs per task
    time_s: int | None = None  # wall-time limit per task, seconds
    queue: str | None = None  # partition / queue
    account: str | None = None  # project / account
    env: Mapping[str, str] = field(default_factory=dict)  # environment of every task
    raw: tuple[str, ...] = ()  # verbatim directive lines, appended after the rendered ones
    requirements: tuple[str, ...] = ()  # HTCondor requirement expressions (AND'ed)
    machines: tuple[str, ...] = ()  # hosts (ssh: where to run; condor: Machine == ...)
    nb_proc: int | None = None  # at most this many tasks at once (None: no limit)
    job_name: str = "jobdispatch"

    @property
    def time_hms(self) -> str | None:
        """The time limit as ``H:MM:SS`` (what SLURM's ``--time`` and PBS accept)."""
        if self.time_s is None:
            return None
        h, rem = divmod(self.time_s, 3600)
        return f"{h}:{rem // 60:02d}:{rem % 60:02d}"

    @property
    def time_min(self) -> int | None:
        """The time limit in whole minutes, rounded up."""
        return None if self.time_s is None else -(-self.time_s // 60)

    def requested(self) -> list[str]:
        """Names of the fields that differ from the defaults (what the user asked for)."""
        default = Resources()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


@dataclass
class TaskRecord:
    """What is known of one task of a submission (a row of the manifest)."""

    index: int
    command: str
    name: str
    stdout: str
    stderr: str
    id: str | None = None  # scheduler id of the task ("123_4", "45.6", "local.0")
    host: str | None = None
    pid: int | None = None
    status: TaskStatus = TaskStatus.NOT_SUBMITTED
    exit_code: int | None = None
    requeues: int = 0  # times the scheduler ran this task again (launches with --requeue)

    def __post_init__(self) -> None:
        self.status = TaskStatus(self.status)  # the word read back from a manifest

    @property
    def final(self) -> bool:
        return self.status.final

    def ended(self, code: int) -> None:
        """The task exited with ``code``: DONE if 0, else FAILED."""
        self.exit_code = code
        self.status = TaskStatus.DONE if code == 0 else TaskStatus.FAILED


@dataclass
class Submission:
    """One launch: what was written, what was submitted, and what became of each task."""

    backend: str
    launch_dir: str
    resources: dict[str, Any]
    tasks: list[TaskRecord]
    files: dict[str, str] = field(default_factory=dict)  # file name -> absolute path
    job_ids: list[str] = field(default_factory=list)  # what the scheduler returned (or runner pids)
    commands: list[dict[str, Any]] = field(default_factory=list)  # every external command run
    submitted: bool = False
    test: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific facts (hosts, runners)

    def counts(self) -> dict[TaskStatus, int]:
        out: dict[TaskStatus, int] = {}
        for t in self.tasks:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    @property
    def finished(self) -> bool:
        return all(t.final for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submission:
        """Rebuild a submission from its manifest (to report on or cancel it later)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names and k != "tasks"}
        tnames = {f.name for f in fields(TaskRecord)}
        tasks = [TaskRecord(**{k: v for k, v in t.items() if k in tnames}) for t in data.get("tasks", [])]
        return cls(tasks=tasks, **kw)
