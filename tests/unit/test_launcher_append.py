"""The launcher appends to a task's .out/.err: a task that runs again (a SLURM requeue, an HTCondor
job kept in the queue by on_exit_remove) keeps the log of its earlier runs. Runs the rendered
launcher with the real /bin/sh."""
from __future__ import annotations

import subprocess
from pathlib import Path

from backends.launcher import render_launcher
from backends.submission import Task


def test_a_task_run_twice_keeps_both_runs_output(tmp_path: Path) -> None:
    launch = tmp_path / "launch"
    launch.mkdir()
    script = launch / "launcher.sh"
    task = Task(0, 'echo "run $RUN out"; echo "run $RUN err" >&2')
    script.write_text(render_launcher("local", launch, tmp_path, "", [task], {}))
    for run in ("1", "2"):
        done = subprocess.run(["sh", str(script), "0"], env={"PATH": "/usr/bin:/bin", "RUN": run}, timeout=30)
        assert done.returncode == 0
    assert (launch / "0.out").read_text() == "run 1 out\nrun 2 out\n"
    assert (launch / "0.err").read_text() == "run 1 err\nrun 2 err\n"
    assert (launch / "0.rc").read_text() == "0\n"
