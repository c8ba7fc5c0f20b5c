"""Walltime awareness (issue 15, item 7): a worker claims no new job once less than --min-time-left
remains of its time: --walltime counted from its start (SQLite, real worker processes) or, under
the project's real SLURM (tests/infra/slurm.sh), its job's EndTime read from scontrol. Bad limits
are one line, exit 2, nothing changed."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, run_worker, worker_cmd

ROOT = Path(__file__).resolve().parents[2]
REFUSED = "less than --min-time-left"


def counts(url: str) -> dict[int, int]:
    with open_db(url) as store:
        return store.count_by_status()


def test_no_claim_when_less_than_the_minimum_remains(sqlite_url, tmp_path, cli_env):
    insert(sqlite_url, "noop", [{"k": k} for k in range(3)])
    proc = run_worker(cli_env, sqlite_url, str(tmp_path / "exp"), "-n", "0", "--walltime", "30",
                      "--min-time-left", "40", "--requeue")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if REFUSED in line]
    assert len(lines) == 1 and "before the end of --walltime 30, less than --min-time-left 40: claiming no new job" \
        in lines[0], proc.stderr
    assert "No more jobs" not in proc.stdout
    assert "--requeue: not running under SLURM or HTCondor" in proc.stderr  # out of time: requeue asked for
    assert counts(sqlite_url) == {st.START: 3}


@pytest.mark.slow
def test_jobs_run_while_time_remains_then_none_is_claimed(sqlite_url, tmp_path, cli_env):
    """20 s of walltime, 10 s needed for a claim, jobs of 11 s: the first job runs (claimed with
    more than 10 s left), the second is never claimed (less than 9 s left after the first)."""
    insert(sqlite_url, "sleepy", [{"seconds": 11.0, "k": k} for k in range(3)])
    proc = run_worker(cli_env, sqlite_url, str(tmp_path / "exp"), "-n", "0", "--walltime", "20",
                      "--min-time-left", "10")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Selected job") == 1 and REFUSED in proc.stderr, proc.stdout + proc.stderr
    assert counts(sqlite_url) == {st.DONE: 1, st.START: 2}


@pytest.mark.parametrize("args, said", [
    (("--min-time-left", "abc"), "invalid --min-time-left 'abc': expected a number of seconds >= 0"),
    (("--min-time-left", "-5"), "invalid --min-time-left '-5': expected a number of seconds >= 0"),
    (("--walltime", "-1"), "invalid --walltime '-1': expected a number of seconds > 0"),
    (("--walltime", "1h"), "invalid --walltime '1h': expected a number of seconds > 0"),
])
def test_bad_limits_are_one_line_exit_2_nothing_changed(sqlite_url, tmp_path, cli_env, args, said):
    insert(sqlite_url, "noop", [{"k": 1}])
    proc = run_worker(cli_env, sqlite_url, str(tmp_path / "exp"), *args)
    assert proc.returncode == 2
    assert said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert counts(sqlite_url) == {st.START: 1}
    assert not (tmp_path / "exp").exists()


def sbatch_worker(env: dict[str, str], tmp_path: Path, url: str, minutes: int, *args: str) -> tuple[int, str]:
    """Run `jobman sql -n 0 ARGS` as a SLURM batch job of --time=MINUTES; (sbatch's exit, its output)."""
    out = tmp_path / f"worker-{minutes}.out"
    cmd = shlex.join(worker_cmd(url, str(tmp_path / "exp"), "-n", "0", *args))
    proc = subprocess.run(["sbatch", "--wait", "--parsable", f"--time={minutes}", "--mem=200M", f"--output={out}",
                           f"--chdir={tmp_path}", "--wrap", f"exec {cmd}"],
                          env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, out.read_text() if out.exists() else proc.stderr


@pytest.mark.slurm
def test_under_slurm_the_jobs_end_time_decides(slurm_node, pg_url, tmp_path, cli_env):
    """--min-time-left 600 alone: a batch job of 2 minutes claims nothing, one of 30 minutes runs
    every job, so the worker read its own EndTime."""
    insert(pg_url, "noop", [{"k": k} for k in range(3)])
    rc, out = sbatch_worker(cli_env, tmp_path, pg_url, 2, "--min-time-left", "600")
    assert rc == 0, out
    refused = [line for line in out.splitlines() if REFUSED in line]
    assert len(refused) == 1 and "before the end of SLURM job " in refused[0] and "(EndTime 20" in refused[0], out
    assert counts(pg_url) == {st.START: 3}
    rc, out = sbatch_worker(cli_env, tmp_path, pg_url, 30, "--min-time-left", "600")
    assert rc == 0 and REFUSED not in out, out
    assert counts(pg_url) == {st.DONE: 3}
