"""Help texts as a new user reads them (issue 19, item 13): no reStructuredText markup, the
sql/worker alias said, --version on both tools, -q on the worker, exit codes stated."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jobstore.cli import COMMANDS

PY = sys.executable


def run(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, *argv], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_is_plain_text(command):
    proc = run("-m", "jobstore.cli", command, "--help")
    assert proc.returncode == 0, proc.stderr
    for markup in ("``", ":mod:`", ":func:`", ":class:`", ":data:`", ":meth:`"):
        assert markup not in proc.stdout, f"{command} --help shows {markup!r}"


def test_jobdispatch_help_is_plain_text():
    proc = run("-m", "dispatch.cli", "--help")
    assert proc.returncode == 0 and "``" not in proc.stdout and ":mod:`" not in proc.stdout


def test_the_overview_names_aliases_and_exit_codes():
    proc = run("-m", "jobstore.cli", "--help")
    assert proc.returncode == 0
    assert "  sql, worker " in proc.stdout and "\n  worker " not in proc.stdout
    assert "Exit status: 0 done, 1 " in proc.stdout


def test_version_on_both_tools():
    for module, tool in (("jobstore.cli", "jobman"), ("dispatch.cli", "jobdispatch")):
        proc = run("-m", module, "--version")
        assert proc.returncode == 0 and proc.stdout.startswith(f"{tool} (jobman-ng "), proc.stdout


def test_the_worker_help_states_its_exit_codes_truly():
    text = run("-m", "jobstore.cli", "sql", "--help").stdout
    assert "a database that cannot be reached at start-up" in text and "-q, --quiet" in text


def test_a_quiet_worker_prints_no_per_job_lines(tmp_path):
    url = f"sqlite:///{tmp_path}/q.db?table=t"
    assert run("-m", "jobstore.cli", "sqlschedules", "-q", url, "jobstore.params.state.flatten",
               "a={{1,2}}").returncode == 0
    loud = run("-m", "jobstore.cli", "sql", "-n", "1", url, str(tmp_path))
    quiet = run("-m", "jobstore.cli", "sql", "-q", "-n", "1", url, str(tmp_path))
    assert "Selected job id=" in loud.stdout
    assert quiet.stdout == "", quiet.stdout
