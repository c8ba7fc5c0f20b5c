"""Self-requeue: a worker stopped by a signal asks its batch scheduler to run its task again.

A stop signal (preemption, a maintenance window, SLURM's ``--signal=B:USR1@120`` before the time
limit) makes the worker hand its job back (START) and leave. Without more, its batch task then
ends, and a sweep whose every task was preempted keeps START jobs that nothing runs. With
self-requeue on (``jobman sql --requeue``, or ``$JOBMAN_REQUEUE=<max requeues>``, which
``jobdispatch --requeue`` sets), a worker that stops on a signal while jobs are still claimable:

- under SLURM runs ``scontrol requeue <array job>_<task>`` (or ``<job id>``): SLURM ends this run
  and queues the task again (the script must ask for ``--requeue``; jobdispatch does);
- under HTCondor needs no command: its submit description keeps the job in the queue when it exits
  with :data:`REQUEUE_EXIT_CODE` (``on_exit_remove``; jobdispatch writes it);

and exits with :data:`REQUEUE_EXIT_CODE` (75, ``EX_TEMPFAIL``: "try again"). The number of
requeues is bounded: the scheduler's own count (``$SLURM_RESTART_COUNT``, the job ad's
``NumJobStarts`` - 1) is compared with the maximum, and a task past it ends normally, saying so.
This module knows scheduler environment variables (as :mod:`.provenance` does), not the backends.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .provenance import parse_condor_job_ad

__all__ = ["REQUEUE_EXIT_CODE", "REQUEUE_ENV", "DEFAULT_MAX_REQUEUES", "Target", "target", "parse_max",
           "requeue_after_stop"]

REQUEUE_EXIT_CODE = 75  # also backends.submission.REQUEUE_EXIT_CODE (jobstore imports no backend)
REQUEUE_ENV = "JOBMAN_REQUEUE"  # the maximum number of requeues; unset or empty: no self-requeue
DEFAULT_MAX_REQUEUES = 10
SCONTROL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Target:
    """The batch task this worker runs in: its scheduler, its id, how often it was requeued, and
    the command that requeues it (empty: the exit code is enough)."""

    scheduler: str
    task_id: str
    requeues: int
    argv: tuple[str, ...] = ()


def _int(text: str | None) -> int:
    try:
        return max(0, int(str(text).strip()))
    except (TypeError, ValueError):
        return 0


def target(env: Mapping[str, str] | None = None) -> Target | None:
    """This process's batch task (SLURM, HTCondor), or None outside a batch scheduler."""
    env = os.environ if env is None else env
    if env.get("SLURM_JOB_ID"):
        array, index = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
        task_id = f"{array}_{index}" if array and index else env["SLURM_JOB_ID"]
        return Target("slurm", task_id, _int(env.get("SLURM_RESTART_COUNT")), ("scontrol", "requeue", task_id))
    ad_path = env.get("_CONDOR_JOB_AD")
    if ad_path:
        ad = parse_condor_job_ad(ad_path)
        task_id = f"{ad.get('ClusterId', '?')}.{ad.get('ProcId', '?')}"
        return Target("condor", task_id, max(0, _int(ad.get("NumJobStarts")) - 1))
    return None


def parse_max(text: str | None, where: str) -> int | None:
    """The maximum number of requeues given in ``where`` (``--max-requeues``, ``$JOBMAN_REQUEUE``);
    None for unset or empty. Raises ValueError with a one-line message for anything but an
    integer >= 0."""
    if text is None or not str(text).strip():
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"invalid {where} {text!r}: expected a whole number of requeues >= 0")
    return value


def requeue_after_stop(max_requeues: int, waiting: int, log: Callable[[str], None],
                       env: Mapping[str, str] | None = None) -> int | None:
    """After a stop signal: ask the scheduler to run this task again when ``waiting`` jobs are
    still claimable and the task was requeued fewer than ``max_requeues`` times. The exit status
    the worker should end with (:data:`REQUEUE_EXIT_CODE`), or None to end as usual."""
    if waiting <= 0:
        log("no job is waiting: this task is not requeued")
        return None
    where = target(env)
    if where is None:
        log("--requeue: not running under SLURM or HTCondor, nothing to requeue through")
        return None
    if where.requeues >= max_requeues:
        log(f"task {where.task_id} was requeued {where.requeues} times, the maximum (--max-requeues "
            f"{max_requeues}): it is not requeued again; {waiting} job(s) still waiting")
        return None
    if where.argv:
        try:
            done = subprocess.run(list(where.argv), capture_output=True, text=True, timeout=SCONTROL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"cannot requeue task {where.task_id}: `{' '.join(where.argv)}` failed: {e}")
            return None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().replace("\n", " ")
            log(f"cannot requeue task {where.task_id}: `{' '.join(where.argv)}` exited {done.returncode}: {said}")
            return None
    log(f"{waiting} job(s) still waiting: {where.scheduler} task {where.task_id} requeued "
        f"({where.requeues + 1} of at most {max_requeues})")
    return REQUEUE_EXIT_CODE
