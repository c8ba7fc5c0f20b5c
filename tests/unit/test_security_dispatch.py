"""jobdispatch on a shared machine, without a scheduler (``--test`` writes every file, submits
nothing): a password URL leaves only a 0600 pgpass file; values with a line break never reach a
script; launch directories are private and never someone else's; scripts follow the umask."""
from __future__ import annotations

import json
import os
import stat

import pytest

from dispatch import cli

URL = "postgresql://bob:hunter2-pw@db.example:5432/lab?table=sweep"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith(("JOBDISPATCH_", "DBIDISPATCH_", "PG")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def _only_launch(tmp_path):
    (launch,) = (tmp_path / "LOGS").iterdir()
    return launch


@pytest.mark.parametrize("backend", ["--local", "--slurm", "--condor"])
def test_password_url_only_in_the_0600_pgpass_file(backend, tmp_path, capsys):
    assert cli.main([backend, "--test", "--env=DB_URL=" + URL, "jobman", "sql", "-n", "0", URL, "."]) == 0
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err
    launch = _only_launch(tmp_path)
    assert "hunter2" not in launch.name
    pgpass = launch / "pgpass"
    assert pgpass.read_text() == "db.example:5432:lab:bob:hunter2-pw\n"
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    for f in launch.iterdir():
        if f.name != "pgpass":
            assert "hunter2" not in f.read_text(), f.name
    launcher = (launch / "launcher.sh").read_text()
    assert f"export PGPASSFILE={launch}/pgpass" in launcher
    assert "postgresql://bob@db.example:5432/lab?table=sweep" in launcher
    manifest = json.loads((launch / "manifest.json").read_text())
    assert "postgresql://bob@db.example:5432/lab?table=sweep" in manifest["argv"]


def test_no_password_no_pgpass(tmp_path):
    assert cli.main(["--local", "--test", "jobman", "sql", "postgresql://bob@h/db?table=t", "."]) == 0
    launch = _only_launch(tmp_path)
    assert not (launch / "pgpass").exists() and "PGPASSFILE" not in (launch / "launcher.sh").read_text()


@pytest.mark.parametrize("argv, option", [
    (["--slurm", "--jobs_name=sweep\ntouch PWNED #"], "--jobs_name"),
    (["--slurm", "--queue=gpu\n#SBATCH --uid=0"], "--queue"),
    (["--slurm", "--project=lab\r"], "--project"),
    (["--slurm", "--gpu", "--backend_option=gpu_type=a100\ntouch PWNED"], "backend option 'gpu_type'"),
    (["--condor", "--backend_option=getenv=PATH\nexecutable = /tmp/evil"], "backend option 'getenv'"),
    (["--condor", "--env=A=1\nexecutable = /tmp/evil"], "--env A"),
    (["--local", "--exp_dir=a\nb"], "launch directory"),
])
def test_a_line_break_in_a_rendered_value_is_refused_naming_the_option(argv, option, capsys, tmp_path):
    assert cli.main([*argv, "--test", "echo", "hi"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("jobdispatch: bad ") and option in err, err
    assert "one line" in err and "Traceback" not in err and out == ""
    assert not (tmp_path / "LOGS").exists()


def test_launch_directory_is_private_and_scripts_follow_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert cli.main(["--slurm", "--test", "echo", "hi"]) == 0
    finally:
        os.umask(old)
    launch = _only_launch(tmp_path)
    assert stat.S_IMODE(launch.stat().st_mode) == 0o700
    assert stat.S_IMODE((launch / "launcher.sh").stat().st_mode) == 0o700  # not forced to 0755
    assert stat.S_IMODE((launch / "submit.sh").stat().st_mode) == 0o700
    assert cli.main(["--local", "--test", "--group_access", "--exp_dir=shared", "echo", "hi"]) == 0
    assert stat.S_IMODE((tmp_path / "LOGS" / "shared").stat().st_mode) == 0o750 & ~old


@pytest.mark.parametrize("prepare, message", [
    (lambda d: (d.mkdir(), d.chmod(0o777)), "is writable by other users"),
    (lambda d: (d.mkdir(), os.chown(d, 65534, 65534)), "belongs to uid 65534"),
    (lambda d: d.symlink_to(d.parent.parent / "elsewhere", target_is_directory=True), "is a symbolic link"),
])
def test_an_exp_dir_someone_else_could_have_prepared_is_refused(prepare, message, capsys, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "LOGS").mkdir()
    prepare(tmp_path / "LOGS" / "sweep")
    assert cli.main(["--local", "--test", "--exp_dir=sweep", "echo", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_link_left_in_an_own_exp_dir_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "bashrc"
    victim.write_text("# mine\n")
    victim.chmod(0o600)
    d = tmp_path / "LOGS" / "sweep"
    d.mkdir(parents=True, mode=0o700)
    (d / "launcher.sh").symlink_to(victim)
    assert cli.main(["--local", "--test", "--exp_dir=sweep", "echo", "hi"]) == 0
    assert victim.read_text() == "# mine\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not (d / "launcher.sh").is_symlink()


def test_allow_in_a_conf_profile_reaches_every_worker_as_jobman_allow(tmp_path):
    conf = tmp_path / "lab.yaml"
    conf.write_text("profiles:\n  lab:\n    allow: [models, mylab.experiments]\n")
    assert cli.main(["--local", "--test", f"--conf={conf}", "--profile=lab", "jobman", "sql", "DB", "."]) == 0
    launcher = (_only_launch(tmp_path) / "launcher.sh").read_text()
    assert "export JOBMAN_ALLOW=models,mylab.experiments" in launcher
