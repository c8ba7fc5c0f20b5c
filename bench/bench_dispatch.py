"""How fast jobdispatch gets workers running, and what the dispatcher itself costs.

  .venv/bin/python bench/bench_dispatch.py [--workers 64] [--repeats 3] [--ssh]

Figures (medians over the repeats):
- local, time to all running: from starting ``jobdispatch --local=N --repeat_jobs=N`` to the last
  of N workers having written its start marker (each worker then waits for a release file, so
  all N are running at once). Baseline in the same run: N ``sh`` processes started directly by
  Python's subprocess (the floor any launcher pays).
- dispatcher overhead: the wall time of ``jobdispatch`` minus the time inside the commands it
  runs to submit. Locally, ``--test`` (parse, expand, render, write, manifest: everything but the
  start) shows it directly; with ``--ssh`` (needs tests/infra/sshd.sh), the manifest's per-command
  times (connect, mkdir, sftp, start) are subtracted from the wall time.
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

WORKER = ('touch "$B/started/$JOBDISPATCH_TASK_INDEX"; '
          'while [ ! -e "$B/release" ]; do sleep 0.05; done')


def env_for(bench_dir: Path) -> dict[str, str]:
    return child_env(drop_prefixes=("JOBDISPATCH_",), B=str(bench_dir))


def wait_markers(d: Path, n: int, timeout_s: float = 300) -> float:
    """Monotonic time when the n-th marker was seen (polling every 5 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(os.listdir(d)) >= n:
            return time.monotonic()
        time.sleep(0.005)
    raise RuntimeError(f"only {len(os.listdir(d))} of {n} workers started")


def wait_ended(launch: Path, n: int, timeout_s: float = 120) -> None:
    """Wait until n detached tasks wrote their exit status (so the temp dir can be removed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(list(launch.glob("*.rc"))) < n:
        time.sleep(0.05)


def fresh(base: Path, name: str) -> Path:
    d = base / name
    shutil.rmtree(d, ignore_errors=True)
    (d / "started").mkdir(parents=True)
    return d


def local_to_running(base: Path, n: int) -> tuple[float, float]:
    d = fresh(base, "local")
    t0 = time.monotonic()
    proc = subprocess.Popen([JOBDISPATCH, f"--local={n}", f"--repeat_jobs={n}", f"--logdir={d}/LOGS",
                             "sh", "-c", WORKER], env=env_for(d), cwd=d, stdout=subprocess.DEVNULL)
    t_all = wait_markers(d / "started", n)
    (d / "release").touch()
    proc.wait()
    return t_all - t0, time.monotonic() - t0


def baseline_to_running(base: Path, n: int) -> float:
    d = fresh(base, "baseline")
    env = env_for(d)
    t0 = time.monotonic()
    procs = [subprocess.Popen(["sh", "-c", WORKER], env={**env, "JOBDISPATCH_TASK_INDEX": str(i)})
             for i in range(n)]
    t_all = wait_markers(d / "started", n)
    (d / "release").touch()
    for p in procs:
        p.wait()
    return t_all - t0


def test_mode_wall(base: Path, n: int) -> float:
    d = fresh(base, "testmode")
    t0 = time.monotonic()
    subprocess.run([JOBDISPATCH, "--local", f"--repeat_jobs={n}", "--test", f"--logdir={d}/LOGS", "sh", "-c", WORKER],
                   env=env_for(d), cwd=d, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def python_startup_wall() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t0


def ssh_run(base: Path, n: int, facts: dict[str, str]) -> tuple[float, float, float]:
    """(time to all running, wall of jobdispatch, time inside ssh commands) for n tasks on one host."""
    d = fresh(base, "ssh")
    t0 = time.monotonic()
    proc = subprocess.run([JOBDISPATCH, f"--ssh={n}", f"--repeat_jobs={n}", f"--logdir={d}/LOGS", "--exp_dir=x",
                           f"--machine=root@{facts['addr']}:{facts['port']}", f"--ssh_key={facts['key']}",
                           f"--ssh_known_hosts={facts['known_hosts']}", f"--env=B={d}", "sh", "-c", WORKER],
                          env=env_for(d), cwd=d, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    t_all = wait_markers(d / "started", n)
    (d / "release").touch()
    m = json.loads((d / "LOGS" / "x" / "manifest.json").read_text())
    wait_ended(d / "LOGS" / "x", n)
    inside = sum(c["elapsed_s"] for c in m["commands"])
    # a connection's handshake is not in the command list: count it as ssh time too
    return t_all - t0, wall, inside


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ssh", action="store_true", help="also over ssh to 127.0.0.1 (starts tests/infra/sshd.sh)")
    args = ap.parse_args()
    n, r = args.workers, args.repeats
    med = statistics.median
    with tempfile.TemporaryDirectory(prefix="bench_dispatch_") as tmp:
        base = Path(tmp)
        rows = [local_to_running(base, n) for _ in range(r)]
        base_line = [baseline_to_running(base, n) for _ in range(r)]
        test_walls = [test_mode_wall(base, n) for _ in range(r)]
        py = [python_startup_wall() for _ in range(r)]
        to_run = med(x[0] for x in rows)
        print(f"local, {n} workers, median of {r}:")
        print(f"  jobdispatch -> all {n} running : {to_run:.3f} s")
        print(f"  baseline (subprocess.Popen x{n}): {med(base_line):.3f} s   ratio {to_run / med(base_line):.2f}x")
        print(f"  dispatcher overhead (--test, {n} tasks, nothing started): {med(test_walls):.3f} s"
              f"  (python startup alone {med(py):.3f} s)")
        if args.ssh:
            out = subprocess.run(["bash", str(ROOT / "tests/infra/sshd.sh"), "up"], capture_output=True, text=True,
                                 check=True).stdout
            facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            srows = [ssh_run(base, n, facts) for _ in range(r)]
            print(f"ssh to 127.0.0.1, {n} workers on one host, median of {r}:")
            print(f"  jobdispatch -> all {n} running : {med(x[0] for x in srows):.3f} s")
            print(f"  jobdispatch wall {med(x[1] for x in srows):.3f} s, inside ssh commands "
                  f"{med(x[2] for x in srows):.3f} s, dispatcher overhead {med(x[1] - x[2] for x in srows):.3f} s")


if __name__ == "__main__":
    main()
