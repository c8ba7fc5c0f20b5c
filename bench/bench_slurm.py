"""How fast `jobdispatch --slurm` gets a 100-task array running, and what the dispatcher costs.

  .venv/bin/python bench/bench_slurm.py [--tasks 100] [--repeats 3]

Needs root: it (re)starts the project's test cluster with enough CPUs for every task at once
(``SLURM_CPUS=128 tests/infra/slurm.sh up``; the 2-core machine runs them through
config_overrides) and puts the default cluster back at the end. That restart cancels whatever
else runs on the cluster: do not run it beside the test suite.

Figures (medians over the repeats):
- time to all running: from starting ``jobdispatch --slurm --repeat_jobs=N`` to the last of N
  tasks having written its start marker (each task then waits for a release file, so all N run
  at once). Baseline in the same run: ``sbatch --parsable --array=0-(N-1)`` of a bare script doing
  the same, submitted directly from Python (what SLURM itself costs).
- dispatcher overhead: jobdispatch's wall time minus the ``sbatch`` call recorded in its manifest
  (interpreter start, option parsing, rendering, the ``scontrol show config`` query, files, manifest).
The machine is shared and has 2 cores: read the ratios, not the absolute figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import JOBDISPATCH, ROOT, child_env

SLURM_SH = ROOT / "tests" / "infra" / "slurm.sh"
BENCH_CPUS = 128
TASK_MEM = "16M"
WORKER = ('touch "$B/started/$SLURM_ARRAY_TASK_ID"; '
          'while [ ! -e "$B/release" ]; do sleep 0.05; done')
POLL_S = 0.02
TIMEOUT_S = 300.0


def wait_started(d: Path, n: int) -> float:
    """Seconds (perf_counter) at which the n-th start marker appeared."""
    deadline = time.perf_counter() + TIMEOUT_S
    started = d / "started"
    while time.perf_counter() < deadline:
        if len(os.listdir(started)) >= n:
            return time.perf_counter()
        time.sleep(POLL_S)
    raise SystemExit(f"only {len(os.listdir(started))} of {n} tasks started within {TIMEOUT_S} s")


def drain(d: Path, job_ids: list[str]) -> None:
    """Release the tasks and wait until the scheduler has none of them left."""
    (d / "release").touch()
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids)], capture_output=True, text=True).stdout
        if not out.strip():
            return
        time.sleep(0.1)
    subprocess.run(["scancel", *job_ids])


def fresh_dir(base: Path, name: str) -> Path:
    d = base / name
    shutil.rmtree(d, ignore_errors=True)
    (d / "started").mkdir(parents=True)
    return d


def run_baseline(base: Path, n: int) -> float:
    d = fresh_dir(base, "baseline")
    script = d / "array.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH --mem={TASK_MEM}\n#SBATCH --output=/dev/null\n{WORKER}\n")
    env = {**os.environ, "B": str(d)}
    t0 = time.perf_counter()
    out = subprocess.run(["sbatch", "--parsable", f"--array=0-{n - 1}", str(script)], env=env, cwd=d,
                         capture_output=True, text=True, check=True).stdout
    t1 = wait_started(d, n)
    drain(d, [out.strip().split(";")[0]])
    return t1 - t0


def run_dispatch(base: Path, n: int) -> tuple[float, float, float]:
    """(time to all running, wall time of jobdispatch, time inside sbatch)."""
    d = fresh_dir(base, "dispatch")
    env = child_env(drop_prefixes=("JOBDISPATCH_",), B=str(d), JOBDISPATCH_LOGDIR=str(d / "LOGS"))
    t0 = time.perf_counter()
    subprocess.run([JOBDISPATCH, "--slurm", f"--repeat_jobs={n}", f"--mem={TASK_MEM}", "--exp_dir=x",
                    "sh", "-c", WORKER], env=env, cwd=d, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    t1 = wait_started(d, n)
    m = json.loads((d / "LOGS" / "x" / "manifest.json").read_text())
    sbatch_s = sum(c["elapsed_s"] for c in m["commands"] if c["command"].startswith("sbatch "))
    drain(d, m["job_ids"])
    return t1 - t0, wall, sbatch_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.tasks
    subprocess.run(["bash", str(SLURM_SH), "up"], env={**os.environ, "SLURM_CPUS": str(max(BENCH_CPUS, n))},
                   check=True, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    base_t: list[float] = []
    rows: list[tuple[float, float, float]] = []
    try:
        for _ in range(args.repeats):
            base_t.append(run_baseline(base, n))
            rows.append(run_dispatch(base, n))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["bash", str(SLURM_SH), "up"], check=False, capture_output=True)  # default cluster back
    med = statistics.median
    t_all, wall, sb = med(r[0] for r in rows), med(r[1] for r in rows), med(r[2] for r in rows)
    print(f"SLURM array of {n} tasks, {args.repeats} repeats (medians; shared 2-core machine, noisy):")
    print(f"  baseline  sbatch --array directly -> all running: {med(base_t):.3f} s")
    print(f"  jobdispatch --slurm              -> all running: {t_all:.3f} s  (x{t_all / med(base_t):.2f} of baseline)")
    print(f"  jobdispatch wall time {wall:.3f} s, of which sbatch {sb:.3f} s: dispatcher overhead {med(r[1] - r[2] for r in rows):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
