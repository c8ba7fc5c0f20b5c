"""Provenance of the code (issue 15, item 4), with real git repositories and real processes:
sqlschedules records the experiment's commit, dirty flag and (size-limited) diff, the Python and
key package versions as jobman.code.* keys; re-scheduling the same sweep after a commit still skips
the jobs already there (the keys are not in the content hash); each attempt records what it
imported as jobman.sql.code_* and, when that differs, writes one warning line to the job's stderr
and to jobman.sql.code_warning. sqlsearch's jobs carry the keys too."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from jobstore import status as st
from jobstore.store import open_db
from jobstore.worker.codeinfo import DIFF_MAX_BYTES
from tests.helpers.worker import job_dir, run_worker

EXPERIMENT = '''\
def experiment(state, channel):
    state.out = state.x * 2
    return channel.COMPLETE
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "code"
    repo.mkdir()
    (repo / "codeexp.py").write_text(EXPERIMENT)
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", "codeexp.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "first")
    return repo


def jobman(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def jobs(url: str) -> list:
    with open_db(url) as store:
        return sorted(store.jobs(), key=lambda j: j.id)


def test_a_dirty_tree_is_recorded_rescheduling_after_a_commit_skips_and_the_worker_warns(sqlite_url, tmp_path,
                                                                                          cli_env):
    repo = make_repo(tmp_path)
    first = git(repo, "rev-parse", "HEAD")
    big = "# " + "x" * (DIFF_MAX_BYTES + 10_000) + "\n"  # an uncommitted change past the limit
    (repo / "codeexp.py").write_text(EXPERIMENT + big)
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(repo), cli_env["PYTHONPATH"]])}
    proc = jobman(env, repo, "sqlschedules", sqlite_url, "codeexp.experiment", "x={{1,2,3}}")
    assert proc.returncode == 0 and "Added 3 on 3 jobs" in proc.stdout, proc.stderr
    assert "jobman.code" not in proc.stdout  # the ADDING lines show the parameters only
    scheduled = jobs(sqlite_url)
    assert len(scheduled) == 3
    s = scheduled[0].state
    assert s["jobman.code.git_commit"] == first and s["jobman.code.git_dirty"] is True
    assert s["jobman.code.module_file"] == str((repo / "codeexp.py").resolve())
    assert s["jobman.code.git_diff"].startswith("diff --git a/codeexp.py b/codeexp.py")
    assert f"[jobman: diff cut at {DIFF_MAX_BYTES} of " in s["jobman.code.git_diff"]
    assert len(s["jobman.code.git_diff"].encode()) < DIFF_MAX_BYTES + 100
    assert s["jobman.code.python"] == platform.python_version()
    assert "jobman-ng==" in s["jobman.code.packages"] and "numpy==" in s["jobman.code.packages"]

    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-am", "second")
    second = git(repo, "rev-parse", "HEAD")
    again = jobman(env, repo, "sqlschedules", sqlite_url, "codeexp.experiment", "x={{1,2,3}}")
    assert again.returncode == 0 and "Added 0 on 3 jobs" in again.stdout, again.stdout + again.stderr
    assert again.stdout.count("SKIPPING") == 3
    fresh = jobman(env, repo, "sqlschedule", sqlite_url, "codeexp.experiment", "x=4")  # a clean tree now
    assert fresh.returncode == 0 and fresh.stdout.startswith("ADDING"), fresh.stderr

    root = str(tmp_path / "exp")
    ran = run_worker(env, sqlite_url, root, "-n", "0", cwd=str(repo))
    assert ran.returncode == 0, ran.stderr
    done = {j.state["x"]: j for j in jobs(sqlite_url)}
    assert all(j.status == st.DONE for j in done.values()) and len(done) == 4
    for x, j in done.items():
        assert j.state["jobman.sql.code_git_commit"] == second and j.state["jobman.sql.code_git_dirty"] is False
        stderr = Path(job_dir(root, sqlite_url, j.id), "stderr")
        if x == 4:  # scheduled from the code it ran
            assert "jobman.sql.code_warning" not in j.state, j.state["jobman.sql.code_warning"]
            assert "warning" not in stderr.read_text()
            continue
        warning = j.state["jobman.sql.code_warning"]
        assert warning.startswith(f"job {j.id}: the code differs from what was scheduled: git_commit {second[:12]} "
                                  f"(scheduled {first[:12]}), git_dirty False (scheduled True), git_diff_sha256 none")
        assert stderr.read_text().splitlines() == [f"jobman: warning: {warning}"]


def test_sqlsearch_jobs_carry_the_code_keys(sqlite_url, tmp_path, cli_env):
    repo = make_repo(tmp_path)
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(repo), cli_env["PYTHONPATH"]])}
    reg = jobman(env, repo, "sqlsearch", sqlite_url, "codeexp.experiment", "x~uniform(0,1)", "--objective", "out",
                 "--trials", "1")
    assert reg.returncode == 0, reg.stderr
    ran = run_worker(env, sqlite_url, str(tmp_path / "exp"), "-n", "1", cwd=str(repo))
    assert ran.returncode == 0, ran.stderr
    (job,) = jobs(sqlite_url)
    assert job.status == st.DONE
    assert job.state["jobman.code.git_commit"] == git(repo, "rev-parse", "HEAD")
    assert job.state["jobman.code.git_dirty"] is False and "jobman.code.git_diff" not in job.state
    assert "jobman.sql.code_warning" not in job.state
