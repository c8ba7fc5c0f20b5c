"""jobdispatch --ssh against a real OpenSSH server on 127.0.0.1 (tests/infra/sshd.sh), and two hosts
made of network namespaces with their own address, hostname and sshd (tests/infra/netns.sh), reached with
paramiko and strict host-key checking: tasks, exit statuses, --env, the per-host limit, detached
tasks surviving the connection and cancelled over ssh, host-key refusal and opt-in, an unreachable
host, and workers emptying a real PostgreSQL table. If sshd cannot start, these tests fail."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from backends import Submission
from backends.ssh import SshBackend
from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.dispatch import VENV_BIN, alive, dispatch_env, jobdispatch, manifest, only_launch, task_pid
from tests.helpers.worker import insert, wait_for

pytestmark = pytest.mark.ssh
SSHD_SCRIPT = Path(__file__).resolve().parent.parent / "infra" / "sshd.sh"
NETNS_SCRIPT = Path(__file__).resolve().parent.parent / "infra" / "netns.sh"


@pytest.fixture(scope="session")
def sshd() -> dict[str, str]:
    proc = subprocess.run(["bash", str(SSHD_SCRIPT), "up"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/sshd.sh up failed ({proc.returncode}): {proc.stderr[-2000:]}")
    facts = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    facts["target"] = f"root@{facts['addr']}:{facts['port']}"
    return facts


@pytest.fixture(scope="session")
def netns_hosts(sshd) -> dict[str, str]:
    """Two hosts jm-h1, jm-h2: network namespaces with their own address, hostname and sshd
    (tests/infra/netns.sh; the same file system, as a cluster's shared one)."""
    proc = subprocess.run(["bash", str(NETNS_SCRIPT), "up", "2"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/netns.sh up failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


@pytest.fixture
def env(cli_env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return dispatch_env(cli_env, HOME=str(home))  # no ~/.ssh of the user running the tests


def ssh_args(sshd, known_hosts=None):
    return [f"--machine={sshd['target']}", f"--ssh_key={sshd['key']}",
            f"--ssh_known_hosts={known_hosts or sshd['known_hosts']}"]


def test_tasks_statuses_env_and_per_host_limit(sshd, env, tmp_path):
    work = tmp_path / "w"
    (work / "running").mkdir(parents=True)
    (work / "seen").mkdir()
    script = work / "task.sh"
    script.write_text(
        'touch "running/$1$2" "seen/$1$2"\nls running | wc -l >> counts\n'
        'n=0; while [ "$(ls seen | wc -l)" -lt 2 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done\n'
        'sleep 0.3\nrm "running/$1$2"\necho "$FOO $JOBDISPATCH_TASK_INDEX $(pwd)"\nexit "$2"\n')
    proc = jobdispatch(env, work, "--ssh=2", *ssh_args(sshd), "--wait", "--env=FOO=from flag",
                       "sh", str(script), "{{a,b,c,d,e}}", "{{0,5}}")
    assert proc.returncode == 1, proc.stderr
    launch = only_launch(work)
    m = manifest(launch)
    assert m["backend"] == "ssh" and m["submitted"] and len(m["tasks"]) == 10
    assert [t["exit_code"] for t in m["tasks"]] == [0, 5] * 5
    assert [t["status"] for t in m["tasks"]] == ["done", "failed"] * 5
    [host] = m["extra"]["hosts"]
    assert host["host"] == sshd["target"] and host["runner_pid"] > 0 and m["job_ids"] == [
        f"{sshd['target']}:{host['runner_pid']}"]
    for t in m["tasks"]:
        assert t["host"] == sshd["target"] and t["pid"] > 0
        assert (launch / f"{t['name']}.out").read_text() == f"from flag {t['index']} {work}\n"
    counts = [int(x) for x in (work / "counts").read_text().split()]
    assert len(counts) == 10 and max(counts) == 2
    assert "10 tasks: 5 done, 5 failed" in proc.stderr
    assert any(c["command"].startswith("cd ") and "setsid nohup" in c["command"] for c in m["commands"])


def test_tasks_survive_the_connection_and_cancel_goes_over_ssh(sshd, env, tmp_path):
    proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd), "--exp_dir=detached", "sleep", "300")
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "LOGS" / "detached"
    pid = task_pid(launch, 0)
    assert alive(pid)  # jobdispatch and its ssh connection are gone; the task runs on
    # jobdispatch --status reconnects with the launch's own ssh options (from its manifest's argv)
    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[2].split()[:2] == ["0", "running"]
    sub = Submission.from_dict(manifest(launch))
    backend = SshBackend(launch, options={"key_file": sshd["key"], "known_hosts": sshd["known_hosts"]})
    try:
        backend.refresh(sub)
        assert sub.tasks[0].status == "running" and sub.tasks[0].pid == pid
        backend.cancel(sub)
    finally:
        backend.close()
    assert sub.tasks[0].status == "canceled"
    wait_for(lambda: not alive(pid), 30, "the canceled task to end")


def test_unknown_host_key_is_refused_and_the_manifest_says_nothing_ran(sshd, env, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd, empty), "touch", str(tmp_path / "ran"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"ssh host {sshd['target']} is not in known_hosts" in proc.stderr
    assert "--ssh_accept_new_host_keys" in proc.stderr
    m = manifest(only_launch(tmp_path))
    assert not m["submitted"] and "not in known_hosts" in m["error"] and m["job_ids"] == []
    assert [t["status"] for t in m["tasks"]] == ["not_submitted"] and not (tmp_path / "ran").exists()
    assert empty.read_text() == ""


def test_accepting_new_host_keys_is_an_opt_in_that_remembers_the_key(sshd, env, tmp_path):
    kh = tmp_path / "kh"
    proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd, kh), "--ssh_accept_new_host_keys", "--wait", "true")
    assert proc.returncode == 0, proc.stderr
    host_key = Path(sshd["known_hosts"]).read_text().split()[1:3]
    assert kh.read_text().split() == [f"[{sshd['addr']}]:{sshd['port']}", *host_key]


def test_unreachable_host_is_one_line(sshd, env, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = jobdispatch(env, tmp_path, "--ssh", f"--machine=root@127.0.0.1:{port}", f"--ssh_key={sshd['key']}",
                       "true")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"cannot reach ssh host root@127.0.0.1:{port}" in proc.stderr
    assert not manifest(only_launch(tmp_path))["submitted"]


def test_workers_over_ssh_empty_the_job_table(sshd, env, tmp_path, pg_url):
    log = tmp_path / "ran.log"
    ids = insert(pg_url, "record", [{"x": i, "log_path": str(log)} for i in range(9)])
    path = f"PATH={VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
    proc = jobdispatch(env, tmp_path, "--ssh=3", *ssh_args(sshd), "--wait", "--repeat_jobs=3", f"--env={path}",
                       f"--env=PYTHONPATH={env['PYTHONPATH']}", "jobman", "sql", "-n", "0", pg_url,
                       str(tmp_path / "exproot"))
    assert proc.returncode == 0, proc.stderr
    m = manifest(only_launch(tmp_path))
    task_ids = {t["id"] for t in m["tasks"]}
    assert len(task_ids) == 3 and all(t["status"] == "done" for t in m["tasks"])
    ran = [int(line.split()[0]) for line in log.read_text().splitlines()]
    assert sorted(ran) == sorted(ids)
    launch_name = only_launch(tmp_path).name
    with open_db(pg_url) as store:
        for i in ids:
            job = store.get(i)
            assert job.status == st.DONE
            assert job.state["jobman.sql.jobdispatch_task_id"] in {f"{launch_name}.{k}" for k in range(3)}
            assert job.state["jobman.sql.host_name"] == socket.gethostname()
    assert os.path.isdir(tmp_path / "exproot")


def netns_args(hosts):
    machines = ",".join(f"root@{h}" for h in hosts["hosts"].split(","))
    return [f"--machine={machines}", f"--ssh_key={hosts['key']}", f"--ssh_known_hosts={hosts['known_hosts']}"]


def test_tasks_spread_over_two_hosts(netns_hosts, env, tmp_path):
    """Task k runs on host k mod 2, each in its own namespace (its hostname says which), at most
    one at a time per host; the manifest names each host's runner."""
    proc = jobdispatch(env, tmp_path, "--ssh", *netns_args(netns_hosts), "--wait", "--repeat_jobs=4",
                       "--tasks_filename=nb0", "sh", "-c", 'echo "$(hostname) $JOBDISPATCH_TASK_INDEX"')
    assert proc.returncode == 0, proc.stderr
    launch = only_launch(tmp_path)
    outputs = [(launch / f"{i}.out").read_text().split() for i in range(4)]
    assert outputs == [["jm-h1", "0"], ["jm-h2", "1"], ["jm-h1", "2"], ["jm-h2", "3"]]
    m = manifest(launch)
    assert [t["host"] for t in m["tasks"]] == [f"root@{h}" for h in netns_hosts["hosts"].split(",")] * 2
    assert [h["host"] for h in m["extra"]["hosts"]] == [f"root@{h}" for h in netns_hosts["hosts"].split(",")]


def test_status_and_cancel_reach_every_host(netns_hosts, env, tmp_path):
    proc = jobdispatch(env, tmp_path, "--ssh", *netns_args(netns_hosts), "--exp_dir=two", "--repeat_jobs=4",
                       "--tasks_filename=nb0", "sleep", "300")
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "LOGS" / "two"
    pids = [task_pid(launch, i) for i in range(2)]
    status = jobdispatch(env, tmp_path, "--status", str(launch))
    assert status.returncode == 0, status.stderr
    assert [line.split()[:2] for line in status.stdout.splitlines()[2:6]] == [
        ["0", "running"], ["1", "running"], ["2", "pending"], ["3", "pending"]]
    cancel = jobdispatch(env, tmp_path, "--cancel", str(launch))
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines()[-1] == "jobdispatch: 4 tasks: 4 canceled"
    for pid in pids:
        wait_for(lambda pid=pid: not alive(pid), 30, "the canceled tasks to end on both hosts")
    assert not (launch / "2.pid").exists() and not (launch / "3.pid").exists()  # the queued never started
    assert [t["status"] for t in manifest(launch)["tasks"]] == ["canceled"] * 4


def test_revoked_keys_are_refused_and_cert_authority_lines_skipped(sshd, env, tmp_path):
    line = Path(sshd["known_hosts"]).read_text().strip().splitlines()[0]
    names, ktype, b64 = line.split()[:3]
    kh = tmp_path / "kh"
    kh.write_text(f"@cert-authority *.example.org {ktype} {b64}\n{line}\n")  # paramiko alone cannot read it
    proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd, kh), "--wait", "true")
    assert proc.returncode == 0, proc.stderr

    for accept in ([], ["--ssh_accept_new_host_keys"]):
        kh.write_text(f"{line}\n@revoked * {ktype} {b64}\n")
        proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd, kh), *accept, "touch", str(tmp_path / "ran"))
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "marked @revoked" in proc.stderr and not (tmp_path / "ran").exists()
        assert kh.read_text() == f"{line}\n@revoked * {ktype} {b64}\n"

    kh.write_text(f"@cert-authority {names} {ktype} {b64}\n")
    proc = jobdispatch(env, tmp_path, "--ssh", *ssh_args(sshd, kh), "true")
    assert proc.returncode == 1 and "@cert-authority lines are not used" in proc.stderr, proc.stderr
