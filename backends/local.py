"""Local backend: every task is a subprocess of ``jobdispatch`` itself.

At most ``nb_proc`` tasks run at once (default: the number of CPUs); the rest wait in order. Each
task runs the shared launcher (``sh launcher.sh INDEX``), which searches the PATH for the command,
writes ``<name>.out``/``.err`` and the exit status. With ``--gpu=N`` every running task gets its own
N GPUs in ``CUDA_VISIBLE_DEVICES``, taken from the GPUs visible here (``CUDA_VISIBLE_DEVICES`` if
set, else ``nvidia-smi -L``); no visible GPU is an error, not a silent CPU run.

The local backend has no scheduler to hold the queue, so ``jobdispatch --local`` always waits:
:meth:`refresh` both reports and starts the next tasks when slots free up.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Sequence

from .base import (
    DONE,
    FAILED,
    LAUNCHER_NAME,
    PENDING,
    RUNNING,
    Backend,
    Resources,
    Submission,
    Task,
)
from .errors import UsageError
from .runner import LocalRunner

_NVIDIA_SMI_GPU_RE = re.compile(r"^GPU (\d+):", re.MULTILINE)


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


class LocalBackend(Backend):
    """Tasks as local subprocesses, at most ``nb_proc`` at once."""

    name = "local"
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

    def check(self, tasks: Sequence[Task], resources: Resources) -> None:
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

    def submit(self, sub: Submission) -> None:
        for rec in sub.tasks:
            rec.status = PENDING
            rec.host = self._host
            rec.id = f"{self.launch_dir.name}.{rec.index}"
        self._queue = list(range(len(sub.tasks)))
        self._fill(sub)

    def refresh(self, sub: Submission) -> Submission:
        for pos, proc in list(self._procs.items()):
            code = proc.poll()
            if code is None:
                continue
            rec = sub.tasks[pos]
            rec.exit_code = code
            rec.status = DONE if code == 0 else FAILED
            del self._procs[pos]
            if pos in self._gpu_of:
                self._gpu_slots.append(self._gpu_of.pop(pos))
        self._fill(sub)
        return sub

    def stop(self, sub: Submission) -> None:
        """Kill every running task's process group and forget the queued ones."""
        self._queue.clear()
        for proc in self._procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the task's own session: launcher and command
            except ProcessLookupError:
                pass
        for pos, proc in list(self._procs.items()):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            sub.tasks[pos].exit_code = proc.returncode
            del self._procs[pos]

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
            rec.status = RUNNING
