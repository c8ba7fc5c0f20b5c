"""The code provenance a worker records at its start and ``sqlschedule`` at schedule time
(``jobstore.worker.codeinfo``), beside what git would cost with the branch's distance to its
upstream counted, in the same run:

* ``describe``: the whole description of an experiment module (git commit, changed files, Python
  and key package versions), as one worker process computes it once;
* ``git status``: the one git call it makes in a clean tree, ``--no-ahead-behind`` (ours) against
  plain ``--branch`` (the baseline: git walks every commit between the branch and its upstream).

The repository is made here: one file, a branch ``--behind`` commits behind the upstream it tracks
(built with ``git fast-import``: a long-lived clone of a busy project looks like this).

    .venv/bin/python bench/bench_provenance.py [--behind 20000] [--reps 20]

Figures are medians of ``--reps`` calls, wall time and the CPU of the git processes; the machine is
shared, so compare the two lines of one run."""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from jobstore.worker import codeinfo

STATUS = ["status", "--porcelain=v2", "--branch", "--untracked-files=no"]
MODULE = "bench_provenance_exp"
SOURCE = "def run(state, channel):\n    pass\n"


def make_repo(root: str, behind: int) -> str:
    """A repository whose branch ``main`` is ``behind`` commits behind its upstream ``up``; the
    path of its experiment module."""
    git = ["git", "-C", root, "-c", "user.name=b", "-c", "user.email=b@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    stream = [f"blob\nmark :1\ndata {len(SOURCE)}\n{SOURCE}\n"]
    for i in range(behind + 1):
        stream.append(f"commit refs/heads/up\nmark :{i + 2}\ncommitter b <b@example.invalid> {1700000000 + i} +0000\n"
                      f"data 9\ncommit {i % 10}\n" + (f"from :{i + 1}\n" if i else "")
                      + f"M 100644 :1 {MODULE}.py\n" + f"M 100644 inline n\ndata {len(str(i))}\n{i}\n")
    subprocess.run([*git, "fast-import", "--quiet"], input="".join(stream).encode(), check=True)
    first = subprocess.run([*git, "rev-list", "--max-parents=0", "up"], check=True, capture_output=True,
                           text=True).stdout.split()[0]
    subprocess.run([*git, "checkout", "-q", "-b", "main", first], check=True)
    subprocess.run([*git, "branch", "-q", "--set-upstream-to=up"], check=True)
    return os.path.join(root, f"{MODULE}.py")


def timed(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall milliseconds of ``fn()``, and the mean CPU milliseconds of the processes it ran."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    walls = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return statistics.median(walls) * 1e3, cpu / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--behind", type=int, default=20000, help="commits between the branch and its upstream")
    ap.add_argument("--reps", type=int, default=20, help="calls per figure (default 20)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provenance.") as root:
        path = make_repo(root, args.behind)
        counted = subprocess.run(["git", "-C", root, *STATUS], check=True, capture_output=True, text=True).stdout
        ab = next((line for line in counted.splitlines() if line.startswith("# branch.ab")), "?")
        print(f"repository: branch {args.behind} commits behind its upstream ({ab}); git "
              f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.split()[-1]}, "
              f"Python {sys.version.split()[0]}; medians of {args.reps} calls\n")
        sys.path.insert(0, root)
        __import__(MODULE)
        keys = codeinfo._git_keys(path)
        assert keys.get("git_commit") and keys.get("git_dirty") is False, keys
        rows = [
            ("git status, distance counted (baseline)",
             timed(lambda: subprocess.run(["git", "-C", root, *STATUS], check=True, capture_output=True), args.reps)),
            ("git status --no-ahead-behind (ours)", timed(lambda: codeinfo._commit_and_changes(root), args.reps)),
            ("describe(): git + Python + packages", timed(lambda: codeinfo.describe(f"{MODULE}.run"), args.reps)),
        ]
        print(f"{'':<42} {'wall ms':>8} {'git CPU ms':>11}")
        for name, (wall, cpu) in rows:
            print(f"{name:<42} {wall:8.1f} {cpu:11.1f}")
        print(f"\nbaseline / ours (wall): {rows[0][1][0] / rows[1][1][0]:.1f}x")


if __name__ == "__main__":
    main()
