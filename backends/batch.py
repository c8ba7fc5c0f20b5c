"""Batch backends: render a script (or submit description), hand it to a scheduler, keep its id.

:class:`BatchBackend` owns that flow for every scheduler (slurm, condor, a site's PBS plugin)::

    render      the launcher, then one script per entry of ``scripts(tasks)`` from ``template``
                with sorted ``directives``
    submit      for each written script (``submit_paths``): ``submit_one`` (run ``submit_argv``,
                find the id with ``id_pattern``); then every task's id (``task_id``), PENDING
    refresh     ``.rc`` files, then ``scheduler_states`` (the base class)
    cancel      ``stop``: run ``cancel_argv`` (``cancel_command`` + the job ids)

**Data a batch backend supplies** (class attributes)::

    script_name       file the template renders to ("submit.sh")
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

**Small hooks** (each returns one value; override only what differs)::

    extra_directives(tasks, resources) -> list  directives computed from several values
    template_values(tasks, resources) -> dict   more $placeholders for the template
    quote(value) -> str                         how a directive value is quoted (shlex.quote)
    scripts(tasks) -> dict[str, list[Task]]     the scripts to render, by file name, and their tasks
    submission_extra(sub) -> dict               facts kept in the manifest before submitting
    submit_paths(sub) -> list[Path]             which written files to submit, in order
    submit_argv(sub, path) -> list[str]         submit_command + [path]
    submit_one(sub, path) -> str                submit one file, return the scheduler's id
    parse_id(completed) -> str                  the id in the submit command's output
    task_id(sub, index, position) -> str        a task's scheduler id; default "<id>.<index>"
    cancel_argv(sub) -> list[str]               cancel_command + job ids

Rendering is deterministic (sorted directives, ``shlex.quote`` on every user value, absolute paths
taken from ``launch_dir`` and ``cwd``) so that golden-file tests show every change.
"""
from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

from .base import Backend
from .errors import SubmitParseError
from .launcher import LAUNCHER_NAME
from .runner import Completed
from .submission import Resources, Submission, Task, TaskStatus

__all__ = ["BatchBackend"]

BATCH_POLL_S = 5.0
BATCH_POLL_MAX_S = 60.0
_UNSET: tuple[Any, ...] = (None, "", 0, (), {})  # a directive whose field is one of these is left out


class BatchBackend(Backend):
    """A scheduler that takes a script and answers with an id (see the module docstring)."""

    script_name: ClassVar[str] = "submit.sh"
    template: ClassVar[str] = ""
    directive_prefix: ClassVar[str] = ""
    directives: ClassVar[Mapping[str, str]] = {}
    submit_command: ClassVar[tuple[str, ...]] = ()
    cancel_command: ClassVar[tuple[str, ...]] = ()
    id_pattern: ClassVar[str] = r"(?P<id>\S+)"
    # a scheduler is shared: wait() asks it at most every 5 s, backing off to once a minute
    poll_interval_s: ClassVar[float] = BATCH_POLL_S
    poll_max_s: ClassVar[float] = BATCH_POLL_MAX_S

    # ------------------------------------------------------------------------------ the flow --

    def render(self, tasks: Sequence[Task], resources: Resources) -> dict[str, str]:
        """The launcher, then each script of :meth:`scripts`."""
        files = super().render(tasks, resources)
        for name, mine in self.scripts(tasks).items():
            files[name] = self.render_script(mine, resources)
        return files

    def submit(self, sub: Submission) -> None:
        """Submit each of :meth:`submit_paths` in order, keep the ids, then set each task's id."""
        sub.extra.update(self.submission_extra(sub))
        for path in self.submit_paths(sub):
            sub.job_ids.append(self.submit_one(sub, path))
        ordered = sorted(sub.tasks, key=lambda r: r.index)
        for position, rec in enumerate(ordered):
            rec.id = self.task_id(sub, rec.index, position)
            rec.status = TaskStatus.PENDING

    def stop(self, sub: Submission) -> None:
        """Run :meth:`cancel_argv` (if anything was submitted)."""
        if sub.job_ids:
            self.runner.run(self.cancel_argv(sub))

    # ------------------------------------------------------------------------------- hooks --

    def extra_directives(self, tasks: Sequence[Task], resources: Resources) -> list[str]:
        return []

    def template_values(self, tasks: Sequence[Task], resources: Resources) -> dict[str, str]:
        return {}

    def quote(self, value: object) -> str:
        return shlex.quote(str(value))

    def scripts(self, tasks: Sequence[Task]) -> dict[str, list[Task]]:
        """The scripts to render, by file name, with the tasks each one submits (default: one)."""
        return {self.script_name: list(tasks)}

    def submission_extra(self, sub: Submission) -> dict[str, Any]:
        """Backend facts recorded in the manifest before anything is submitted (default: none)."""
        return {}

    def submit_paths(self, sub: Submission) -> list[Path]:
        """The written files to submit, in order: every one but the launcher."""
        return [Path(path) for name, path in sub.files.items() if name != LAUNCHER_NAME]

    def submit_argv(self, sub: Submission, path: Path) -> list[str]:
        return [*self.submit_command, str(path)]

    def submit_one(self, sub: Submission, path: Path) -> str:
        """Submit ``path``; the scheduler's id for it."""
        return self.parse_id(self.runner.run(self.submit_argv(sub, path)))

    def parse_id(self, done: Completed) -> str:
        m = re.search(self.id_pattern, done.stdout, re.MULTILINE)
        if not m:
            cmd = done.command if isinstance(done.command, str) else shlex.join(done.command)
            raise SubmitParseError(f"no job id in the output of `{cmd}` (expected a match of "
                                   f"{self.id_pattern!r}): {done.stdout.strip()!r}")
        return m.group("id")

    def task_id(self, sub: Submission, index: int, position: int) -> str:
        """The scheduler's id of task ``index`` (``position``: its rank in index order)."""
        return f"{sub.job_ids[0]}.{index}" if sub.job_ids else str(index)

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
        body = [fmt.format(**quoted) for key, fmt in self.directives.items() if values.get(key) not in _UNSET]
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
