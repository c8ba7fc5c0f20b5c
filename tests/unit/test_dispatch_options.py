"""jobdispatch's option parsing, value parsing, defaults precedence and bad input (no server)."""
from __future__ import annotations

import os
import stat

import pytest

from dispatch import cli
from dispatch.config import BUILTIN_DEFAULTS, detect_backend, resolve
from dispatch.errors import UsageError
from dispatch.options import build_parser, parse_duration, parse_env, parse_mem, split_argv


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("JOBDISPATCH_DEFAULT_OPTION", "DBIDISPATCH_DEFAULT_OPTION", "JOBDISPATCH_LOGDIR",
                "DBIDISPATCH_LOGDIR", "JOBDISPATCH_CONF"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("text, mb", [("4G", 4096), ("4g", 4096), ("500M", 500), ("500", 500), ("2048K", 2),
                                      ("1.5G", 1536), ("2GB", 2048), ("1GiB", 1024), ("1T", 1048576)])
def test_mem_units(text, mb):
    assert parse_mem(text) == mb


@pytest.mark.parametrize("text", ["4X", "", "G", "-1G", "0", "4 G B", "1e3"])
def test_bad_mem_is_one_line_naming_the_value(text):
    with pytest.raises(UsageError) as e:
        parse_mem(text)
    assert repr(text) in str(e.value) and "\n" not in str(e.value) and "4G" in str(e.value)


@pytest.mark.parametrize("text, s", [("12:00:00", 43200), ("1-00:00:00", 86400), ("0:01:30", 90), ("90", 5400),
                                     ("90m", 5400), ("2h", 7200), ("1d", 86400), ("30s", 30), ("47:59:59", 172799),
                                     # SLURM's other forms (issue 19, item 11): MM:SS, D-HH, D-HH:MM
                                     ("30:00", 1800), ("90:30", 5430), ("2-00", 172800), ("1-12", 129600),
                                     ("1-02:30", 95400), ("0-00:00:45", 45)])
def test_durations(text, s):
    assert parse_duration(text) == s


@pytest.mark.parametrize("text", ["1:2", "abc", "0", "1:60:00", "-5m", "1w", "10:75", "1-2:60", "0-00", "1-", "-1"])
def test_bad_duration(text):
    with pytest.raises(UsageError, match="expected"):
        parse_duration(text)


def test_env_values():
    assert parse_env("FOO=bar") == [("FOO", "bar")]
    assert parse_env("MSG=hello world") == [("MSG", "hello world")]
    assert parse_env("A=1 B=2") == [("A", "1"), ("B", "2")]
    assert parse_env("EMPTY=") == [("EMPTY", "")]
    with pytest.raises(UsageError, match="VAR=value"):
        parse_env("1BAD=x")
    with pytest.raises(UsageError, match="VAR=value"):
        parse_env("novalue")


def test_options_stop_at_the_first_non_option():
    parser = build_parser()
    opts, cmd = split_argv(parser, ["--local=2", "--mem", "4G", "jobman", "sql", "-n", "0", "DB", "."])
    assert opts == ["--local=2", "--mem", "4G"]
    assert cmd == ["jobman", "sql", "-n", "0", "DB", "."]
    opts, cmd = split_argv(parser, ["--test", "--", "--weird-program", "-x"])
    assert opts == ["--test"] and cmd == ["--weird-program", "-x"]
    # --local takes its N only as --local=N: the next word is the command
    opts, cmd = split_argv(parser, ["--local", "4"])
    assert opts == ["--local"] and cmd == ["4"]


def test_backend_flags_and_aliases():
    s, cmd = resolve(["--local=3", "--repeat-jobs=2", "--partition=gpu", "--account=lab", "--duree=1h",
                      "--job-name=x", "--gpu", "echo", "hi"], environ={})
    assert (s["backend"], s["nb_proc"], s["repeat_jobs"], s["queue"], s["project"], s["time"], s["jobs_name"],
            s["gpu"]) == ("local", 3, 2, "gpu", "lab", 3600, "x", 1)
    assert cmd == ["echo", "hi"]
    s, _ = resolve(["--slurm", "--condor=5", "--ssh", "--gpu=2", "x"], environ={})
    assert (s["backend"], s["nb_proc"], s["gpu"]) == ("ssh", 5, 2)  # the last backend flag wins


def test_precedence_builtin_conf_env_flags(tmp_path):
    conf = tmp_path / "site.yaml"
    conf.write_text("defaults:\n  mem: 2G\n  queue: confq\n  repeat_jobs: 4\n  env: {A: conf, B: conf}\n"
                    "profiles:\n  big:\n    mem: 64G\n    cpu: 8\n    backend: slurm\n")
    environ = {"JOBDISPATCH_CONF": str(conf), "JOBDISPATCH_DEFAULT_OPTION": "--queue=envq --env=B=env --cpu=2",
               "JOBDISPATCH_LOGDIR": "/tmp/envlogs"}
    s, _ = resolve(["echo"], environ=environ)
    assert s["mem"] == 2048 and s["queue"] == "envq" and s["repeat_jobs"] == 4 and s["cpu"] == 2
    assert s["logdir"] == "/tmp/envlogs" and s["time"] is BUILTIN_DEFAULTS["time"]
    assert dict(s["env"]) == {"A": "conf", "B": "env"}
    s, _ = resolve(["--profile=big", "--queue=flagq", "--env=B=flag", "--logdir=L", "echo"], environ=environ)
    assert (s["mem"], s["cpu"], s["backend"], s["queue"], s["logdir"]) == (65536, 2, "slurm", "flagq", "L")
    assert dict(s["env"])["B"] == "flag"


def test_shipped_conf_parses_and_its_profiles_resolve():
    s, _ = resolve(["--profile=example-slurm", "echo"], environ={})
    assert s["backend"] == "slurm" and s["gpu"] == 1 and s["mem"] == 16384 and s["time"] == 86400
    s, _ = resolve(["--profile=example-ssh", "echo"], environ={})
    assert s["backend"] == "ssh" and s["machine"] == ["alice@workstation1", "alice@workstation2:2222"]


def test_conf_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  memory: 4G\n")
    with pytest.raises(UsageError, match="unknown setting 'memory'"):
        resolve(["--conf", str(bad), "echo"], environ={})
    with pytest.raises(UsageError, match="does not exist"):
        resolve([f"--conf={tmp_path}/nope.yaml", "echo"], environ={})
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        resolve(["--profile=nope", "echo"], environ={})
    bad.write_text("defaults:\n  mem: lots\n")
    with pytest.raises(UsageError, match="bad --mem value 'lots'"):
        resolve(["--conf", str(bad), "echo"], environ={})
    with pytest.raises(UsageError, match="only options"):
        resolve(["echo"], environ={"JOBDISPATCH_DEFAULT_OPTION": "--local echo"})


def _fake_program(directory, name):
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_backend_detected_from_the_path(tmp_path):
    empty, slurm, both = (tmp_path / d for d in ("empty", "slurm", "both"))
    for d in (empty, slurm, both):
        d.mkdir()
    _fake_program(slurm, "sbatch")
    _fake_program(both, "sbatch")
    _fake_program(both, "condor_submit")
    assert detect_backend(str(empty)) == "local"
    assert detect_backend(str(slurm)) == "slurm"
    assert detect_backend(str(both)) == "condor"


@pytest.mark.parametrize("argv, message", [
    (["--bogus", "echo"], "unknown option '--bogus'"),
    (["--backend=pbs", "echo"], "unknown backend 'pbs': expected one of condor, local, slurm, ssh"),
    (["--local", "--mem=4X", "echo"], "bad --mem value '4X'"),
    (["--local"], "empty command"),
    (["--local", "--nb_proc=0", "echo"], "bad --nb_proc value '0'"),
    (["--local", "--repeat_jobs=x", "echo"], "bad --repeat_jobs value 'x'"),
    (["--local", "--tasks_filename=weird", "echo"], "bad --tasks_filename pattern 'weird'"),
    (["--local", "echo", "a={{1,2"], "unbalanced '{{'"),
    (["--local", "--file=/nonexistent/cmds", ], "cannot read --file '/nonexistent/cmds'"),
    (["--local", "--env=1X=2", "echo"], "bad --env value '1X=2'"),
    (["--ssh", "echo"], "the ssh backend needs hosts"),
    (["--ssh", "--machine=bad host", "echo"], "bad ssh host 'bad host'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, capsys, tmp_path):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("jobdispatch: ") and message in err, err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "LOGS").exists()


def test_gpu_with_no_visible_gpu_is_an_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cli.main(["--local", "--gpu", "echo"]) == 2
    err = capsys.readouterr().err
    assert "--gpu=1 asks for 1 GPU(s) per task but 0 are visible here (CUDA_VISIBLE_DEVICES='')" in err
    assert not (tmp_path / "LOGS").exists()


def test_help_mentions_precedence_and_environment(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("JOBDISPATCH_DEFAULT_OPTION", "JOBDISPATCH_LOGDIR", "--repeat_jobs", "--repeat-jobs", "--duree",
                 "conf/dispatch"):
        assert word in out
    assert os.path.basename(cli.__file__) == "cli.py"
