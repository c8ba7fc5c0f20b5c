"""The worker: claim a job, run ``experiment(state, channel)`` in its directory, hand the result back.

One worker runs up to K jobs one after the other (``jobman sql -n K DB EXPROOT``); jobdispatch
launches many copies. Per job:

1. **claim** (one atomic statement in the store): the job becomes RUNNING with ``attempt+1`` and a
   lease from the database clock. Every later write names ``(id, attempt)`` and is refused once
   the job is no longer ours, so a worker that lost its lease can never overwrite the job.
2. **setup**: the directory ``EXPROOT/<db>/<table>/<id>/`` (:mod:`.jobdir`; ``orig.conf`` on the first run,
   ``current.conf`` on every save), the state (a ``DD``, with this attempt's ``jobman.sql.*``
   provenance), the experiment imported by its dotted name. A failure here is ERR_START and the
   worker goes on to the next job.
3. **run** with the working directory in the job's directory and file descriptors 1 and 2
   appended to its ``stdout``/``stderr`` files (``os.dup2``, so C extensions and subprocesses are
   captured too). Beside it a keeper thread renews the lease every ``heartbeat_s`` through its own
   connection, and releases the worker's main connection once the experiment has run for
   ``idle_release_s``: no connection is held while a long experiment computes.
4. **finish**, fenced by the attempt: COMPLETE → DONE, INCOMPLETE → START with priority ≥ 2.0,
   anything else or an exception → ERR_RUN with the traceback; a state the table cannot store →
   ERR_RUN with the reason (:mod:`.finish`). If the database stays unreachable past the lease, or
   the hand-back is refused, the result is written to ``result-<attempt>.json`` in the job
   directory and the worker exits non-zero: results are never silently dropped.

Why the main connection is released late rather than before every experiment: a no-op job then
costs one statement on a kept connection (the finish of the last job claims the next one, when the
loop goes on: :meth:`~jobstore.store.base.Store.finish_and_claim`) instead of a reconnection (a new
server process on PostgreSQL) per job; ``bench/bench_claim.py`` measures both. For an experiment that runs
longer than ``idle_release_s`` nothing changes: the connection is closed while it computes. The
start-of-attempt save (provenance keys in the row while the job runs) is deferred the same way;
a job shorter than that gets its provenance with the finish. On SQLite a connection is a file
handle bound to its thread, so the main connection is released before every experiment.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, TextIO

from ..errors import DatabaseError, UsageError
from ..files import UnsafePathError
from ..params.state import expand, flatten
from ..status import DONE, ERR_RUN, ERR_START, RESTART_PRIORITY, START, EndReason
from ..store.base import Job, Store
from ..store.metrics import Point
from . import finalstate, node, provenance, requeue
from .allow import NotAllowedError, check_allowed
from .channel import Channel, StopSignals
from .claims import Claims
from .codeinfo import AttemptCode
from .finish import Recorder
from .importer import IMPORT_FAILED, Loader
from .jobdir import JobDirs
from .jobdir_archive import JobDirSync
from .keeper import Keeper, Watched
from .leftbehind import LeftBehind
from .options import IDLE_RELEASE_S, WorkerOptions
from .outcome import JobOutcome, WorkerReport
from .stdfiles import StdFiles


def _call(experiment: Callable[..., Any], state: Any, channel: Channel) -> tuple[Any, str | None, bool]:
    """Run ``experiment(state, channel)``: (its result, the traceback if it raised, whether it was
    interrupted). The traceback also goes to the job's stderr file (fd 2 is redirected there)."""
    try:
        return experiment(state, channel), None, False
    except KeyboardInterrupt:
        traceback.print_exc()
        return None, traceback.format_exc(), True
    except SystemExit as e:
        error = f"the experiment called sys.exit({e.code!r})\n" + traceback.format_exc()
        print(f"jobman: {error}", file=sys.stderr, end="")
        return None, error, False
    except BaseException:
        traceback.print_exc()
        return None, traceback.format_exc(), False


def default_worker_id() -> str:
    return f"{provenance.host_name()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs from one store; see the module docstring. ``run()`` returns a :class:`WorkerReport`."""

    def __init__(self, store: Store, exproot: str, options: WorkerOptions | None = None, *,
                 out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.store = store
        self.exproot = os.path.realpath(exproot)
        self.options = options or WorkerOptions()
        self.out = out or sys.stdout
        # The worker's own messages go to the stderr it was started with, even while fd 2 is
        # redirected to a job's stderr file.
        self.err = err or os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        self.worker_id = self.options.worker_id or default_worker_id()
        if self.options.idle_release_s is not None:
            self.idle_release_s = self.options.idle_release_s
        else:
            self.idle_release_s = IDLE_RELEASE_S if store.url.dialect == "postgresql" else 0.0
        self._own_err = err is None
        self._store_lock = threading.Lock()
        self._watched: Watched | None = None
        self._dirs = JobDirs(self.options.group_access)
        self._jobdir_sync = JobDirSync(store, self._store_lock, self.options.jobdir, self.options.jobdir_max_mb,
                                       self.log)
        self._left_behind = LeftBehind(store, self._store_lock, self.options.heartbeat_interval_s, self.log)
        self.recorder = Recorder(store, self._store_lock, self.options.lease_s, self._dirs, self.log)
        self.recorder.at_end = self._jobdir_sync.store_at_end  # --jobdir=db: archive before the end
        self._code = AttemptCode()  # what each attempt imported (jobman.sql.code_*), once per experiment
        self._unasked_in_row = 0  # INCOMPLETEs returned without a stop request, in a row
        self._infra_in_row = 0  # ERR_STARTs in a row caused by the job directory (:mod:`.node`)
        self._current_job: int | None = None  # the job being run, for the stop message
        # The provenance keys that are the same for every job of this process (host, pid, batch
        # scheduler, GPU): computed once per run(), not per job.
        self._process_info: dict[str, Any] = {}
        self._std: StdFiles | None = None  # fds 1 and 2 saved once per run()
        self.report = WorkerReport(self.worker_id)
        self._claims = Claims(store, self._store_lock, self.options, self.worker_id, self.report, self.log)
        self._loader = Loader(self.options.import_timeout_s, self.options.heartbeat_interval_s, self.recorder,
                              self.report, self.log)

    def log(self, message: str) -> None:
        try:
            print(f"jobman sql: {message}", file=self.err, flush=True)
        except (OSError, ValueError):
            pass

    def _say_stop_requested(self, name: str) -> None:
        """The first stop signal, said at once (from the handler: a raw write, no buffered file)."""
        job = self._current_job
        what = (f"job {job} is handed back at its next switch()" if job is not None
                else "no further job is claimed")
        again = "; ^C again to abort" if name == "SIGINT" else f"; {name} again to abort"
        self._say_raw(f"stop requested ({name}): {what}{again}")

    def _say_raw(self, message: str) -> None:
        """One line to the worker's stderr from a signal handler or the abort watchdog (a raw write)."""
        try:
            os.write(self.err.fileno(), f"jobman sql: {message}\n".encode())
        except (OSError, ValueError):
            pass

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> WorkerReport:
        opts = self.options
        self._process_info = provenance.process_info(worker=self.worker_id)
        self._std = StdFiles()
        keeper = Keeper(self.store, self._store_lock, opts.heartbeat_interval_s, opts.lease_s, self.log)
        try:
            with StopSignals() as signals:
                signals.on_first = self._say_stop_requested
                signals.watchdog.on_abandon = self._say_raw
                self.report.node_error = node.check_exproot(self.exproot)
                try:
                    if self.report.node_error is None:
                        self._loop(signals, keeper)
                except KeyboardInterrupt:
                    self.report.interrupted = True
                    self.report.interrupted_by = signals.aborted_by
                if signals.received is not None:
                    self.report.stop_signal = signals.name
        finally:
            keeper.close()
            self._std.close()
            self._std = None
            try:
                self.store.release()
            except Exception:
                pass
            if self._own_err:
                self.err.close()
        return self.report

    def _loop(self, signals: StopSignals, keeper: Keeper) -> None:
        opts = self.options
        ran = 0
        try:  # the table's directory, marked with its UUID, before the first claim (:mod:`.dirnames`)
            with self._store_lock:
                self.report.node_error = node.bind_table_dir(self.store, self._dirs, self.exproot)
        except (DatabaseError, UsageError) as e:
            self.report.db_error = str(e)
            self.log(f"cannot read the table's identity: {e}")
            return
        if self.report.node_error:
            return
        next_job: Job | None = None  # claimed with the previous job's finish
        try:
            while opts.n <= 0 or ran < opts.n:
                if self._claims.stop_now(signals):
                    return
                job, next_job = next_job or self._claims.claim(), None
                if job is None:
                    if self.report.db_error is None and opts.n <= 0 and self._left_behind.wait(
                            lambda: signals.received is not None):
                        continue  # a dead worker's lease expired meanwhile: claim it
                    if self.report.db_error is None:
                        self.report.no_more_jobs = True
                        print(f"No more jobs to run (ran {ran} job{'s' if ran != 1 else ''})", file=self.out,
                              flush=True)
                    return
                print(f"Selected job id={job.id} in table={self.store.table} in db={self.store.dbname}",
                      file=self.out, flush=True)
                self._current_job = job.id
                self._claims.goes_on = opts.n <= 0 or ran + 1 < opts.n
                try:
                    outcome = self._run_job(job, signals, keeper)
                except KeyboardInterrupt:  # a second signal outside the experiment: hand the job back, fenced
                    self.recorder.finish(job, self._dirs.job_dir(job.id), START, EndReason.INCOMPLETE, None)
                    raise
                finally:
                    self._current_job = None
                next_job, outcome.next_job = outcome.next_job, None
                self.report.outcomes.append(outcome)
                ran += 1
                if outcome.note == "interrupted":
                    raise KeyboardInterrupt
                if self._unasked_in_row:  # let another worker take the job it just handed back
                    requeue.pause(self._unasked_in_row, lambda: signals.received is not None)
                if self._infra_in_row >= node.INFRA_STREAK_MAX:
                    self.report.node_error = f"{self._infra_in_row} job directories in a row were unusable"
                if self.report.node_error or outcome.note == IMPORT_FAILED or (
                        not outcome.handed_back and outcome.note == "database unreachable"):
                    return
        finally:
            if next_job is not None:  # claimed with the last finish, but the loop stops: hand it back unstarted
                self.recorder.finish(next_job, self._dirs.job_dir(next_job.id), START, EndReason.HANDED_BACK, None)

    # -- one job -------------------------------------------------------------------------------------
    def _run_job(self, job: Job, signals: StopSignals, keeper: Keeper) -> JobOutcome:
        t0 = time.monotonic()
        start_time = job.started if job.started is not None else time.time()
        job_dir = self._dirs.job_dir(job.id)
        if job.undecodable is not None:  # a poison row: fail it, fenced, and go on
            return self.recorder.finish(job, job_dir, ERR_START, EndReason.START_ERROR, None,
                                error=f"the job's row cannot be decoded: {job.undecodable}")
        try:
            check_allowed(job.experiment, self.options.allow)  # before anything of it is imported
        except NotAllowedError as e:  # the job's fault: nothing of it is imported
            return self._cannot_start(job, job_dir, e, str(e))
        experiment = self._loader.load(job, job_dir, keeper, lambda: signals.received is not None)
        if isinstance(experiment, JobOutcome):  # not imported: handed back or ERR_START
            return experiment
        try:
            flat, state = self._prepare(job, job_dir, start_time)
        except OSError as e:  # this node's fault (disk full, unmounted, read-only): not the job's
            self.report.node_error = f"cannot write the job directory {job_dir} ({e}): job {job.id} is handed back"
            return self.recorder.finish(job, job_dir, START, EndReason.HANDED_BACK, None, note=node.NODE_FAULT)
        except Exception as e:
            return self._cannot_start(job, job_dir, e, str(e) if isinstance(e, UnsafePathError) else traceback.format_exc())

        def save() -> bool:
            return self._save(job, job_dir, channel)

        channel = Channel(state, save=save, signals=signals, finish_up_after_s=self.options.finish_up_after_s,
                          save_every_s=self.options.save_every_s)
        if signals.received is not None:  # stopped between claim and start: hand it back untouched
            return self.recorder.finish(job, job_dir, START, EndReason.INCOMPLETE, flatten(state))
        self._watched = watched = self._start_save(job, job_dir, channel, flat, t0)
        std = self._std
        assert std is not None  # set by run()
        cwd = os.getcwd()
        try:
            std.enter(job_dir, fresh=self._dirs.made == job_dir)
            os.chdir(job_dir)
        except (OSError, UnsafePathError) as e:  # the job directory became unusable (disk full, removed...)
            std.exit()
            self.log(f"job {job.id}: cannot use its directory {job_dir}: {e}: ERR_START")
            self._infra_in_row += 1
            return self.recorder.finish(job, job_dir, ERR_START, EndReason.START_ERROR, None, error=traceback.format_exc())
        self._infra_in_row = 0
        keeper.watch(watched)
        try:
            result, error, interrupted = _call(experiment, state, channel)
        finally:
            keeper.unwatch()
            os.chdir(cwd)
            std.exit()
        flat_end = self._final_flat(channel.state, job, start_time, t0)
        claim = self._claims.with_finish(signals, pausing=self._unasked_in_row > 0)
        return self._end(job, job_dir, result, error, interrupted, flat_end, (start_time, t0),
                         channel.pending_metrics(), asked=channel.asked_to_stop, claim=claim)

    def _cannot_start(self, job: Job, job_dir: str, e: Exception, error: str) -> JobOutcome:
        """The job itself cannot start here (not allowed, its state or directory unusable): ERR_START."""
        self.recorder.append(job_dir, "stderr", f"jobman: job {job.id} could not start:\n{error}")
        self.log(f"job {job.id}: cannot start ({type(e).__name__}: {e}): ERR_START")
        return self.recorder.finish(job, job_dir, ERR_START, EndReason.START_ERROR, None, error=error)

    def _prepare(self, job: Job, job_dir: str, start_time: float) -> tuple[dict[str, Any], Any]:
        """The job directory, the flat state with this attempt's provenance and the nested state
        handed to the experiment; orig.conf on the first run."""
        self._dirs.make(job_dir, mark=False)  # marked by its orig.conf, below
        self._jobdir_sync.restore(job, job_dir)
        flat = dict(job.state)
        provenance.replace_attempt_info(flat, self._process_info, provenance.attempt_keys(
            job_dir=job_dir, attempt=job.attempt, start_time=start_time))
        if warning := self._code.record(job.id, job.experiment, flat):  # one line: job stderr + the row
            self.recorder.append(job_dir, "stderr", f"jobman: warning: {warning}\n")
        state = expand(flat)
        state["jobman.id"] = job.id  # Jobman's literal top-level key
        self._dirs.write_orig(job_dir, flat)  # the first run's parameters
        flat["jobman.id"] = job.id  # what flatten(state) gives: the state was just expanded from it
        return flat, state

    def _start_save(self, job: Job, job_dir: str, channel: Channel, flat: dict[str, Any], t0: float) -> Watched:
        """current.conf and the provenance keys into the row: now (SQLite), or by the keeper once
        the experiment has run idle_release_s (PostgreSQL: a short job never pays for it)."""
        def start_save() -> bool:
            return self.recorder.write_state(job, job_dir, flat, "start save") is not False

        heartbeat_at = t0 + self.options.heartbeat_interval_s
        if self.idle_release_s > 0:
            return Watched(job.id, job.attempt, channel, heartbeat_at, t0 + self.idle_release_s, start_save)
        with self._store_lock:
            try:
                if not start_save():
                    channel.lose("the job is no longer ours: its start save was refused")
            finally:
                self.store.release()
        return Watched(job.id, job.attempt, channel, heartbeat_at, None, None)

    def _end(self, job: Job, job_dir: str, result: Any, error: str | None, interrupted: bool,
             flat_end: dict[str, Any], done_at: tuple[float, float], metrics: list[Point],
             asked: bool = False, claim: dict[str, Any] | None = None) -> JobOutcome:
        """Record how the experiment ended: DONE, handed back (INCOMPLETE or interrupted) or ERR_RUN,
        with the metric points not written yet; a DONE or ERR_RUN finish claims the next job with
        ``claim`` (an INCOMPLETE one is not: the loop may pause first)."""
        if interrupted:
            self.log(f"job {job.id}: interrupted; handing it back")
            return self.recorder.finish(job, job_dir, START, EndReason.INCOMPLETE, flat_end, note="interrupted",
                                metrics=metrics)
        if error is None and result is Channel.COMPLETE:
            return self.recorder.finish(job, job_dir, DONE, EndReason.COMPLETED, flat_end, done_at=done_at,
                                        metrics=metrics, claim=claim)
        if error is None and result is Channel.INCOMPLETE:
            return self._incomplete(job, job_dir, flat_end, asked, metrics)
        if error is None:
            error = (f"the experiment returned {result!r}: expected channel.COMPLETE (None) or "
                     "channel.INCOMPLETE (True)\n")
            self.recorder.append(job_dir, "stderr", f"jobman: {error}")
        self.log(f"job {job.id}: {error.strip().splitlines()[-1]}: ERR_RUN")
        return self.recorder.finish(job, job_dir, ERR_RUN, EndReason.ERROR, flat_end, error=error, metrics=metrics,
                                    claim=claim)

    def _incomplete(self, job: Job, job_dir: str, flat_end: dict[str, Any], asked: bool,
                    metrics: list[Point]) -> JobOutcome:
        """Requeue the job; bound the INCOMPLETEs returned unasked (:mod:`.requeue`)."""
        streak = requeue.unasked_streak(job.state, flat_end, asked)
        self._unasked_in_row = self._unasked_in_row + 1 if streak else 0
        if streak >= self.options.max_attempts:
            error = requeue.too_many(streak)
            self.recorder.append(job_dir, "stderr", f"jobman: {error}")
            self.log(f"job {job.id}: INCOMPLETE returned unasked {streak} times in a row: ERR_RUN")
            return self.recorder.finish(job, job_dir, ERR_RUN, EndReason.ERROR, flat_end, error=error, metrics=metrics)
        flat_end.pop(requeue.STREAK_KEY, None)
        if streak:
            flat_end[requeue.STREAK_KEY] = streak
        self.log(f"job {job.id}: INCOMPLETE, requeued" + (
            f" (returned without a stop request, {streak} of {self.options.max_attempts} in a row)" if streak else ""))
        return self.recorder.finish(job, job_dir, START, EndReason.INCOMPLETE, flat_end,
                            priority=max(job.priority, RESTART_PRIORITY), metrics=metrics)

    def _final_flat(self, state: Any, job: Job, start_time: float, t0: float) -> dict[str, Any]:
        try:
            flat = flatten(state) if isinstance(state, dict) else dict(job.state)
        except Exception:
            flat = dict(job.state)
        flat[provenance.PREFIX + "end_time"] = start_time + (time.monotonic() - t0)
        return flat

    def _save(self, job: Job, job_dir: str, channel: Channel) -> bool:
        """channel.save(): the state (fenced), then current.conf; no connection kept afterwards once
        the experiment has run past idle_release_s. A state the table cannot store is reported to
        the experiment at once (:class:`~.finalstate.UnstorableState`)."""
        flat = flatten(channel.state)
        enc = finalstate.check_save(flat)
        with self._store_lock:
            watched = self._watched
            if watched is not None and watched.job_id == job.id:
                watched.start_save = None  # this save supersedes the deferred start save
            if channel.lost_reason is not None:  # fenced out: write nothing more
                return False
            points = channel.pending_metrics()
            ok = self.recorder.write_state(job, job_dir, flat, "save", points, enc)
            if ok and watched is not None and watched.job_id == job.id:
                watched.renewed(self.options.heartbeat_interval_s)
            if ok is not None:
                channel.drop_metrics(len(points))  # written, or refused for good with the attempt
            if watched is None or watched.idle_due is None:
                self.store.release()
        return ok is not False


def run_worker(store: Store, exproot: str, options: WorkerOptions | None = None, *,
               out: TextIO | None = None, err: TextIO | None = None) -> WorkerReport:
    """Run jobs from ``store`` until ``options.n`` ran, none is claimable, or a stop signal."""
    return Worker(store, exproot, options, out=out, err=err).run()
