"""HTCondor's kill_sig (condor_rm, a vacate) reaches the launcher alone; the launcher passes it on to
the task's whole process group, so that a worker under ``sh -c`` (dash does not exec the last
command of ``sh -c``) gets it, checkpoints and ends with its own exit status. Runs the launcher the
condor backend renders with the real /bin/sh, signalled as the condor_starter signals it."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from backends.condor import CondorBackend
from backends.launcher import LAUNCHER_NAME
from backends.submission import Resources, Task
from tests.helpers.worker import wait_for

# A task that hands its work back on SIGTERM (as `jobman sql` does) with an exit status of its own.
TASK = ("import signal, sys, time, pathlib\n"
        "def stop(*_):\n"
        "    pathlib.Path('handled').write_text('SIGTERM')\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path('ready').write_text('')\n"
        "time.sleep(60)\n")


def test_a_term_to_the_condor_launcher_reaches_the_worker_under_sh_c(tmp_path: Path) -> None:
    launch, work = tmp_path / "launch", tmp_path / "work"
    launch.mkdir()
    work.mkdir()
    backend = CondorBackend(launch, cwd=work)
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(TASK)}"  # under sh -c, not exec'd
    (launch / LAUNCHER_NAME).write_text(backend.render_launcher([Task(0, command)], Resources()))
    launcher = subprocess.Popen(["sh", str(launch / LAUNCHER_NAME), "0"], env={"PATH": "/usr/bin:/bin"})
    try:
        wait_for(lambda: (work / "ready").exists(), 30, "the task to start")
        os.kill(launcher.pid, signal.SIGTERM)  # the launcher only, as the condor_starter does
        assert launcher.wait(timeout=30) == 3
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert (work / "handled").read_text() == "SIGTERM"
    assert (launch / "0.rc").read_text() == "3\n"  # the task's own status, not the shell's 143
