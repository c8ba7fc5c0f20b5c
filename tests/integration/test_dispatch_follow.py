"""``jobdispatch --status DIR`` / ``--cancel DIR`` on local launches, from another process than the
dispatcher: real subprocesses, the manifest, pid files and exit-status files. (The SLURM, HTCondor
and ssh ones are in their backends' test files, beside their servers' fixtures.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess

from tests.helpers.dispatch import VENV_BIN, alive, dispatch_env, jobdispatch, manifest, task_pid
from tests.helpers.worker import wait_for


def start(env, cwd, *args):
    """jobdispatch in the background, as a user's second terminal would find it."""
    return subprocess.Popen([os.path.join(VENV_BIN, "jobdispatch"), *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_status_then_cancel_of_a_running_local_launch(cli_env, tmp_path):
    env = dispatch_env(cli_env)
    dispatcher = start(env, tmp_path, "--local=1", "--repeat_jobs=3", "--exp_dir=run", "sleep", "300")
    launch = tmp_path / "LOGS" / "run"
    pid = task_pid(launch, 0)

    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("jobdispatch: local launch of ") and str(launch) in lines[0]
    assert lines[1].split() == ["task", "status", "exit", "id", "host", "stderr"]
    assert [line.split()[:2] for line in lines[2:5]] == [["0", "running"], ["1", "pending"], ["2", "pending"]]
    assert lines[-1] == "jobdispatch: 3 tasks: 2 pending, 1 running"

    cancel = jobdispatch(env, tmp_path, "--cancel", str(launch))
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines()[-1].startswith("jobdispatch: 3 tasks: 3 canceled")
    # the dispatcher got SIGTERM, canceled its task and stopped as on ^C; nothing keeps running
    assert dispatcher.wait(timeout=30) == 130
    said = dispatcher.stderr.read()
    assert "interrupted; canceling the unfinished tasks" in said
    assert "canceled: 1 task stopped by SIGTERM" in said and "2 tasks never started" in said
    assert not alive(pid) and not (launch / "1.pid").exists()
    assert [t["status"] for t in manifest(launch)["tasks"]] == ["canceled"] * 3

    after = jobdispatch(env, tmp_path, "--status", str(launch / "manifest.json"))
    assert after.returncode == 1  # canceled tasks are not a success
    assert "3 canceled" in after.stdout


def test_status_wait_follows_to_the_end_and_reports_exit_statuses(cli_env, tmp_path):
    env = dispatch_env(cli_env)
    (tmp_path / "go").mkdir()
    dispatcher = start(env, tmp_path, "--local=2", "--exp_dir=codes", "--tasks_filename=nb0", "sh", "-c",
                       'while [ ! -e "go/$1" ]; do sleep 0.05; done; exit "$1"', "sh", "{{0,3}}")
    launch = tmp_path / "LOGS" / "codes"
    task_pid(launch, 1)  # both tasks started
    waiter = start(env, tmp_path, "--status", str(launch), "--wait")
    (tmp_path / "go" / "0").touch()
    (tmp_path / "go" / "3").touch()
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 1, err
    rows = [line.split()[:3] for line in out.splitlines()[2:4]]
    assert rows == [["0", "done", "0"], ["1", "failed", "3"]]
    assert out.splitlines()[-1].startswith("jobdispatch: 2 tasks: 1 done, 1 failed -- task 1 failed (exit 3)")
    assert dispatcher.wait(timeout=30) == 1


def test_a_killed_dispatcher_leaves_lost_tasks(cli_env, tmp_path):
    """kill -9 of jobdispatch: its running task goes on (it leads its own session) until killed; the
    one not started will never be: both are lost, not running or pending forever."""
    env = dispatch_env(cli_env)
    dispatcher = start(env, tmp_path, "--local=1", "--repeat_jobs=2", "--exp_dir=orphan", "sleep", "300")
    launch = tmp_path / "LOGS" / "orphan"
    pid = task_pid(launch, 0)
    wait_for(lambda: json.loads((launch / "manifest.json").read_text())["tasks"][0]["pid"], 30, "the manifest")
    dispatcher.kill()
    dispatcher.wait()
    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert [line.split()[:2] for line in status.stdout.splitlines()[2:4]] == [["0", "running"], ["1", "lost"]]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 30, "the task to end")
    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert status.returncode == 1
    assert [line.split()[:2] for line in status.stdout.splitlines()[2:4]] == [["0", "lost"], ["1", "lost"]]


def test_bad_follow_requests_are_one_line_errors(cli_env, tmp_path):
    env = dispatch_env(cli_env)
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    cases = [(["--status", str(tmp_path / "empty")], "no launch at"),
             (["--status", str(tmp_path / "broken")], "unreadable manifest"),
             (["--cancel", str(tmp_path / "empty"), "echo", "hi"], "--cancel takes a launch directory, not a command"),
             (["--status", "a", "--cancel", "b"], "--status and --cancel: give one of them")]
    for args, said in cases:
        proc = jobdispatch(env, tmp_path, *args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and said in proc.stderr, proc.stderr
    assert (tmp_path / "broken" / "manifest.json").read_text() == "{not json"

    made = jobdispatch(env, tmp_path, "--local", "--test", "--exp_dir=dry", "true")
    assert made.returncode == 0, made.stderr
    dry = jobdispatch(env, tmp_path, "--status", str(tmp_path / "LOGS" / "dry"))
    assert dry.returncode == 0 and "nothing to follow, a --test launch" in dry.stdout


def test_cancel_trusts_no_pid_that_is_not_this_launch(cli_env, tmp_path):
    """A pid file naming another process (a reused pid, or an altered file) is not signalled, and a
    manifest whose dispatcher pid is not a number is refused in one line."""
    env = dispatch_env(cli_env)
    dispatcher = start(env, tmp_path, "--local=1", "--exp_dir=run", "sleep", "300")
    launch = tmp_path / "LOGS" / "run"
    pid = task_pid(launch, 0)
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        (launch / "0.pid").write_text(f"{bystander.pid}\n")
        dispatcher.send_signal(signal.SIGKILL)  # the dispatcher is gone: --cancel acts alone
        dispatcher.wait()
        cancel = jobdispatch(env, tmp_path, "--cancel", str(launch))
        assert cancel.returncode in (0, 1), cancel.stderr
        assert bystander.poll() is None, "--cancel killed a process that is not this launch's"
    finally:
        bystander.kill()
        bystander.wait()
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)

    # A launch whose task has not started: --cancel asks the dispatcher, whose pid must be a number.
    dispatcher = start(env, tmp_path, "--local=1", "--repeat_jobs=2", "--exp_dir=run2", "sleep", "300")
    launch = tmp_path / "LOGS" / "run2"
    pid = task_pid(launch, 0)
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.wait()
    os.killpg(pid, signal.SIGKILL)
    data = manifest(launch)
    data["extra"]["dispatcher"]["pid"] = "1; touch PWNED"
    (launch / "manifest.json").write_text(json.dumps(data))
    status = jobdispatch(env, tmp_path, "--cancel", str(launch))
    assert status.returncode == 2 and status.stderr.count("\n") == 1, status.stderr
    assert "is not a process id" in status.stderr and not (tmp_path / "PWNED").exists()
