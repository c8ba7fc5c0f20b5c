"""The one flow every backend follows, and what a backend declares to the registry.

A launch is a list of :class:`Task` plus one :class:`Resources` (:mod:`backends.submission`).
:meth:`Backend.launch` owns the flow::

    check(tasks, resources)      hook: refuse what this backend cannot do (UsageError), before
                                 anything is written
    render(tasks, resources)     {file name: text}: the launcher (:mod:`backends.launcher`) and
                                 whatever the backend adds (its script, submit description, runners)
    write(files)                 into ``launch_dir``; ``--test`` stops here
    submit(sub)                  send it; fill the tasks' ids and statuses
    refresh(sub) / wait(sub)     status per task: ``<name>.rc`` files written by the launcher, and
                                 the hook ``scheduler_states`` for pending/running
    cancel(sub)                  ``stop(sub)``; unfinished tasks become CANCELED

Two shapes of backend own ``submit`` and ``render``, each in its own module:
:class:`~backends.batch.BatchBackend` (script → submit command → scheduler id: slurm, condor) and
:class:`~backends.process.ProcessBackend` (start processes and follow them: local, ssh). A concrete
backend supplies data and small hooks that each return one value.

Every backend class also declares, for the registry (:mod:`backends.registry`) from which
``jobdispatch`` derives its ``--<name>`` flags, their help and autodetection: ``name``, ``help``,
and ``detect_command`` / ``detect_priority`` (or its own :meth:`Backend.detect`).

Every external command goes through ``self.runner`` (:mod:`backends.runner`); a failure raises
:class:`~backends.errors.CommandError` with the command, its exit status and output.
``self.observer(sub)`` (if set) is called whenever the submission changed: ``jobdispatch`` writes
the manifest there, so that it records exactly what was submitted even when a step fails.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from jobstore.files import atomic_write, own_dir, write_new

from .errors import UsageError
from .launcher import LAUNCHER_NAME, render_launcher
from .runner import LocalRunner, Runner
from .submission import Resources, Submission, Task, TaskRecord, TaskStatus
from .values import check_one_line, check_values

__all__ = ["Backend", "LAUNCHER_NAME", "Task", "Resources", "Submission", "TaskRecord", "TaskStatus",
           "read_exit_code", "read_pid", "pid_of"]

WAIT_POLL_S = 2.0
_AGAIN = (TaskStatus.PENDING, TaskStatus.RUNNING)  # what a requeued task is while its old .rc stays
WAIT_POLL_GROWTH = 1.5  # each poll that finds nothing new waits this much longer, up to poll_max_s

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_NAME_RE = re.compile(r"^[A-Za-z0-9_.=,+-]+$")


class Backend:
    """Base of every backend: owns the flow (see the module docstring).

    Data a backend declares (class attributes)::

        name              registry name, also the ``--<name>`` flag ("slurm")
        help              one line for ``jobdispatch --help``
        detect_command    a program on the PATH meaning "this backend is here" ("sbatch"); None: never
        detect_priority   the highest-priority backend detected is the default one (local: 0)
        index_variable    environment variable holding the task index ("SLURM_ARRAY_TASK_ID"); the
                          launcher also accepts the index as its first argument
        supports          Resources fields this backend honours (jobdispatch warns about the others)
        default_nb_proc   concurrency when the user gives none (None = no limit)
        always_waits      jobdispatch waits for the tasks even without --wait (local: no scheduler
                          holds the queue, the dispatcher does)
        runs_here         the tasks run on this machine with this PATH (local): jobdispatch refuses a
                          command it cannot find here, where other backends only warn
        records_hosts     scheduler_states() records each task's node (slurm): asked once more after
                          the last task ended if a node is still unknown
        poll_interval_s   how often wait() polls at first and after every change (the backend
                          option ``poll_interval_s`` overrides it)
        poll_max_s        the longest wait() waits between polls once nothing changes (option
                          ``poll_max_s``)
        option_defaults   backend settings (conf/ profiles, ``--backend_option``) and their defaults
        signals_launcher_only  the scheduler signals the launcher alone (SLURM's --signal=B:,
                          HTCondor's kill_sig): the launcher runs its task in a process group of
                          its own and passes a signal on to that group (:func:`render_launcher`)
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    detect_command: ClassVar[str | None] = None
    detect_priority: ClassVar[int] = 0
    index_variable: ClassVar[str] = ""
    supports: ClassVar[frozenset[str]] = frozenset({"env", "job_name"})
    default_nb_proc: ClassVar[int | None] = None
    always_waits: ClassVar[bool] = False
    runs_here: ClassVar[bool] = False
    records_hosts: ClassVar[bool] = False
    poll_interval_s: ClassVar[float] = WAIT_POLL_S
    poll_max_s: ClassVar[float] = WAIT_POLL_S
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    signals_launcher_only: ClassVar[bool] = False

    def __init__(self, launch_dir: str | os.PathLike[str], *, cwd: str | os.PathLike[str] | None = None,
                 runner: Runner | None = None, options: Mapping[str, Any] | None = None,
                 observer: Callable[[Submission], None] | None = None,
                 secret_files: Mapping[str, str] | None = None) -> None:
        """``launch_dir``: where files and logs go (made absolute). ``cwd``: where tasks run
        (default: the current directory). ``options``: backend settings from conf/ profiles and
        flags (unknown keys are kept; each backend reads its own). ``observer``: called with the
        submission whenever it changed (jobdispatch writes the manifest). ``secret_files``: files
        written (and uploaded) mode 0600 beside the scripts, never submitted nor recorded with
        their content (a pgpass file)."""
        self.launch_dir = Path(os.path.abspath(launch_dir))
        self.cwd = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
        self.runner: Runner = runner or LocalRunner()
        self.options: dict[str, Any] = {**self.option_defaults, **(options or {})}
        self.observer = observer
        self.secret_files: dict[str, str] = dict(secret_files or {})

    @classmethod
    def detect(cls, path: str | None = None) -> bool:
        """Whether this backend's scheduler is usable here (``detect_command`` on ``path``, default
        the PATH): the registry makes the highest-priority detected backend the default one."""
        return cls.detect_command is not None and shutil.which(cls.detect_command, path=path) is not None

    # ------------------------------------------------------------------------------ the flow --

    def launch(self, tasks: Sequence[Task], resources: Resources, *, test: bool = False) -> Submission:
        """Render, write and (unless ``test``) submit ``tasks``. A failure while submitting is
        recorded in ``submission.error`` (and passed to the observer) before it is raised."""
        _check_tasks(tasks, resources)
        check_values(tasks, resources, self.options)
        check_one_line(str(self.launch_dir), "launch directory (--logdir, --exp_dir)")
        check_one_line(str(self.cwd), "working directory")
        self.check(tasks, resources)
        self.poll_bounds()  # a bad poll option is refused before anything is written
        sub = self.new_submission(tasks, resources, test)
        sub.files = self.write(self.render(tasks, resources))
        self.notify(sub)
        if test:
            return sub
        try:
            self.submit(sub)
            sub.submitted = True
        except Exception as e:
            sub.error = str(e)
            raise
        finally:
            sub.commands = self.command_log()
            self.notify(sub)
        return sub

    def new_submission(self, tasks: Sequence[Task], resources: Resources, test: bool) -> Submission:
        records = [TaskRecord(t.index, t.command, t.log_name, str(self.launch_dir / f"{t.log_name}.out"),
                              str(self.launch_dir / f"{t.log_name}.err")) for t in tasks]
        res = asdict(resources)
        res["env"] = dict(resources.env)
        return Submission(self.name, str(self.launch_dir), res, records, test=test)

    def render(self, tasks: Sequence[Task], resources: Resources) -> dict[str, str]:
        """Every file of the launch, by name: the launcher (the shapes add their own files)."""
        return {LAUNCHER_NAME: self.render_launcher(tasks, resources)}

    def render_launcher(self, tasks: Sequence[Task], resources: Resources) -> str:
        """The launcher script of this launch (:mod:`backends.launcher`)."""
        return render_launcher(self.name, self.launch_dir, self.cwd, self.index_variable, tasks, resources.env,
                               own_group=self.signals_launcher_only)

    def write(self, files: Mapping[str, str]) -> dict[str, str]:
        """Write ``files`` into the launch directory; name -> absolute path.

        The directory must be the user's own and not writable by others (created 0700 if
        missing); each file is written to a fresh, unpredictable name and renamed into place, so
        that no link someone left there is followed. Scripts are executable as far as the umask
        allows (never more open than it), ``secret_files`` are 0600 whatever the umask. The
        directory is 0700 (0750 with the ``group_access`` option)."""
        own_dir(self.launch_dir, group=bool(self.options.get("group_access")))
        written: dict[str, str] = {}
        for name, text in files.items():
            path = self.launch_dir / name
            atomic_write(path, text, mode=0o777 if text.startswith("#!") else 0o666)
            written[name] = str(path)
        for name, text in self.secret_files.items():
            path = self.launch_dir / name
            if path.is_symlink() or path.exists():
                path.unlink()
            write_new(path, text, mode=0o600)
        return written

    def submit(self, sub: Submission) -> None:
        """Send what was written; set each task's id and status (owned by the two shapes)."""
        raise NotImplementedError(f"{type(self).__name__} must derive from BatchBackend or ProcessBackend")

    def refresh(self, sub: Submission) -> Submission:
        """Update every unfinished task's status: its ``.rc`` file first (exit status known), then,
        for the tasks still open, what the scheduler says (:meth:`scheduler_states`, one query per
        refresh; none once every task has its ``.rc``)."""
        requeue = bool(sub.extra.get("requeue"))
        if not requeue:  # a requeued task's .rc may be an earlier run's: the scheduler decides
            for rec in sub.tasks:
                if not rec.final:
                    code = read_exit_code(self.launch_dir / f"{rec.name}.rc")
                    if code is not None:
                        rec.ended(code)
        open_tasks = [t for t in sub.tasks if not t.final]
        if not open_tasks:
            if self.records_hosts and any(t.host is None for t in sub.tasks):
                self.scheduler_states(sub)  # once more, for the nodes of tasks that ended between polls
            return sub
        states = self.scheduler_states(sub)
        for rec in open_tasks:
            # an .rc written between the two reads wins over a scheduler state read after it
            code = read_exit_code(self.launch_dir / f"{rec.name}.rc") if rec.index in states else None
            if requeue and states.get(rec.index) in _AGAIN:
                rec.status = states[rec.index]  # requeued: the .rc is an earlier run's
            elif code is not None:
                rec.ended(code)
            elif rec.index in states:
                rec.status = states[rec.index]
            if rec.pid is None:
                rec.pid = read_pid(self.launch_dir / f"{rec.name}.pid")
        return sub

    def wait(self, sub: Submission, *, timeout_s: float | None = None,
             progress: Callable[[Submission], None] | None = None) -> Submission:
        """Poll until every task is final (or ``timeout_s`` passed); report through ``progress``.

        Polls are ``poll_interval_s`` apart while tasks change state, and back off by
        ``WAIT_POLL_GROWTH`` per quiet poll up to ``poll_max_s``: a long array that sits pending
        costs its scheduler a query a minute, not one every few seconds."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        first_s, max_s = self.poll_bounds()
        delay_s, seen = first_s, None
        while True:
            self.refresh(sub)
            if progress is not None:
                progress(sub)
            if sub.finished or (deadline is not None and time.monotonic() >= deadline):
                break
            now = [(t.status, t.exit_code) for t in sub.tasks]
            delay_s = first_s if now != seen else min(max_s, delay_s * WAIT_POLL_GROWTH)
            seen = now
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            time.sleep(delay_s if left is None else min(delay_s, left))
        sub.commands = self.command_log()
        self.notify(sub)
        return sub

    def poll_bounds(self) -> tuple[float, float]:
        """(first, longest) seconds between polls: the options ``poll_interval_s`` and
        ``poll_max_s`` (conf profiles, ``--backend_option``), else the class's values."""
        first = _positive(self.options.get("poll_interval_s", self.poll_interval_s), "poll_interval_s")
        longest = _positive(self.options.get("poll_max_s", max(first, self.poll_max_s)), "poll_max_s")
        return first, max(first, longest)

    def cancel(self, sub: Submission) -> Submission:
        """Cancel what was submitted (:meth:`stop`); unfinished tasks become CANCELED."""
        self.stop(sub)
        for rec in sub.tasks:
            if not rec.final:
                rec.status = TaskStatus.CANCELED
        sub.commands = self.command_log()
        self.notify(sub)
        return sub

    def close(self) -> None:
        for r in self.runners():
            r.close()

    # ----------------------------------------------------------------------- hooks (override) --

    def check(self, tasks: Sequence[Task], resources: Resources) -> None:
        """Raise :class:`UsageError` for a request this backend cannot honour."""

    def scheduler_states(self, sub: Submission) -> dict[int, TaskStatus]:
        """PENDING/RUNNING/... per task index, from the scheduler (tasks without ``.rc`` file)."""
        return {}

    def stop(self, sub: Submission) -> None:
        """Ask the scheduler to stop what ``sub`` submitted."""

    # -------------------------------------------------------------------------------- helpers --

    def runners(self) -> list[Runner]:
        """Every runner this backend used (ssh: one per host)."""
        return [self.runner]

    def command_log(self) -> list[dict[str, Any]]:
        """Every external command run so far, in order, for the manifest."""
        done = sorted((c for r in self.runners() for c in r.history), key=lambda c: c.started_s)
        return [c.record() for c in done]

    def time_in_commands_s(self) -> float:
        """Seconds spent inside external commands (submit, ssh...): the scheduler's share."""
        return sum(r.time_in_commands_s for r in self.runners())

    def notify(self, sub: Submission) -> None:
        if self.observer is not None:
            self.observer(sub)


def read_exit_code(path: Path) -> int | None:
    """The exit status a launcher wrote, or None if it has not (yet)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def pid_of(value: object, what: str) -> int:
    """A process id read back from a manifest: a positive int (or its digits), else a one-line
    :class:`UsageError` — never text to be put into a shell line or passed to ``kill``."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise UsageError(f"the manifest's {what} {value!r} is not a process id: the launch directory was "
                         "altered; follow the launch from a fresh one")
    pid = int(value)
    if pid <= 1:
        raise UsageError(f"the manifest's {what} {value!r} is not a process id")
    return pid


def read_pid(path: Path) -> int | None:
    """The pid a launcher wrote, or None if it has not (yet)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _check_tasks(tasks: Sequence[Task], resources: Resources) -> None:
    """What every backend refuses: no task, a log name unfit for a file name, a bad variable name."""
    if not tasks:
        raise UsageError("no command to launch: give a command after the options, or --file=FILE")
    for t in tasks:
        _check_env(t.env)
        if not _LOG_NAME_RE.match(t.log_name):
            raise UsageError(f"bad log name {t.log_name!r} for task {t.index}: use letters, digits and _.=,+-")
    _check_env(resources.env)


def _check_env(env: Mapping[str, str]) -> None:
    for k in env:
        if not _ENV_NAME_RE.match(k):
            raise UsageError(f"bad environment variable name {k!r}: use letters, digits and _, not starting with a digit")


def _positive(value: object, name: str) -> float:
    """A number of seconds > 0 from a backend option (which may come from the command line as text)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError(f"bad backend option {name}={value!r}: expected a number of seconds > 0")
    return seconds
