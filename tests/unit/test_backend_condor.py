"""The HTCondor backend without a pool: golden files of the submit description and launcher, the
description parsed back by the real ``htcondor2.Submit`` (offline: it needs no daemon), option
errors, and ``--test`` contacting no daemon. (Submission, status and cancel run against the real
pool in tests/integration/test_backend_condor.py.)

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest ...``."""
from __future__ import annotations

import os

import htcondor2
import pytest

from backends import LAUNCHER_NAME, Resources, Task
from backends.condor import SUBMIT_NAME, CondorBackend, _environment
from backends.errors import UsageError
from tests.helpers.golden import check_golden

LAUNCH_DIR = "/tmp/LOGS/sweep"
CWD = "/tmp/exp"

TASKS = [
    Task(0, "jobman sql -n 5 'postgres://u@db/x?table=t' ."),
    Task(1, "echo \"it's $HOME\" && python train.py --lr=0.1"),
    Task(2, "python train.py --name='a b'", env={"SEED": "2"}),
]
RESOURCES = Resources(cpu=2, mem_mb=4096, gpus=1, time_s=5400, account="def-lab",
                      env={"OMP_NUM_THREADS": "2", "MSG": "it's \"a\" $HOME"},
                      raw=("+Experiment = \"mlp\"",), requirements=("TARGET.Memory > 2048", 'OpSys == "LINUX"'),
                      machines=("node1", "node2"), nb_proc=2, job_name="sweep $(x)")


def backend(**options) -> CondorBackend:
    return CondorBackend(LAUNCH_DIR, cwd=CWD, options=options)



def test_golden_submit_description_and_launcher():
    files = backend().render(TASKS, RESOURCES)
    assert sorted(files) == [LAUNCHER_NAME, SUBMIT_NAME]
    check_golden("condor_submit.condor", files[SUBMIT_NAME])
    check_golden("condor_launcher.sh", files[LAUNCHER_NAME])
    assert backend().render(list(reversed(TASKS)), RESOURCES) == files


def test_description_parses_with_the_real_bindings():
    sub = htcondor2.Submit(backend().render(TASKS, RESOURCES)[SUBMIT_NAME])
    assert list(sub.itemdata()) == [{"task": "0"}, {"task": "1"}, {"task": "2"}]
    assert sub.expand("executable") == f"{LAUNCH_DIR}/{LAUNCHER_NAME}"
    assert sub.expand("request_gpus") == "1" and sub.expand("request_cpus") == "2"
    assert sub.expand("max_materialize") == "2"
    # user values stay literal: $ is not a macro, quotes survive
    assert sub.expand("batch_name") == "sweep $(x)"
    assert sub.expand("environment") == '"MSG=\'it\'\'s ""a"" $HOME\' OMP_NUM_THREADS=2"'
    assert sub.expand("requirements") == ('(TARGET.Memory > 2048) && (OpSys == "LINUX") && '
                                          '((TARGET.Machine == "node1") || (TARGET.Machine == "node2"))')
    assert sub["MY.ProjectName"] == '"def-lab"'
    sub["Process"], sub["Cluster"], sub["task"] = "1", "77", "1"
    assert sub.expand("arguments") == "1"
    assert sub.expand("output") == f"{LAUNCH_DIR}/condor-77.1.out"


def test_getenv_option():
    assert "getenv = False" in backend(getenv=False).render(TASKS[:1], Resources())[SUBMIT_NAME]
    assert "getenv = True" in backend(getenv=True).render(TASKS[:1], Resources())[SUBMIT_NAME]
    assert "getenv = PATH, HOME, USER, LANG, LC_*," in backend().render(TASKS[:1], Resources())[SUBMIT_NAME]


def test_environment_syntax():
    assert _environment({"A": "1", "B": "x y", "C": ""}) == "\"A=1 B='x y' C=''\""


@pytest.mark.parametrize("resources, fragment", [
    (Resources(requirements=("Memory >= (",)), "bad HTCondor requirement 'Memory >= (': not a ClassAd expression"),
    (Resources(raw=("a = 1\nqueue 100",)), "bad --raw value 'a = 1\\nqueue 100': it holds a newline"),
    (Resources(env={"A": "x\ny"}), "bad --env A value 'x\\ny': it holds a newline"),
    (Resources(env={"1A": "x"}), "bad environment variable name '1A'"),
])
def test_bad_values_are_one_line_usage_errors_and_nothing_is_written(tmp_path, resources, fragment):
    b = CondorBackend(tmp_path / "launch", cwd=tmp_path)
    with pytest.raises(UsageError) as e:
        b.launch([Task(0, "true")], resources, test=True)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "launch").exists()


def test_test_mode_writes_files_and_contacts_no_daemon(tmp_path):
    # A collector nobody listens on: any contact would fail.
    b = CondorBackend(tmp_path / "launch", cwd=tmp_path, options={"collector": "127.0.0.1:1"})
    sub = b.launch([Task(0, "true"), Task(1, "false")], Resources(gpus=1), test=True)
    assert sub.test and not sub.submitted and sub.job_ids == []
    assert set(os.listdir(tmp_path / "launch")) == {SUBMIT_NAME, LAUNCHER_NAME}
    assert b.runner.history == []


def test_unreachable_schedd_is_one_line_with_the_call(tmp_path):
    b = CondorBackend(tmp_path / "launch", cwd=tmp_path, options={"collector": "127.0.0.1:1"})
    with pytest.raises(Exception) as e:
        b.launch([Task(0, "true")], Resources())
    msg = str(e.value)
    assert "htcondor2 locate schedd (collector 127.0.0.1:1)" in msg and "\n" not in msg
    assert (tmp_path / "launch" / SUBMIT_NAME).exists()


@pytest.mark.parametrize("value", [True, "true", "yes"])
def test_transfer_files_runs_each_task_in_its_scratch_and_brings_its_files_back(value):
    files = backend(transfer_files=value).render(TASKS, RESOURCES)
    sub = htcondor2.Submit(files[SUBMIT_NAME])
    assert sub["should_transfer_files"] == "YES" and sub["when_to_transfer_output"] == "ON_EXIT_OR_EVICT"
    assert sub.expand("initialdir") == LAUNCH_DIR  # where HTCondor copies the task's files back
    launcher = files[LAUNCHER_NAME].splitlines()
    assert "dir=." in launcher and "cd . || exit 2" in launcher and f"cd {CWD} || exit 2" not in launcher
    assert f"export JOBDISPATCH_LAUNCH_DIR={LAUNCH_DIR}" in launcher
    # without the option: the shared file system, as before (the golden files)
    plain = htcondor2.Submit(backend(transfer_files="no").render(TASKS, RESOURCES)[SUBMIT_NAME])
    assert plain["should_transfer_files"] == "NO" and plain.expand("initialdir") == CWD


def test_a_bad_transfer_files_value_is_one_line_and_nothing_is_written(tmp_path):
    b = CondorBackend(tmp_path / "launch", cwd=tmp_path, options={"transfer_files": "sometimes"})
    with pytest.raises(UsageError) as e:
        b.launch([Task(0, "true")], Resources(), test=True)
    assert str(e.value) == "bad condor option transfer_files='sometimes': expected true or false"
    assert not (tmp_path / "launch").exists()
