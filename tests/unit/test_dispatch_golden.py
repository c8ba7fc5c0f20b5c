"""Golden files of what the local and ssh backends render: the shared launcher, the per-host ssh
runners and the exact ssh command lines. Rendering is deterministic (sorted environment, every
user value shell-quoted, absolute paths from the arguments), so a diff shows exactly what changed.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_dispatch_golden.py``
and review the diff."""
from __future__ import annotations

import subprocess

from backends import LAUNCHER_NAME, Resources, Task
from backends.local import LocalBackend
from backends.ssh import COMMANDS_FILE, SshBackend
from tests.helpers.golden import check_golden

LAUNCH_DIR = "/golden/LOGS/train.py_lr_2026-01-01_00-00-00.000000"
CWD = "/golden/work dir"

TASKS = [
    Task(0, "python train.py lr=0.1 'msg=it'\"'\"'s'", name="0.lr=0.1"),
    Task(1, "python train.py lr=0.01 'msg=it'\"'\"'s'", env={"SEED": "1 2"}, name="1.lr=0.01"),
    Task(2, "echo $HOME | tr a-z A-Z > upper.txt", name="2"),
]
RESOURCES = Resources(cpu=2, env={"OMP_NUM_THREADS": "2", "Z_LAST": "a'b", "A_FIRST": "$x"}, nb_proc=2,
                      job_name="train")



def test_local_launcher_golden():
    files = LocalBackend(LAUNCH_DIR, cwd=CWD).render(TASKS, RESOURCES)
    assert set(files) == {LAUNCHER_NAME}
    check_golden("local_launcher.sh", files[LAUNCHER_NAME])


def test_ssh_runners_and_command_lines_golden():
    res = Resources(cpu=2, env=RESOURCES.env, nb_proc=2, gpus=1, machines=("alice@node1", "node2:2222"))
    files = SshBackend(LAUNCH_DIR, cwd=CWD).render(TASKS + [Task(3, "true")], res)
    assert set(files) == {LAUNCHER_NAME, "runner-0.sh", "runner-1.sh", COMMANDS_FILE}
    check_golden("ssh_launcher.sh", files[LAUNCHER_NAME])
    check_golden("ssh_runner-0.sh", files["runner-0.sh"])
    check_golden("ssh_runner-1.sh", files["runner-1.sh"])
    check_golden("ssh_commands.txt", files[COMMANDS_FILE])


def test_rendering_is_deterministic_whatever_the_order_of_the_environment():
    shuffled = Resources(cpu=2, env=dict(reversed(list(RESOURCES.env.items()))), nb_proc=2, job_name="train")
    a = LocalBackend(LAUNCH_DIR, cwd=CWD).render(TASKS, RESOURCES)
    b = LocalBackend(LAUNCH_DIR, cwd=CWD).render(list(reversed(TASKS)), shuffled)
    assert a == b


def test_rendered_scripts_are_valid_sh():
    files = SshBackend(LAUNCH_DIR, cwd=CWD).render(TASKS, Resources(nb_proc=2, machines=("h1", "h2")))
    for name, text in files.items():
        if text.startswith("#!"):
            proc = subprocess.run(["/bin/sh", "-n"], input=text, capture_output=True, text=True)
            assert proc.returncode == 0, (name, proc.stderr)
