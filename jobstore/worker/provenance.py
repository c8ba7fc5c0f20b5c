"""Where and how an attempt ran: host, process, job directory, batch-scheduler ids and GPU.

The worker writes these ``jobman.sql.*`` keys into the job's state at the start of every attempt,
after removing the keys a previous attempt left behind (a job preempted on a SLURM node and resumed
under HTCondor must not keep its old ``slurm_job_id``). Jobman wrote the same kind of keys but never
removed stale ones from the table.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping, MutableMapping
from typing import Any

PREFIX = "jobman.sql."

# environment variable -> key under jobman.sql.
SCHEDULER_ENV_KEYS: dict[str, str] = {
    "SLURM_JOB_ID": "slurm_job_id",
    "SLURM_ARRAY_JOB_ID": "slurm_array_job_id",
    "SLURM_ARRAY_TASK_ID": "slurm_array_task_id",
    "SLURM_JOB_NODELIST": "slurm_nodelist",
    "_CONDOR_SLOT": "condor_slot",
    "CUDA_VISIBLE_DEVICES": "cuda_visible_devices",
    "JOBDISPATCH_TASK_ID": "jobdispatch_task_id",  # <launch dir>.<index>, set by jobdispatch's launcher
}
# HTCondor job ad attribute -> key under jobman.sql.
CONDOR_AD_KEYS: dict[str, str] = {
    "GlobalJobId": "condor_global_job_id",
    "ClusterId": "condor_cluster_id",
    "ProcId": "condor_proc_id",
}
GPU_KEY = "gpu_name"
# Keys that describe one attempt and must not survive into the next (Jobman's SGE/PBS keys
# included, so that rows written by the original tool are cleaned too).
PER_ATTEMPT_KEYS: tuple[str, ...] = (
    *SCHEDULER_ENV_KEYS.values(), *CONDOR_AD_KEYS.values(), GPU_KEY,
    "condor_stdout", "condor_stderr", "condor_origiwd",
    "sge_task_id", "job_id", "sge_stdout", "sge_stderr",
    "pbs_task_id", "pbs_queue", "pbs_arrayid", "pbs_num_ppn",
    "host_name", "pid", "host_workdir", "worker", "attempt", "start_time", "end_time",
)
GPU_QUERY_TIMEOUT_S = 5.0

_AD_LINE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def parse_condor_job_ad(path: str) -> dict[str, str]:
    """The attributes of an HTCondor job ad file (``$_CONDOR_JOB_AD``), string values unquoted."""
    attrs: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = _AD_LINE_RE.match(line)
                if not m:
                    continue
                value = m.group(2)
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1].replace('\\"', '"')
                attrs[m.group(1)] = value
    except OSError:
        pass
    return attrs


def scheduler_info(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Batch-scheduler and GPU assignment of this process, as ``jobman.sql.*`` keys (only those set)."""
    env = os.environ if env is None else env
    info = {PREFIX + key: env[var] for var, key in SCHEDULER_ENV_KEYS.items() if env.get(var)}
    ad_path = env.get("_CONDOR_JOB_AD")
    if ad_path:
        ad = parse_condor_job_ad(ad_path)
        info.update({PREFIX + key: ad[attr] for attr, key in CONDOR_AD_KEYS.items() if attr in ad})
    return info


@functools.lru_cache(maxsize=8)
def gpu_name(cuda_visible_devices: str | None) -> str | None:
    """The name of the first GPU this process may use, from ``nvidia-smi`` (once per process), or
    None where there is no NVIDIA tool or no GPU. Cheap enough to call per job: the answer is cached."""
    if cuda_visible_devices is not None and cuda_visible_devices.strip() in ("", "-1", "NoDevFiles"):
        return None
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    cmd = [exe, "--query-gpu=name", "--format=csv,noheader"]
    first = (cuda_visible_devices or "").split(",")[0].strip()
    if first:
        cmd.insert(1, f"--id={first}")
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=GPU_QUERY_TIMEOUT_S, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return names[0] if names else None


@functools.lru_cache(maxsize=1)
def host_name() -> str:
    return socket.gethostname()


def process_info(*, worker: str, env: Mapping[str, str] | None = None,
                 with_gpu: bool = True) -> dict[str, Any]:
    """The ``jobman.sql.*`` keys that stay the same for every attempt a process runs: host, pid,
    worker id, batch-scheduler ids and GPU. A worker computes them once (they come from its
    environment, which does not change while it runs) and adds :func:`attempt_keys` per job."""
    env = os.environ if env is None else env
    info: dict[str, Any] = {
        PREFIX + "host_name": host_name(),
        PREFIX + "pid": os.getpid(),
        PREFIX + "worker": worker,
    }
    info.update(scheduler_info(env))
    if with_gpu:
        name = gpu_name(env.get("CUDA_VISIBLE_DEVICES"))
        if name:
            info[PREFIX + GPU_KEY] = name
    return info


def attempt_keys(*, job_dir: str, attempt: int, start_time: float | None) -> dict[str, Any]:
    """The ``jobman.sql.*`` keys that differ from one attempt to the next in the same process."""
    info: dict[str, Any] = {PREFIX + "host_workdir": job_dir, PREFIX + "attempt": attempt}
    if start_time is not None:
        info[PREFIX + "start_time"] = start_time
    return info


def attempt_info(*, job_dir: str, worker: str, attempt: int, start_time: float | None,
                 env: Mapping[str, str] | None = None, with_gpu: bool = True) -> dict[str, Any]:
    """Every ``jobman.sql.*`` key describing the attempt starting now in this process."""
    info = process_info(worker=worker, env=env, with_gpu=with_gpu)
    info.update(attempt_keys(job_dir=job_dir, attempt=attempt, start_time=start_time))
    return info


_PER_ATTEMPT_FULL_KEYS: frozenset[str] = frozenset(PREFIX + key for key in PER_ATTEMPT_KEYS)


def replace_attempt_info(flat: MutableMapping[str, Any], *infos: Mapping[str, Any]) -> None:
    """Drop the per-attempt keys of an earlier attempt from a flat state, then add ``infos``
    (e.g. :func:`process_info` and :func:`attempt_keys`). Only the keys present are looked at:
    a first attempt has none, and this runs for every job."""
    for key in _PER_ATTEMPT_FULL_KEYS.intersection(flat.keys()):
        del flat[key]
    for info in infos:
        flat.update(info)
