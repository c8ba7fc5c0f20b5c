"""The local runner (backends/runner.py), through which every external command of a backend goes:
what a finished command gives back, the one error type carrying the command, exit status, stdout
and stderr, the statuses for a program that cannot start (127, 126) or runs too long (124), and
the record of what ran."""
from __future__ import annotations

import os
import sys

import pytest

from backends import CommandError, Completed, LocalRunner

SCRIPT = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(int(sys.argv[1]))"


def test_a_command_returns_its_output_and_status():
    done = LocalRunner().run([sys.executable, "-c", SCRIPT, "0"])
    assert isinstance(done, Completed)
    assert (done.returncode, done.stdout, done.stderr) == (0, "to out\n", "to err\n")
    assert done.command == (sys.executable, "-c", SCRIPT, "0")
    assert done.where == "local" and done.elapsed_s > 0


def test_a_failure_raises_command_error_with_everything_needed_to_see_why():
    with pytest.raises(CommandError) as info:
        LocalRunner().run([sys.executable, "-c", SCRIPT, "3"])
    e = info.value
    assert e.command == (sys.executable, "-c", SCRIPT, "3")
    assert (e.returncode, e.stdout, e.stderr) == (3, "to out\n", "to err\n")
    assert str(e).startswith(f"command `{e.command_line}` failed with exit status 3: to err")
    assert "\n" not in str(e)


def test_without_check_a_failure_is_returned():
    done = LocalRunner().run([sys.executable, "-c", SCRIPT, "5"], check=False)
    assert (done.returncode, done.stdout, done.stderr) == (5, "to out\n", "to err\n")


def test_a_missing_program_is_127():
    with pytest.raises(CommandError) as info:
        LocalRunner().run(["no-such-program-jobman-test", "--version"])
    assert info.value.returncode == 127
    assert info.value.command == ("no-such-program-jobman-test", "--version")
    assert "no-such-program-jobman-test: command not found" in info.value.stderr
    assert "exit status 127" in str(info.value)


def test_a_file_that_is_not_executable_is_126(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    done = LocalRunner().run([str(script)], check=False)  # exec() refuses it, even to root
    assert done.returncode == 126 and str(script) in done.stderr


def test_a_shell_line_runs_through_sh_with_input_cwd_and_env(tmp_path):
    done = LocalRunner().run('read line; echo "$line|$(pwd)|$GREETING" | tr a-z A-Z', input="hello\n",
                             cwd=tmp_path, env={"GREETING": "bonjour", "PATH": os.environ["PATH"]})
    assert done.stdout == f"HELLO|{str(tmp_path).upper()}|BONJOUR\n"
    assert done.command == 'read line; echo "$line|$(pwd)|$GREETING" | tr a-z A-Z'


def test_a_shell_line_failure_carries_the_line():
    with pytest.raises(CommandError) as info:
        LocalRunner().run("echo partial; echo 'bad thing' >&2; exit 7")
    assert info.value.command == "echo partial; echo 'bad thing' >&2; exit 7"
    assert (info.value.returncode, info.value.stdout, info.value.stderr) == (7, "partial\n", "bad thing\n")


def test_a_command_past_its_timeout_is_124():
    with pytest.raises(CommandError) as info:
        LocalRunner().run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"],
                          timeout_s=1.0)
    assert info.value.returncode == 124
    assert "timed out after 1.0 s" in info.value.stderr
    assert info.value.stdout == "started\n"


def test_history_and_time_in_commands():
    with LocalRunner() as runner:
        runner.run(["true"])
        runner.run(["false"], check=False)
        with pytest.raises(CommandError):
            runner.run(["sh", "-c", "sleep 0.2; exit 1"])
    assert [(c.command, c.returncode) for c in runner.history] == [
        (("true",), 0), (("false",), 1), (("sh", "-c", "sleep 0.2; exit 1"), 1)]
    assert runner.time_in_commands_s >= 0.2
    assert runner.time_in_commands_s >= sum(c.elapsed_s for c in runner.history) * 0.99
    assert [c.started_s for c in runner.history] == sorted(c.started_s for c in runner.history)
    assert runner.history[1].record() == {"command": "false", "where": "local", "returncode": 1,
                                          "elapsed_s": round(runner.history[1].elapsed_s, 4)}
