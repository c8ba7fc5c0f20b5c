"""``jobdispatch --status DIR`` and ``jobdispatch --cancel DIR``: an earlier launch, from its manifest.

DIR is the launch's log directory (``LOGS/<exp_dir>/``, where ``manifest.json`` is) or the manifest
itself. The backend is rebuilt from the manifest: its name, launch directory and working directory,
with the backend settings (ssh key, schedd...) read again from the launch's own command line and the
conf files as they are now. Statuses come from the tasks' ``.rc`` files first, then from the
scheduler (or, for a local launch, from the task and dispatcher processes); what was found is
written back into the manifest.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from backends import Submission, TaskStatus, get_backend
from jobstore.report.progress import Progress
from jobstore.report.table import align

from .config import resolve
from .errors import UsageError
from .launch import MANIFEST_NAME, MANIFEST_VERSION, Manifest, backend_options

BAD_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.LOST, TaskStatus.CANCELED})
PROGRESS_ORDER = (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.HELD,
                  TaskStatus.LOST, TaskStatus.CANCELED)
MAX_FAILURES_LISTED = 5


def load_manifest(target: str) -> tuple[Path, dict[str, Any]]:
    path = Path(target)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise UsageError(f"no launch at {target!r}: expected a jobdispatch log directory holding {MANIFEST_NAME}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"unreadable manifest {path}: {e}") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION or not isinstance(data.get("tasks"), list):
        raise UsageError(f"{path} is not a jobdispatch manifest of version {MANIFEST_VERSION}")
    return path, data


def _launch_options(data: Mapping[str, Any]) -> dict[str, Any]:
    """The backend settings of the original launch, from its command line; none if that no longer parses."""
    try:
        settings, _ = resolve([str(a) for a in data.get("argv") or []])
    except UsageError:
        return {}
    return backend_options(settings)


def table(sub: Submission) -> list[str]:
    """One aligned line per task (and a header): index, status, exit status, id, (requeues, for a
    launch with --requeue), host, stderr file."""
    requeue = sub.extra.get("requeue") is not None  # launched with --requeue: how often each ran again
    rows = [(str(t.index), str(t.status), "" if t.exit_code is None else str(t.exit_code), t.id or "",
             *([str(t.requeues)] if requeue else []), t.host or "", t.stderr) for t in sub.tasks]
    return align(("task", "status", "exit", "id", *(["requeues"] if requeue else []), "host", "stderr"), rows)


def held(sub: Submission) -> list[str]:
    """One line per held task with its hold reason (HTCondor): it is not failed, it may run again."""
    reasons = sub.extra.get("hold_reasons") or {}
    return [f"task {t.index} is held: {reasons.get(str(t.index)) or 'no reason given'}"
            for t in sub.tasks if t.status is TaskStatus.HELD]


def progress_reporter(progress: Progress) -> Callable[[Submission], None]:
    """What :meth:`Backend.wait` calls after each poll: the counts per status on ``progress``'s
    live line (the last one, when every task is final, is always drawn)."""
    def report(sub: Submission) -> None:
        c = sub.counts()
        parts = [f"{c[s]} {s}" for s in PROGRESS_ORDER if c.get(s)]
        progress.show(f"[jobdispatch] {len(sub.tasks)} tasks: {', '.join(parts)}", force=sub.finished)
    return report


def summary(sub: Submission) -> tuple[str, bool]:
    """One line: the counts per status and the tasks that failed or were lost, with their stderr
    files; and whether every task is done."""
    c = sub.counts()
    parts = ", ".join(f"{n} {s}" for s, n in sorted(c.items(), key=lambda kv: (kv[0] is not TaskStatus.DONE, kv[0].value)))
    bad = [t for t in sub.tasks if t.final and t.status not in (TaskStatus.DONE, TaskStatus.CANCELED)]
    line = f"{len(sub.tasks)} task{'' if len(sub.tasks) == 1 else 's'}: {parts}"
    if bad:
        shown = "; ".join(
            f"task {t.index} {t.status}" + (f" (exit {t.exit_code})" if t.exit_code is not None else "") + f": {t.stderr}"
            for t in bad[:MAX_FAILURES_LISTED])
        more = f"; and {len(bad) - MAX_FAILURES_LISTED} more" if len(bad) > MAX_FAILURES_LISTED else ""
        line += f" -- {shown}{more}"
    return line, all(t.status is TaskStatus.DONE for t in sub.tasks)


def follow(settings: Mapping[str, Any], command: list[str], out: TextIO, err: TextIO,
           progress: Progress | None = None) -> int:
    """Report on (``--status``, waiting with ``--wait``) or cancel (``--cancel``) an earlier launch."""
    status_of, cancel_of = settings.get("status_of"), settings.get("cancel_of")
    if status_of and cancel_of:
        raise UsageError("--status and --cancel: give one of them")
    if command:
        raise UsageError(f"--{'status' if status_of else 'cancel'} takes a launch directory, not a command "
                         f"({command[0]!r})")
    path, data = load_manifest(str(status_of or cancel_of))
    sub = Submission.from_dict(data)
    manifest = Manifest.reopen(path, data)
    backend = get_backend(sub.backend)(sub.launch_dir, cwd=data.get("cwd") or None,
                                       options=_launch_options(data), observer=manifest.write)
    try:
        if not sub.submitted:
            why = "a --test launch" if sub.test else f"its submission failed ({sub.error})" if sub.error else \
                "not submitted"
            print(f"jobdispatch: {path.parent}: nothing to follow, {why}", file=out)
            return 1 if sub.error else 0
        if cancel_of or not settings.get("wait"):
            backend.refresh(sub)  # (wait's first poll is its own: one scheduler query, not two)
        if cancel_of:
            backend.cancel(sub)
        elif settings.get("wait"):
            backend.wait(sub, progress=progress_reporter(progress) if progress is not None else None)
            if progress is not None:
                progress.end(keep=True)
        else:
            manifest.write(sub)
        print(f"jobdispatch: {sub.backend} launch of {data.get('created', '?')} in {path.parent}"
              + (f" ({', '.join(sub.job_ids)})" if sub.job_ids else ""), file=out)
        for line in table(sub):
            print(f"  {line}", file=out)
        for line in held(sub):
            print(f"  {line}", file=out)
        line, _ = summary(sub)
        print(f"jobdispatch: {line}", file=out)
        if cancel_of:
            return 0
        return 1 if any(t.status in BAD_STATUSES for t in sub.tasks) else 0
    finally:
        backend.close()
