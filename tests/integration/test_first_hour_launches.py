"""Issue 19, item 11: launches a new user can find again — readable default names
(``LOGS/<program>-<date>-<n>/``), ``jobdispatch --status`` with no DIR listing the recent launches,
``--status last`` — through the real ``jobdispatch --local``."""
from __future__ import annotations

import datetime as dt
import re

from tests.helpers.dispatch import dispatch_env, jobdispatch


def test_default_names_listing_and_last(tmp_path, cli_env):
    env = dispatch_env(cli_env)
    today = dt.date.today().isoformat()
    empty = jobdispatch(env, tmp_path, "--status")
    assert empty.returncode == 0 and f"no launch in {tmp_path / 'LOGS'} yet" in empty.stdout
    none = jobdispatch(env, tmp_path, "--status", "last")
    assert none.returncode == 2 and "--status last: no launch in" in none.stderr

    for word in ("first", "second"):
        proc = jobdispatch(env, tmp_path, "--local", "echo", word)
        assert proc.returncode == 0, proc.stderr
    names = sorted(d.name for d in (tmp_path / "LOGS").iterdir())
    assert names == [f"echo-{today}-1", f"echo-{today}-2"]
    failing = jobdispatch(env, tmp_path, "--local", "--exp_dir=broken", "false")
    assert failing.returncode == 1

    listing = jobdispatch(env, tmp_path, "--status")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].startswith(f"jobdispatch: 3 launches in {tmp_path / 'LOGS'}, newest first")
    rows = [ln.split()[0] for ln in lines[2:5]]
    assert rows == ["broken", f"echo-{today}-2", f"echo-{today}-1"]
    assert re.search(r"broken\s+local\s+\S+\s+1 failed", lines[2]), lines[2]
    assert "1 done" in lines[3] and "--local echo second" in lines[3]

    last = jobdispatch(env, tmp_path, "--status", "last")
    assert last.returncode == 1 and f"in {tmp_path / 'LOGS' / 'broken'}" in last.stdout  # its task failed
    named = jobdispatch(env, tmp_path, "--status", str(tmp_path / "LOGS" / f"echo-{today}-1"))
    assert named.returncode == 0 and "1 task: 1 done" in named.stdout


def test_a_misspelt_command_is_refused_before_anything_is_submitted(tmp_path, cli_env):
    env = dispatch_env(cli_env)
    proc = jobdispatch(env, tmp_path, "--local", "--repeat_jobs=3", "jobmna", "sql", "-n", "0")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "command 'jobmna' not found on the PATH here" in proc.stderr and "--no_command_check" in proc.stderr
    assert not (tmp_path / "LOGS").exists()
    proc = jobdispatch(env, tmp_path, "--local", "./missing.sh")
    assert proc.returncode == 2 and "'./missing.sh' is not an executable file here" in proc.stderr
    # shell words, assignments and programs found on the PATH pass
    assert jobdispatch(env, tmp_path, "--local", "X=1", "true").returncode == 0
    # a cluster's tasks may find it on the nodes: a warning; --no_command_check: not even that
    proc = jobdispatch(env, tmp_path, "--slurm", "--test", "jobmna")
    assert proc.returncode == 0 and "warning: command 'jobmna' not found on the PATH here" in proc.stderr
    proc = jobdispatch(env, tmp_path, "--local", "--no_command_check", "--test", "jobmna")
    assert proc.returncode == 0 and "jobmna" not in proc.stderr, proc.stderr
