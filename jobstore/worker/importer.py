"""Importing a job's experiment under watch: in a thread, bounded in time, while the keeper renews
the lease and the worker still hears its stop signals.

An experiment's module runs arbitrary code when imported. Imported in the worker's main thread, a
module that hangs got no heartbeat (the keeper started after the import), so its lease expired and
a second worker took the job and hung too, and neither heard SIGTERM; a module that called
``sys.exit()`` killed the worker silently with its job left RUNNING. Here every outcome of the
import is a value the worker acts on (:class:`Imported`):

- ``ok``: the experiment; ``cannot``: an :class:`~jobstore.errors.ExperimentError` (not importable
  from here: the worker hands the job back and stops);
- ``failed``: the module raised or exited while importing (the job's fault: ERR_START with why);
- ``hung``: still importing after ``timeout_s`` (ERR_START with why; the worker stops, since the
  stuck thread holds the module's import lock);
- ``stopped``: a stop signal arrived meanwhile (the job is handed back untouched; the worker stops).
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ExperimentError
from ..params.resolve import resolve_experiment
from ..status import ERR_START, START, EndReason
from ..store.base import Job
from .channel import Channel
from .finish import Recorder
from .keeper import Keeper, Watched
from .outcome import JobOutcome, WorkerReport

__all__ = ["IMPORT_FAILED", "IMPORT_TIMEOUT_S", "Imported", "Loader", "import_experiment"]

IMPORT_TIMEOUT_S = 600.0  # generous: a CUDA stack on a cold shared file system can take minutes
POLL_S = 0.05
IMPORT_FAILED = "cannot import"  # the JobOutcome note that stops the worker


@dataclass
class Imported:
    """What importing an experiment gave (see the module docstring)."""

    kind: str  # "ok", "cannot", "failed", "hung" or "stopped"
    experiment: Callable[..., Any] | None = None
    error: ExperimentError | None = None
    reason: str = ""


def import_experiment(name: str, timeout_s: float, should_stop: Callable[[], bool]) -> Imported:
    """Import ``name`` in a daemon thread, waiting for it at most ``timeout_s`` and only while
    ``should_stop()`` is False."""
    box: list[Imported] = []

    def target() -> None:
        try:
            box.append(Imported("ok", experiment=resolve_experiment(name)))
        except ExperimentError as e:
            box.append(Imported("cannot", error=e))
        except SystemExit as e:
            box.append(Imported("failed", reason=f"importing {name} called sys.exit({e.code!r})\n"
                                + traceback.format_exc()))
        except BaseException:  # noqa: BLE001 - anything the module's top level raises is the job's error
            box.append(Imported("failed", reason=f"importing {name} failed:\n" + traceback.format_exc()))

    thread = threading.Thread(target=target, name=f"jobman-import-{name}", daemon=True)
    deadline = time.monotonic() + timeout_s
    thread.start()
    while True:
        thread.join(POLL_S)
        if box:
            return box[0]
        if should_stop():
            return Imported("stopped", reason=f"a stop signal arrived while importing {name}")
        if time.monotonic() >= deadline:
            return Imported("hung", reason=f"importing {name} did not finish within {timeout_s:g} s "
                                           "(--import-timeout): the module hangs at import")


class Loader:
    """The worker's experiments, each imported once, and what a failed import does to its job."""

    def __init__(self, timeout_s: float, heartbeat_s: float, recorder: Recorder, report: WorkerReport,
                 log: Callable[[str], None]) -> None:
        self.timeout_s, self.heartbeat_s = timeout_s, heartbeat_s
        self.recorder, self.report, self.log = recorder, report, log
        self._known: dict[str, Callable[..., Any]] = {}

    def load(self, job: Job, job_dir: str, keeper: Keeper,
             should_stop: Callable[[], bool]) -> Callable[..., Any] | JobOutcome:
        """The job's experiment, or how the job ended because it could not be imported."""
        known = self._known.get(job.experiment)
        if known is not None:
            return known
        keeper.watch(Watched(job.id, job.attempt, Channel({}), time.monotonic() + self.heartbeat_s, None, None))
        try:
            got = import_experiment(job.experiment, self.timeout_s, should_stop)
        finally:
            keeper.unwatch()
        if got.experiment is not None:
            self._known[job.experiment] = got.experiment
            return got.experiment
        if got.error is not None:
            return self._cannot_import(job, job_dir, got.error)
        if got.kind == "stopped":  # the worker sees the signal and stops
            return self.recorder.finish(job, job_dir, START, EndReason.HANDED_BACK, None)
        self.recorder.append(job_dir, "stderr", f"jobman: job {job.id} could not start:\n{got.reason}")
        self.log(f"job {job.id}: {got.reason.splitlines()[0]}: ERR_START")
        outcome = self.recorder.finish(job, job_dir, ERR_START, EndReason.START_ERROR, None, error=got.reason)
        if got.kind == "hung":  # its thread holds the module's import lock: this worker is done
            outcome.note = IMPORT_FAILED
            self.report.import_error = f"{got.reason}; job {job.id} is ERR_START and this worker stops"
        return outcome

    def _cannot_import(self, job: Job, job_dir: str, e: ExperimentError) -> JobOutcome:
        """A worker started where the experiment does not import would fail every job of the table
        within milliseconds: hand the job back as it was (START, same priority, no loss counted)
        and stop this worker instead."""
        outcome = self.recorder.finish(job, job_dir, START, EndReason.HANDED_BACK, None, note=IMPORT_FAILED)
        self.report.import_error = (
            f"cannot import {job.experiment} from {os.getcwd()} (PYTHONPATH "
            f"{os.environ.get('PYTHONPATH') or 'unset'}): {str(e).split(': ', 1)[-1]}; job {job.id} is "
            "handed back untouched and this worker stops: run the worker where the module is importable")
        return outcome
