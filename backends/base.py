"""The one flow every backend follows, and the data a backend supplies to it.

A launch is a list of :class:`Task` (index, shell command, extra environment) plus one
:class:`Resources`. :meth:`Backend.launch` owns the flow::

    check(tasks, resources)          hook: refuse what this backend cannot do (UsageError), before
                                     anything is written
    render(tasks, resources)         {file name: text}: the launcher (always) and the backend's
                                     script or submit description (``template`` + directives)
    write(files)                     into ``launch_dir``; ``--test`` stops here
    submit(sub)                      run ``submit_argv(path)`` for each of ``submit_paths``, find
                                     the id in its output with ``id_pattern``; fill task ids
    refresh(sub) / wait(sub)         status per task: ``<name>.rc`` files written by the launcher,
                                     and the hook ``scheduler_states`` for pending/running
    cancel(sub)                      ``cancel_argv(sub)``; unfinished tasks become CANCELED

Every external command goes through ``self.runner`` (:mod:`backends.runner`); a failure raises
:class:`~backends.errors.CommandError` with the command, its exit status and output.
``self.observer(sub)`` (if set) is called whenever the submission changed: ``jobdispatch`` writes
the manifest there, so that it records exactly what was submitted even when a step fails.

**What a batch backend supplies** (class attributes, i.e. data)::

    name              registry name ("slurm")
    script_name       file the template renders to ("submit.sh"; "" = no script)
    template          string.Template of that file; placeholders: $directives $launcher
                      $launch_dir $cwd $ntasks $last_index $job_name $index_variable, plus
                      whatever template_values() adds
    directive_prefix  "#SBATCH" (a line is f"{prefix} {directive}"); "" for a submit description
    directives        {Resources field: format}, e.g. {"cpu": "--cpus-per-task={cpu}"}; the format
                      may use every Resources field plus {time_hms} {time_min}; a directive is
                      emitted only when its field is set; values pass through quote()
    submit_command    argv prefix, the script path is appended ("sbatch", "--parsable")
    cancel_command    argv prefix, the job ids are appended ("scancel",)
    id_pattern        regex with a group named ``id`` searched in the submit command's stdout
    index_variable    environment variable holding the task index ("SLURM_ARRAY_TASK_ID"); the
                      launcher also accepts the index as its first argument
    supports          Resources fields this backend honours (jobdispatch warns about the others)
    default_nb_proc   concurrency when the user gives none (None = no limit)
    poll_interval_s   how often wait() polls

**Small hooks** (each returns one value; override only what differs)::

    check(tasks, resources) -> None             raise UsageError for an impossible request
    extra_directives(tasks, resources) -> list  directives computed from several values
                                                (``--array=0-9%4``, ``--gres=gpu:2``)
    template_values(tasks, resources) -> dict   more $placeholders for the template
    quote(value) -> str                         how a directive value is quoted (shlex.quote)
    submit_paths(sub) -> list[Path]             which written files to submit (default: the script)
    submit_argv(path) -> list[str]              submit_command + [path]
    parse_id(completed) -> str                  the id in the submit command's output
    task_id(job_ids, index) -> str              a task's scheduler id ("123_4"); default "<id>.<index>"
    scheduler_states(sub) -> dict[int, str]     PENDING/RUNNING/... per task index from the scheduler
    cancel_argv(sub) -> list[str]               cancel_command + job ids

Backends that start processes themselves (local, ssh) override ``submit``, ``refresh`` and
``cancel`` and keep the rest.

Rendering is deterministic (sorted directives and environment, ``shlex.quote`` on every user value,
absolute paths taken from ``launch_dir`` and ``cwd``) so that golden-file tests show every change.
"""
from __future__ import annotations

import os
import re
import shlex
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import SubmitParseError, UsageError
from .runner import Completed, LocalRunner, Runner

LAUNCHER_NAME = "launcher.sh"
WAIT_POLL_S = 2.0

# Task statuses, the same words for every backend.
NOT_SUBMITTED = "not_submitted"  # --test, or a submission that failed before this task was sent
PENDING = "pending"
RUNNING = "running"
DONE = "done"  # exit status 0
FAILED = "failed"  # non-zero exit status
CANCELED = "canceled"
LOST = "lost"  # the scheduler forgot it and it left no exit status
UNKNOWN = "unknown"
FINAL_STATUSES = frozenset({DONE, FAILED, CANCELED, LOST, NOT_SUBMITTED})

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_NAME_RE = re.compile(r"^[A-Za-z0-9_.=,+-]+$")


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
    status: str = NOT_SUBMITTED
    exit_code: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


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

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
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


class Backend:
    """Base of every backend: owns the flow (see the module docstring); subclasses supply data
    and small hooks."""

    name: ClassVar[str] = ""
    script_name: ClassVar[str] = ""
    template: ClassVar[str] = ""
    directive_prefix: ClassVar[str] = ""
    directives: ClassVar[Mapping[str, str]] = {}
    submit_command: ClassVar[tuple[str, ...]] = ()
    cancel_command: ClassVar[tuple[str, ...]] = ()
    id_pattern: ClassVar[str] = r"(?P<id>\S+)"
    index_variable: ClassVar[str] = ""
    supports: ClassVar[frozenset[str]] = frozenset({"env", "job_name"})
    default_nb_proc: ClassVar[int | None] = None
    poll_interval_s: ClassVar[float] = WAIT_POLL_S
    option_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, launch_dir: str | os.PathLike[str], *, cwd: str | os.PathLike[str] | None = None,
                 runner: Runner | None = None, options: Mapping[str, Any] | None = None,
                 observer: Callable[[Submission], None] | None = None) -> None:
        """``launch_dir``: where files and logs go (made absolute). ``cwd``: where tasks run
        (default: the current directory). ``options``: backend settings from conf/ profiles and
        flags (unknown keys are kept; each backend reads its own). ``observer``: called with the
        submission whenever it changed (jobdispatch writes the manifest)."""
        self.launch_dir = Path(os.path.abspath(launch_dir))
        self.cwd = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
        self.runner: Runner = runner or LocalRunner()
        self.options: dict[str, Any] = {**self.option_defaults, **(options or {})}
        self.observer = observer

    # ------------------------------------------------------------------------------ the flow --

    def launch(self, tasks: Sequence[Task], resources: Resources, *, test: bool = False) -> Submission:
        """Render, write and (unless ``test``) submit ``tasks``. A failure while submitting is
        recorded in ``submission.error`` (and passed to the observer) before it is raised."""
        if not tasks:
            raise UsageError("no command to launch: give a command after the options, or --file=FILE")
        for t in tasks:
            _check_env(t.env)
            if not _LOG_NAME_RE.match(t.log_name):
                raise UsageError(f"bad log name {t.log_name!r} for task {t.index}: use letters, digits and _.=,+-")
        _check_env(resources.env)
        self.check(tasks, resources)
        sub = self.new_submission(tasks, resources, test)
        files = self.render(tasks, resources)
        sub.files = self.write(files)
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
        """Every file of the launch, by name: the launcher and (if the backend has one) its script."""
        files = {LAUNCHER_NAME: self.render_launcher(tasks, resources)}
        if self.script_name:
            files[self.script_name] = self.render_script(tasks, resources)
        return files

    def write(self, files: Mapping[str, str]) -> dict[str, str]:
        self.launch_dir.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        for name, text in files.items():
            path = self.launch_dir / name
            path.write_text(text)
            if text.startswith("#!"):
                path.chmod(0o755)
            written[name] = str(path)
        return written

    def submit(self, sub: Submission) -> None:
        """Submit each of :meth:`submit_paths`, record the ids and each task's id."""
        for path in self.submit_paths(sub):
            done = self.runner.run(self.submit_argv(path))
            sub.job_ids.append(self.parse_id(done))
        for rec in sub.tasks:
            rec.id = self.task_id(sub.job_ids, rec.index)
            rec.status = PENDING

    def refresh(self, sub: Submission) -> Submission:
        """Update every unfinished task's status: its ``.rc`` file first (exit status known), then
        what the scheduler says (:meth:`scheduler_states`)."""
        open_tasks = [t for t in sub.tasks if not t.final]
        if not open_tasks:
            return sub
        states = self.scheduler_states(sub)
        for rec in open_tasks:
            code = read_exit_code(self.launch_dir / f"{rec.name}.rc")
            if code is not None:
                rec.exit_code = code
                rec.status = DONE if code == 0 else FAILED
            elif rec.index in states:
                rec.status = states[rec.index]
            if rec.pid is None:
                rec.pid = read_pid(self.launch_dir / f"{rec.name}.pid")
        return sub

    def wait(self, sub: Submission, *, timeout_s: float | None = None,
             progress: Callable[[Submission], None] | None = None) -> Submission:
        """Poll until every task is final (or ``timeout_s`` passed); report through ``progress``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self.refresh(sub)
            if progress is not None:
                progress(sub)
            if sub.finished or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(self.poll_interval_s)
        sub.commands = self.command_log()
        self.notify(sub)
        return sub

    def cancel(self, sub: Submission) -> Submission:
        """Cancel what was submitted (:meth:`stop`); unfinished tasks become CANCELED."""
        self.stop(sub)
        for rec in sub.tasks:
            if not rec.final:
                rec.status = CANCELED
        sub.commands = self.command_log()
        self.notify(sub)
        return sub

    def close(self) -> None:
        for r in self.runners():
            r.close()

    # ----------------------------------------------------------------------- hooks (override) --

    def check(self, tasks: Sequence[Task], resources: Resources) -> None:
        """Raise :class:`UsageError` for a request this backend cannot honour."""

    def extra_directives(self, tasks: Sequence[Task], resources: Resources) -> list[str]:
        return []

    def template_values(self, tasks: Sequence[Task], resources: Resources) -> dict[str, str]:
        return {}

    def quote(self, value: object) -> str:
        return shlex.quote(str(value))

    def submit_paths(self, sub: Submission) -> list[Path]:
        return [self.launch_dir / self.script_name]

    def submit_argv(self, path: Path) -> list[str]:
        return [*self.submit_command, str(path)]

    def parse_id(self, done: Completed) -> str:
        m = re.search(self.id_pattern, done.stdout, re.MULTILINE)
        if not m:
            cmd = done.command if isinstance(done.command, str) else shlex.join(done.command)
            raise SubmitParseError(f"no job id in the output of `{cmd}` (expected a match of "
                                   f"{self.id_pattern!r}): {done.stdout.strip()!r}")
        return m.group("id")

    def task_id(self, job_ids: Sequence[str], index: int) -> str:
        return f"{job_ids[0]}.{index}" if job_ids else str(index)

    def scheduler_states(self, sub: Submission) -> dict[int, str]:
        return {}

    def stop(self, sub: Submission) -> None:
        """Ask the scheduler to stop what ``sub`` submitted (default: run :meth:`cancel_argv`)."""
        if sub.job_ids:
            self.runner.run(self.cancel_argv(sub))

    def cancel_argv(self, sub: Submission) -> list[str]:
        return [*self.cancel_command, *sub.job_ids]

    # ------------------------------------------------------------------------------ rendering --

    def directive_lines(self, tasks: Sequence[Task], resources: Resources) -> list[str]:
        """Sorted directives from ``directives`` and :meth:`extra_directives`, then ``--raw`` lines
        verbatim, in the order given."""
        values: dict[str, Any] = {f.name: getattr(resources, f.name) for f in fields(resources)}
        quoted = {k: (self.quote(v) if isinstance(v, str) else v) for k, v in values.items()}
        quoted["time_hms"] = resources.time_hms
        quoted["time_min"] = resources.time_min
        body = []
        for key, fmt in self.directives.items():
            if values.get(key) not in (None, "", 0, (), {}):
                body.append(fmt.format(**quoted))
        body.extend(self.extra_directives(tasks, resources))
        prefix = f"{self.directive_prefix} " if self.directive_prefix else ""
        return [prefix + line for line in sorted(body)] + list(resources.raw)

    def render_script(self, tasks: Sequence[Task], resources: Resources) -> str:
        values = {
            "directives": "\n".join(self.directive_lines(tasks, resources)),
            "launcher": shlex.quote(str(self.launch_dir / LAUNCHER_NAME)),
            "launch_dir": shlex.quote(str(self.launch_dir)),
            "cwd": shlex.quote(str(self.cwd)),
            "ntasks": str(len(tasks)),
            "last_index": str(max(t.index for t in tasks)),
            "job_name": self.quote(resources.job_name),
            "index_variable": self.index_variable,
            **self.template_values(tasks, resources),
        }
        return string.Template(self.template).substitute(values)

    def render_launcher(self, tasks: Sequence[Task], resources: Resources) -> str:
        """The shell script that runs task number ``$1`` (or ``$index_variable``): it writes its pid
        to ``<name>.pid``, sends output to ``<name>.out``/``.err``, enters ``cwd``, exports the
        environment, runs the command as a child (forwarding TERM/INT/HUP/USR1/USR2 so that a
        worker can checkpoint), and writes the exit status to ``<name>.rc``."""
        d = shlex.quote(str(self.launch_dir))
        index_expr = f"${{1:-${{{self.index_variable}:-}}}}" if self.index_variable else "${1:-}"
        lines = [
            "#!/bin/sh",
            f"# Generated by jobdispatch ({self.name} backend): runs one task of this launch.",
            f"# Usage: sh launcher.sh INDEX{f'  (or INDEX in ${self.index_variable})' if self.index_variable else ''}",
            f"idx={index_expr}",
            f"dir={d}",
            'case "$idx" in',
        ]
        for t in sorted(tasks, key=lambda t: t.index):
            exports = "".join(f" export {k}={shlex.quote(v)};" for k, v in sorted(t.env.items()))
            lines.append(f"  {t.index}) name={shlex.quote(t.log_name)}; cmd={shlex.quote(t.command)};{exports} ;;")
        lines += [
            f'  *) echo "launcher.sh: no task number \'$idx\' in this launch (0-{max(t.index for t in tasks)})" >&2; exit 2 ;;',
            "esac",
            'echo $$ > "$dir/$name.pid"',
            'exec >"$dir/$name.out" 2>"$dir/$name.err" </dev/null',
            f"cd {shlex.quote(str(self.cwd))} || exit 2",
        ]
        env = {"JOBDISPATCH_BACKEND": self.name, "JOBDISPATCH_LAUNCH_DIR": str(self.launch_dir),
               **dict(resources.env)}
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        lines += [
            'export JOBDISPATCH_TASK_INDEX="$idx"',
            f'export JOBDISPATCH_TASK_ID={shlex.quote(self.launch_dir.name)}."$idx"',
            '/bin/sh -c "$cmd" &',
            "child=$!",
            "for sig in TERM INT HUP USR1 USR2; do trap 'kill -'$sig' $child 2>/dev/null' $sig; done",
            '# wait returns early when a trapped signal arrives: wait again until the child is gone',
            'while :; do wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null || break; done',
            'echo "$rc" > "$dir/$name.rc.tmp" && mv -f "$dir/$name.rc.tmp" "$dir/$name.rc"',
            'exit "$rc"',
        ]
        return "\n".join(lines) + "\n"

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


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _check_env(env: Mapping[str, str]) -> None:
    for k in env:
        if not _ENV_NAME_RE.match(k):
            raise UsageError(f"bad environment variable name {k!r}: use letters, digits and _, not starting with a digit")
