"""Local backend: every task is a subprocess of ``jobdispatch`` itself.

At most ``nb_proc`` tasks run at once (default: the number of CPUs); the rest wait in order. Each
task runs the shared launcher (``sh launcher.sh INDEX``), which searches the PATH for the command,
writes ``<name>.out``/``.err`` and the exit status. With ``--gpu=N`` every running task gets its own
N GPUs in ``CUDA_VISIBLE_DEVICES``, taken from the GPUs visible here (``CUDA_VISIBLE_DEVICES`` if
set, else ``nvidia-smi -L``); no visible GPU is an error, not a silent CPU run.

The local backend has no scheduler to hold the queue, so ``jobdispatch --local`` always waits:
:meth:`refresh` both reports and starts the next tasks when slots free up. Another process (``jobdispatch
--status/--cancel DIR``) follows such a launch through the files and the processes: a task with a
live launcher process is running, one not started yet is pending while the dispatcher (its pid and
start time are in the manifest) lives, lost otherwise; cancelling sends the dispatcher SIGTERM (on
which it cancels what it started, as on ^C) and then ends any task process left.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jobstore.units import parse_seconds

from .base import pid_of, read_pid
from .errors import UsageError
from .launcher import LAUNCHER_NAME
from .process import Placement, ProcessBackend
from .runner import LocalRunner
from .submission import Resources, Submission, Task, TaskRecord, TaskStatus

_NVIDIA_SMI_GPU_RE = re.compile(r"^GPU (\d+):", re.MULTILINE)
DISPATCHER_EXIT_WAIT_S = 10.0
"""How long --cancel waits for an interrupted dispatcher to cancel its tasks and exit, beyond the
grace period the dispatcher gives its tasks (:func:`cancel_grace_s`)."""
TASK_EXIT_WAIT_S = 10.0
CANCEL_GRACE_S = 30.0
"""How long a canceled local launch waits for its tasks to end after SIGTERM (a worker hands its
job back at the experiment's next ``switch()``) before it sends SIGKILL; ``$JOBDISPATCH_CANCEL_GRACE_S``
sets another."""
GRACE_VARIABLE = "JOBDISPATCH_CANCEL_GRACE_S"


def cancel_grace_s(environ: Mapping[str, str] | None = None) -> float:
    """The grace period after SIGTERM on a cancel, from the environment (one line for a bad value)."""
    text = (os.environ if environ is None else environ).get(GRACE_VARIABLE)
    if text is None:
        return CANCEL_GRACE_S
    try:
        return parse_seconds(text, f"${GRACE_VARIABLE}", zero_ok=True)
    except ValueError as e:
        raise UsageError(f"{e} (default {CANCEL_GRACE_S:g})") from None


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), None if there is no such
    process; with the pid it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def runs_launcher(pid: int, launcher: Path, index: int) -> bool:
    """Whether process ``pid`` is ``sh LAUNCHER INDEX`` for this launch's launcher: a pid read back
    from a pid file is trusted only then (the pid may have been reused, or the file altered)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return False
    if len(args) < 2 or args[-1] != str(index).encode():
        return False
    try:
        return os.path.samefile(os.fsdecode(args[-2]), launcher)
    except OSError:
        return False


def _alive(pid: int | None, start: str | None = None) -> bool:
    if pid is None:
        return False
    now = process_start(pid)
    return now is not None and (start is None or now == start)


def _wait_gone(pids: Sequence[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether a task's process group still has a process: its launcher (reaped here first) or
    anything the command started, which would outlive the launcher."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_groups(procs: Iterable[subprocess.Popen[bytes]], sig: int) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, sig)  # each task leads its own session: launcher and command
        except (ProcessLookupError, PermissionError):
            pass


def _wait_groups(procs: Iterable[subprocess.Popen[bytes]], deadline: float) -> None:
    """Wait until no process is left in any of the tasks' groups, or until ``deadline``."""
    left = list(procs)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _group_alive(p)]
        if left:
            time.sleep(0.05)


def visible_gpus(runner: LocalRunner | None = None, environ: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The GPU ids tasks may use here, and where they came from (for messages)."""
    env = os.environ if environ is None else environ
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        ids = [x.strip() for x in cvd.split(",") if x.strip()]
        # CUDA stops at the first invalid id: "-1" or "" hides every GPU.
        valid = []
        for x in ids:
            if x.startswith("-"):
                break
            valid.append(x)
        return valid, f"CUDA_VISIBLE_DEVICES={cvd!r}"
    done = (runner or LocalRunner()).run(["nvidia-smi", "-L"], check=False, timeout_s=30)
    if done.returncode != 0:
        return [], "CUDA_VISIBLE_DEVICES unset and `nvidia-smi -L` " + (
            "not found" if done.returncode == 127 else f"failed ({done.stderr.strip() or done.returncode})")
    return _NVIDIA_SMI_GPU_RE.findall(done.stdout), "nvidia-smi -L"


class LocalBackend(ProcessBackend):
    """Tasks as local subprocesses, at most ``nb_proc`` at once."""

    name = "local"
    help = "run here, as subprocesses of jobdispatch"
    always_waits = True
    runs_here = True
    supports = frozenset({"env", "job_name", "gpus", "nb_proc", "cpu"})
    default_nb_proc = os.cpu_count() or 1
    poll_interval_s = 0.05

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._queue: list[int] = []  # indexes of records not started yet
        self._procs: dict[int, subprocess.Popen[bytes]] = {}  # record index -> running process
        self._gpu_slots: list[str] = []  # free CUDA_VISIBLE_DEVICES values
        self._gpu_of: dict[int, str] = {}
        self._limit = 1
        self._use_gpus = False
        self._host = socket.gethostname()
        self._launched = False  # False: following a launch of another process
        self._grace_s = CANCEL_GRACE_S

    def check(self, tasks: Sequence[Task], resources: Resources) -> None:
        self._grace_s = cancel_grace_s()
        nb_proc = resources.nb_proc or len(tasks)
        if resources.gpus:
            runner = self.runner if isinstance(self.runner, LocalRunner) else LocalRunner()
            gpus, source = visible_gpus(runner)
            per = resources.gpus
            if len(gpus) < per:
                raise UsageError(f"--gpu={per} asks for {per} GPU(s) per task but {len(gpus)} "
                                 f"{'is' if len(gpus) == 1 else 'are'} visible here ({source})")
            self._gpu_slots = [",".join(gpus[i:i + per]) for i in range(0, len(gpus) - per + 1, per)]
            nb_proc = min(nb_proc, len(self._gpu_slots))
            self._use_gpus = True
        self._limit = max(1, nb_proc)

    def placement(self, sub: Submission) -> list[Placement]:
        return [Placement(0, self._host, list(sub.tasks))]

    def start(self, sub: Submission, group: Placement) -> str | None:
        """Queue every task, note who the dispatcher is (for --status/--cancel from elsewhere) and
        start the first ``nb_proc``."""
        self._queue = list(range(len(sub.tasks)))
        self._launched = True
        sub.extra["dispatcher"] = {"pid": os.getpid(), "start": process_start(os.getpid()), "host": self._host}
        self._fill(sub)
        return None

    def refresh(self, sub: Submission) -> Submission:
        if not self._launched:
            return super().refresh(sub)  # .rc files, then scheduler_states from the processes
        for pos, proc in list(self._procs.items()):
            code = proc.poll()
            if code is None:
                continue
            sub.tasks[pos].ended(code)
            del self._procs[pos]
            if pos in self._gpu_of:
                self._gpu_slots.append(self._gpu_of.pop(pos))
        self._fill(sub)
        return sub

    def scheduler_states(self, sub: Submission) -> dict[int, TaskStatus]:
        """For a launch of another process: running while the task's launcher lives; not started:
        pending while the dispatcher lives; else lost (it ended without writing its exit status)."""
        dispatcher = self._dispatcher(sub)
        states: dict[int, TaskStatus] = {}
        for rec in sub.tasks:
            pid = self._task_pid(rec)
            if _alive(pid):
                states[rec.index] = TaskStatus.RUNNING
            elif pid is None and rec.status is TaskStatus.PENDING and _alive(*dispatcher):
                states[rec.index] = TaskStatus.PENDING
            else:
                states[rec.index] = TaskStatus.LOST
        return states

    def _task_pid(self, rec: TaskRecord) -> int | None:
        """The pid of a task's launcher, from the record or its pid file, if that process is still
        this launch's launcher for this task (else None: gone, reused or not ours)."""
        pid = rec.pid if rec.pid is not None else read_pid(self.launch_dir / f"{rec.name}.pid")
        if pid is None or not runs_launcher(pid, self.launch_dir / LAUNCHER_NAME, rec.index):
            return None
        return pid

    def _dispatcher(self, sub: Submission) -> tuple[int | None, str | None]:
        info: dict[str, Any] = sub.extra.get("dispatcher") or {}
        if info.get("host") not in (None, self._host):
            raise UsageError(f"this local launch ran on {info['host']}: follow it from there")
        pid = info.get("pid")
        return (pid_of(pid, "dispatcher pid") if pid is not None else None), info.get("start")

    def stop(self, sub: Submission) -> None:
        """Cancel a launch of this process: forget the queued tasks; SIGTERM to every running task's
        whole process group (launcher, command and what it started: a ``jobman sql`` worker then hands
        its job back), wait for them together up to :data:`CANCEL_GRACE_S` (a second ^C cuts the wait
        short), then SIGKILL what is left. What happened is in ``sub.extra["cancel"]``."""
        if not self._launched:
            self._stop_elsewhere(sub)
            return
        never = len(self._queue)
        self._queue.clear()
        procs = dict(self._procs)
        _signal_groups(procs.values(), signal.SIGTERM)
        began = time.monotonic()
        try:
            _wait_groups(procs.values(), began + self._grace_s)
        except KeyboardInterrupt:  # ^C again: no more waiting
            pass
        killed = [pos for pos, proc in procs.items() if _group_alive(proc)]
        _signal_groups([procs[pos] for pos in killed], signal.SIGKILL)
        for pos, proc in procs.items():
            proc.wait()
            sub.tasks[pos].exit_code = proc.returncode
            del self._procs[pos]
        sub.extra["cancel"] = {"stopped": len(procs) - len(killed), "killed": len(killed),
                               "never_started": never, "wait_s": round(time.monotonic() - began, 1),
                               "grace_s": self._grace_s}

    def _stop_elsewhere(self, sub: Submission) -> None:
        """Cancel a launch of another process: SIGTERM to its dispatcher (which then cancels the tasks
        it started, as on ^C, and starts no more), then end any task process still there."""
        pid, start = self._dispatcher(sub)
        if pid is not None and _alive(pid, start):
            os.kill(pid, signal.SIGTERM)
            _wait_gone([pid], cancel_grace_s() + DISPATCHER_EXIT_WAIT_S)
        pids = [p for rec in sub.tasks if not rec.final for p in [self._task_pid(rec)]
                if p is not None and _alive(p)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in pids:
                try:
                    os.killpg(p, sig)  # each task leads its own session: launcher and command
                except (ProcessLookupError, PermissionError):
                    pass
            if _wait_gone(pids, TASK_EXIT_WAIT_S):
                break

    def _fill(self, sub: Submission) -> None:
        """Start queued tasks while fewer than the limit run."""
        while self._queue and len(self._procs) < self._limit:
            pos = self._queue.pop(0)
            rec = sub.tasks[pos]
            env = dict(os.environ)
            if self._use_gpus:
                gpu = self._gpu_slots.pop(0)
                self._gpu_of[pos] = gpu
                env["CUDA_VISIBLE_DEVICES"] = gpu
            runner = self.runner if isinstance(self.runner, LocalRunner) else LocalRunner()
            proc = runner.spawn(["/bin/sh", str(self.launch_dir / LAUNCHER_NAME), str(rec.index)],
                                cwd=self.launch_dir, env=env)
            self._procs[pos] = proc
            rec.pid = proc.pid
            rec.status = TaskStatus.RUNNING
