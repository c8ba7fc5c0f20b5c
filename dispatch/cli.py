"""``jobdispatch`` (alias ``dbidispatch``): launch a command N times through a backend.

Bad input and backend failures print one line ``jobdispatch: ...`` on stderr and exit non-zero
(2 for bad input), never a traceback. Once files are written, ``manifest.json`` records exactly
what was submitted, also when a submission fails half-way. ``--status DIR`` and ``--cancel DIR``
follow an earlier launch through its manifest (:mod:`dispatch.follow`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from backends import Backend, Submission, TaskStatus, get_backend
from jobstore.errors import JobmanError
from jobstore.report.progress import Progress
from jobstore.version import version_line

from .config import detect_backend, resolve
from .credentials import PGPASS_NAME, Credentials
from .errors import UsageError
from .follow import follow, progress_reporter, summary
from .launch import (
    Manifest,
    backend_options,
    build_commands,
    build_tasks,
    launch_dir,
    make_resources,
    missing_programs,
    select,
    warn_unsupported,
)
from .launches import LIST_LAUNCHES, list_launches, log_root, resolve_last


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``jobdispatch --cancel``) ends the wait as ^C does: the tasks are canceled
    rather than left running without their dispatcher."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``jobdispatch`` on ``argv``: launch (and, for local or ``--wait``, wait for) the tasks, or follow
    an earlier launch; the exit status."""
    settings, words = resolve(argv)
    if settings.get("status_of") is not None or settings.get("cancel_of"):
        return _follow(settings, words, out, err)
    name = settings["backend"] or detect_backend()
    cls: type[Backend] = get_backend(name)
    creds = Credentials()  # passwords out of every word, line and value passed on
    words = creds.words(words)
    commands = select(creds.commands(build_commands(words, settings.get("file") or [])),
                      settings.get("only_n_first"), settings.get("repeat_jobs") or 1)
    _check_commands(commands, cls, settings, err)
    nb_proc = settings.get("nb_proc")
    nb_proc = cls.default_nb_proc if nb_proc is None else (None if nb_proc == -1 else nb_proc)
    resources = make_resources(settings, nb_proc)
    resources = dataclasses.replace(resources, env=creds.env(resources.env))
    tasks = build_tasks(commands, settings.get("tasks_filename") or [])
    directory = launch_dir(settings, words, _dt.datetime.now(), err)
    manifest = Manifest(directory, creds.words(argv), settings)
    secret_files = {}
    pgpass = creds.pgpass()
    if pgpass is not None:
        secret_files[PGPASS_NAME] = pgpass
        resources = dataclasses.replace(resources, env={**resources.env, "PGPASSFILE": str(directory / PGPASS_NAME)})
    backend = cls(directory, options=backend_options(settings), observer=manifest.write, secret_files=secret_files)
    warn_unsupported(cls, resources, err)
    test = bool(settings.get("test"))
    try:
        sub = backend.launch(tasks, resources, test=test)
        if test:
            print(f"jobdispatch: --test: nothing submitted; {len(tasks)} task(s) for the {name} backend written to "
                  f"{directory}:", file=out)
            for path in [*sub.files.values(), str(manifest.path)]:
                print(f"  {path}", file=out)
            return 0
        print(f"jobdispatch: {len(tasks)} task(s) submitted to {name}"
              + (f" ({', '.join(sub.job_ids)})" if sub.job_ids else "") + f"; logs in {directory}", file=out)
        if cls.always_waits or settings.get("wait"):
            return _wait(backend, sub, manifest, out, err)
        return 0
    finally:
        backend.close()


def _check_commands(commands: list[tuple[str, list[str]]], cls: type[Backend], settings: dict, err: TextIO) -> None:
    """A program not found here: refused when the tasks would run here (it would fail with 127 in
    every task), a warning line for a cluster (it may exist only on the nodes); --no_command_check
    skips it, --test only warns."""
    if not settings.get("command_check", True):
        return
    for problem in missing_programs(commands):
        if cls.runs_here and not settings.get("test"):
            raise UsageError(f"{problem}, or pass --no_command_check")
        print(f"jobdispatch: warning: {problem} (fine if it exists only where the tasks run)", file=err)


def _follow(settings: dict, words: list[str], out: TextIO, err: TextIO) -> int:
    """``--status [DIR|last]`` and ``--cancel DIR|last``: a bare ``--status`` lists the recent launches."""
    root = log_root(settings)
    if settings.get("status_of") == LIST_LAUNCHES and not settings.get("cancel_of"):
        if words:
            raise UsageError(f"--status takes a launch directory, not a command ({words[0]!r})")
        return list_launches(root, out)
    for key in ("status_of", "cancel_of"):
        if settings.get(key):
            settings[key] = resolve_last(settings[key], root)
    return follow(settings, words, out, err, progress=Progress(err))


def _wait(backend: Backend, sub: Submission, manifest: Manifest, out: TextIO, err: TextIO) -> int:
    """Wait for every task, with a live line; ^C or SIGTERM cancels the unfinished ones. 0 when
    every task is done, 1 when one failed or was lost, 130 when interrupted."""
    progress = Progress(err)
    try:
        with _terminate_as_interrupt():
            backend.wait(sub, progress=progress_reporter(progress))
    except KeyboardInterrupt:
        progress.end(keep=True)
        print("jobdispatch: interrupted; canceling the unfinished tasks (^C again: no more waiting)", file=err)
        with _terminate_as_interrupt():
            backend.cancel(sub)
        print(f"jobdispatch: {canceled_line(sub)} (see {manifest.path})", file=err)
        return 130
    progress.end(keep=True)
    line, ok = summary(sub)
    print(f"jobdispatch: {line}", file=out if ok else err)
    return 0 if ok else 1


def canceled_line(sub: Submission) -> str:
    """What a cancel did: for a launch whose tasks ran here, how many stopped on SIGTERM, how many had
    to be killed and how many never started (``sub.extra["cancel"]``, local backend); else the count."""
    info = sub.extra.get("cancel")
    n = sum(1 for t in sub.tasks if t.status is TaskStatus.CANCELED)
    if not info:
        return f"{_tasks(n)} canceled"
    parts = []
    if info["stopped"]:
        parts.append(f"{_tasks(info['stopped'])} stopped by SIGTERM within {info['wait_s']:g} s (a jobman sql "
                     "worker hands its job back: START again; its .err log says so)")
    if info["killed"]:
        parts.append(f"{_tasks(info['killed'])} killed (SIGKILL) after {info['wait_s']:g} s: their running jobs "
                     "stay RUNNING until their lease expires, then go back to START")
    if info["never_started"]:
        parts.append(f"{_tasks(info['never_started'])} never started")
    return "canceled: " + ("; ".join(parts) if parts else "no task was running")


def _tasks(n: int) -> str:
    return f"{n} task{'' if n == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        print(version_line("jobdispatch"))
        return 0
    try:
        return run(args)
    except JobmanError as e:
        print(f"jobdispatch: {e}", file=sys.stderr)
        return int(getattr(e, "exit_code", 1))
    except KeyboardInterrupt:
        print("jobdispatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

