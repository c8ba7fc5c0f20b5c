"""jobdispatch --local end to end: real subprocesses, exit statuses, --env, the nb_proc limit,
GPUs handed out one per task, --test, and workers (`jobman sql`) emptying a real PostgreSQL table."""
from __future__ import annotations

import os
import socket

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.dispatch import dispatch_env, jobdispatch, manifest, only_launch
from tests.helpers.worker import insert


def test_tasks_run_from_the_path_with_env_and_exit_statuses(cli_env, tmp_path):
    env = dispatch_env(cli_env)
    proc = jobdispatch(env, tmp_path, "--local=2", "--env=GREETING=hello world", "--env", "A=1 B=2",
                       "sh", "-c", "echo $GREETING $A$B {{x,y}}; exit {{0,3}}")
    assert proc.returncode == 1, proc.stderr
    launch = only_launch(tmp_path)
    m = manifest(launch)
    assert m["backend"] == "local" and m["submitted"] and m["error"] is None
    codes = {t["command"].split()[-1]: (t["status"], t["exit_code"]) for t in m["tasks"]}
    assert len(m["tasks"]) == 4
    assert [t["exit_code"] for t in m["tasks"]] == [0, 3, 0, 3] and codes
    assert [t["status"] for t in m["tasks"]] == ["done", "failed", "done", "failed"]
    for t in m["tasks"]:
        assert t["host"] == socket.gethostname() and t["pid"] > 0
        assert t["id"] == f"{launch.name}.{t['index']}"
    outs = sorted((launch / f"{t['name']}.out").read_text() for t in m["tasks"])
    assert outs == ["hello world 12 x\n"] * 2 + ["hello world 12 y\n"] * 2
    # the failure summary: one line on stderr naming the failed tasks and their logs
    assert "4 tasks: 2 done, 2 failed -- task 1 failed (exit 3)" in proc.stderr
    assert str(launch / m["tasks"][1]["name"]) + ".err" in proc.stderr
    assert (launch / "launcher.sh").exists()


def test_success_exits_zero_and_logs_go_under_jobdispatch_logdir(cli_env, tmp_path):
    env = dispatch_env(cli_env, JOBDISPATCH_LOGDIR=str(tmp_path / "mylogs"))
    proc = jobdispatch(env, tmp_path, "--local", "--exp_dir=exp1", "--repeat_jobs=3", "python", "-c",
                       "import os; print(os.environ['JOBDISPATCH_TASK_INDEX'], os.getcwd())")
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "mylogs" / "exp1"
    m = manifest(launch)
    assert [t["status"] for t in m["tasks"]] == ["done"] * 3 and m["counts"] == {"done": 3}
    for t in m["tasks"]:
        assert (launch / f"{t['name']}.out").read_text() == f"{t['index']} {tmp_path}\n"
    # the same --exp_dir again is refused rather than mixing two launches' logs
    again = jobdispatch(env, tmp_path, "--local", "--exp_dir=exp1", "true")
    assert again.returncode == 2 and "already holds a launch" in again.stderr


def test_nb_proc_is_honoured(cli_env, tmp_path):
    """Each task counts the tasks running when it starts (marker files, not timing). The first two
    wait for each other, so a limit of 2 is reached; a third running task would be seen."""
    work = tmp_path / "w"
    (work / "running").mkdir(parents=True)
    (work / "seen").mkdir()
    script = work / "task.sh"
    script.write_text(
        'touch "running/$1" "seen/$1"\n'
        'ls running | wc -l >> counts\n'
        'n=0; while [ "$(ls seen | wc -l)" -lt 2 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done\n'
        'sleep 0.3\n'
        'rm "running/$1"\n')
    proc = jobdispatch(dispatch_env(cli_env), work, "--local=2", "sh", str(script), "{{a,b,c,d,e,f}}")
    assert proc.returncode == 0, proc.stderr
    counts = [int(x) for x in (work / "counts").read_text().split()]
    assert len(counts) == 6
    assert max(counts) == 2


def test_each_task_gets_its_own_gpu(cli_env, tmp_path):
    """CUDA_VISIBLE_DEVICES lists the GPUs this run may use (fake ids here: the backend only hands
    them out). A task mkdir's a directory named after its GPU: mkdir fails if another running task
    holds the same GPU."""
    work = tmp_path / "w"
    work.mkdir()
    script = work / "task.sh"
    script.write_text('mkdir "gpu-$CUDA_VISIBLE_DEVICES" 2>/dev/null || echo "$CUDA_VISIBLE_DEVICES" >> clashes\n'
                      'echo "$CUDA_VISIBLE_DEVICES" >> used\nsleep 0.3\nrmdir "gpu-$CUDA_VISIBLE_DEVICES"\n')
    env = dispatch_env(cli_env, CUDA_VISIBLE_DEVICES="4,5,6")
    proc = jobdispatch(env, work, "--local=8", "--gpu", "--repeat_jobs=9", "sh", str(script))
    assert proc.returncode == 0, proc.stderr
    assert not (work / "clashes").exists()
    used = (work / "used").read_text().split()
    assert len(used) == 9 and set(used) <= {"4", "5", "6"}
    proc = jobdispatch(env, work, "--local", "--gpu=2", "--repeat_jobs=2", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
    assert proc.returncode == 0, proc.stderr
    launch = sorted(d for d in (work / "LOGS").iterdir() if d.name.startswith("sh-"))[-1]  # the second sh launch
    assert sorted((launch / f"{i}.out").read_text() for i in range(2)) == ["4,5\n", "4,5\n"]
    proc = jobdispatch(env, work, "--local", "--gpu=4", "true")
    assert proc.returncode == 2 and "--gpu=4 asks for 4 GPU(s) per task but 3 are visible" in proc.stderr


def test_test_mode_writes_everything_and_runs_nothing(cli_env, tmp_path):
    proc = jobdispatch(dispatch_env(cli_env), tmp_path, "--local", "--test", "touch", "ran-{{1,2}}")
    assert proc.returncode == 0, proc.stderr
    launch = only_launch(tmp_path)
    assert "nothing submitted" in proc.stdout and str(launch / "launcher.sh") in proc.stdout
    m = manifest(launch)
    assert m["test"] and not m["submitted"] and [t["status"] for t in m["tasks"]] == ["not_submitted"] * 2
    assert not list(tmp_path.glob("ran-*")) and not list(launch.glob("*.out"))
    # what was written runs as is
    os.system(f"cd {tmp_path} && sh {launch}/launcher.sh 1")
    assert (tmp_path / "ran-2").exists() and not (tmp_path / "ran-1").exists()


def test_workers_empty_the_job_table(cli_env, tmp_path, pg_url):
    """The issue's end to end: jobs in a real PostgreSQL, `jobdispatch --local --repeat_jobs=3
    jobman sql -n 0 DB EXPROOT`, every job DONE exactly once, provenance naming the task."""
    log = tmp_path / "ran.log"
    ids = insert(pg_url, "record", [{"x": i, "log_path": str(log)} for i in range(12)])
    root = tmp_path / "exproot"
    proc = jobdispatch(dispatch_env(cli_env), tmp_path, "--local=3", "--repeat_jobs=3",
                       "jobman", "sql", "-n", "0", pg_url, str(root))
    assert proc.returncode == 0, proc.stderr
    m = manifest(only_launch(tmp_path))
    task_ids = {t["id"] for t in m["tasks"]}
    assert len(task_ids) == 3 and all(t["status"] == "done" for t in m["tasks"])
    with open_db(pg_url) as store:
        jobs = [store.get(i) for i in ids]
    assert [j.status for j in jobs] == [st.DONE] * 12
    ran = [int(line.split()[0]) for line in log.read_text().splitlines()]
    assert sorted(ran) == sorted(ids)  # every job ran exactly once
    for j in jobs:
        assert j.state["jobman.sql.jobdispatch_task_id"] in task_ids
        assert j.state["jobman.sql.host_name"] == socket.gethostname()
