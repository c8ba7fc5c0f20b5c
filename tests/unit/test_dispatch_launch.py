"""Building the task list: {{}} expansion of the command, --file lines, --only_n_first,
--repeat_jobs, log names, log directory names, resources (no server)."""
from __future__ import annotations

import datetime as dt
import shlex

import pytest

from dispatch.errors import UsageError
from dispatch.launch import auto_exp_dir, build_commands, launch_dir, make_resources, select, task_names


def test_cartesian_product_first_argument_slowest_with_several_segments_per_argument():
    cmds = build_commands(["prog", "a={{1,2}}", "b={{x,y}}_{{p,q}}"], [])
    assert [c for c, _ in cmds] == [
        "prog a=1 b=x_p", "prog a=1 b=x_q", "prog a=1 b=y_p", "prog a=1 b=y_q",
        "prog a=2 b=x_p", "prog a=2 b=x_q", "prog a=2 b=y_p", "prog a=2 b=y_q"]
    assert cmds[1][1] == ["a=1", "b=x_q"]


def test_command_words_are_quoted_one_by_one():
    [(cmd, _)] = build_commands(["jobman", "sql", "postgres://u@h/db?table=t&x=1", "it's"], [])
    assert shlex.split(cmd) == ["jobman", "sql", "postgres://u@h/db?table=t&x=1", "it's"]


def test_file_lines_are_shell_lines_and_expand(tmp_path):
    f = tmp_path / "cmds"
    f.write_text("echo a={{1,2}} | tr a A\n\n# a comment\necho  two-spaces > out.txt\n")
    cmds = build_commands([], [str(f)])
    assert [c for c, _ in cmds] == ["echo a=1 | tr a A", "echo a=2 | tr a A", "echo  two-spaces > out.txt"]


def test_empty_and_bad_commands(tmp_path):
    with pytest.raises(UsageError, match="empty command"):
        build_commands([], [])
    blank = tmp_path / "blank"
    blank.write_text("\n  \n# nothing\n")
    with pytest.raises(UsageError, match="empty command"):
        build_commands([], [str(blank)])
    with pytest.raises(UsageError, match=r"command: unbalanced '\{\{'"):
        build_commands(["x={{1"], [])


def test_only_n_first_then_repeat():
    cmds = [(f"c{i}", []) for i in range(4)]
    assert [c for c, _ in select(cmds, 2, 3)] == ["c0", "c1"] * 3
    assert len(select(cmds, None, 1)) == 4


def test_task_names_follow_the_patterns():
    cmds = [("prog a=1 b=x", ["a=1", "b=x"]), ("prog a=1 b=y/z", ["a=1", "b=y/z"])]
    assert task_names(cmds, ["nb0", "compact"]) == ["0.a=1_b=x", "1.a=1_b=y_z"]
    assert task_names(cmds, ["nb1"]) == ["1", "2"]
    assert task_names(cmds, ["nb0", "none", "explicit"]) == ["prog_a=1_b=x", "prog_a=1_b=y_z"]
    # names are made unique: the same varying args repeated get their index
    assert task_names(cmds * 2, ["compact"]) == ["0.a=1_b=x", "1.a=1_b=y_z", "2.a=1_b=x", "3.a=1_b=y_z"]
    assert task_names([("echo hi", [])], []) == ["0"]


def test_readable_default_launch_names(tmp_path):
    """``LOGS/<program>-<date>-<n>/`` (issue 19, item 11), numbered after the day's last launch."""
    now = dt.datetime(2026, 11, 27, 19, 32, 23, 402467)
    assert auto_exp_dir(["/bin/prog.sh", "a={{1,2}}"], [], now) == "prog.sh-2026-11-27"
    assert auto_exp_dir([], ["/x/cmds.txt", "more"], now) == "cmds-2026-11-27"
    assert auto_exp_dir(["./$(rm -rf)"], [], now) == "rm_-rf-2026-11-27"
    settings = {"logdir": str(tmp_path)}
    first = launch_dir(settings, ["jobman", "sql", "DB", "."], now)
    assert first == tmp_path / "jobman-2026-11-27-1"
    (tmp_path / "jobman-2026-11-27-1").mkdir()
    (tmp_path / "jobman-2026-11-27-7").mkdir()
    (tmp_path / "jobman-2026-11-27-x").mkdir()
    assert launch_dir(settings, ["jobman", "sql"], now).name == "jobman-2026-11-27-8"
    assert launch_dir(settings, ["echo", "hi"], now).name == "echo-2026-11-27-1"


def test_resources_from_settings():
    r = make_resources({"cpu": 4, "set_special_env": True, "env": [("FOO", "1"), ("OMP_NUM_THREADS", "8")],
                        "os": ["LINUX", "FC9"], "req": ["Memory > 10"], "machine": ["h1"], "machines": ["h2,h3"],
                        "mem": 1024, "gpu": 2, "time": 60, "queue": "q", "project": "p", "jobs_name": "n"}, 3)
    assert r.env == {"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "FOO": "1"}
    assert r.requirements == ("Memory > 10", '(OpSys == "LINUX" || OpSys == "FC9")')
    assert r.machines == ("h1", "h2", "h3") and (r.cpu, r.mem_mb, r.gpus, r.time_s, r.nb_proc) == (4, 1024, 2, 60, 3)
    assert make_resources({"cpu": -1, "set_special_env": True}, None).env == {}
