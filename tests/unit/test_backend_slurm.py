"""The SLURM backend without a cluster: golden files of the rendered sbatch scripts and launcher,
array chunking, GPU directives and option errors. (Submission, status, cancel and signals run
against the real cluster in tests/integration/test_backend_slurm.py.)

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest ...`` and
review the diff."""
from __future__ import annotations

import os
import subprocess

import pytest

from backends import LAUNCHER_NAME, Resources, Task
from backends.errors import UsageError
from backends.slurm import SlurmBackend, _expand, _ranges
from tests.helpers.golden import check_golden

LAUNCH_DIR = "/jobs/LOGS/sweep"
CWD = "/home/alice/exp"

TASKS = [
    Task(0, "jobman sql -n 5 'postgres://u@db/x?table=t' ."),
    Task(1, "echo \"it's $HOME\" && python train.py --lr=0.1"),
    Task(2, "python train.py --name='a b'", env={"SEED": "2"}),
]
RESOURCES = Resources(cpu=2, mem_mb=4096, gpus=1, time_s=5400, queue="gpu partition", account="def-lab",
                      env={"OMP_NUM_THREADS": "2", "MSG": "hello world"}, raw=("#SBATCH --exclusive",),
                      nb_proc=2, job_name="sweep;rm -rf")


def backend(**options) -> SlurmBackend:
    return SlurmBackend(LAUNCH_DIR, cwd=CWD, options={"max_array_size": 1001, **options})



def test_golden_script_and_launcher():
    files = backend().render(TASKS, RESOURCES)
    assert sorted(files) == [LAUNCHER_NAME, "submit.sh"]
    check_golden("slurm_submit.sh", files["submit.sh"])
    check_golden("slurm_launcher.sh", files[LAUNCHER_NAME])


def test_rendering_is_deterministic_and_quotes_user_values():
    a = backend().render(TASKS, RESOURCES)
    b = backend().render(list(reversed(TASKS)), RESOURCES)
    assert a == b
    script = a["submit.sh"]
    assert "#SBATCH --job-name='sweep;rm -rf'" in script
    assert "#SBATCH --partition='gpu partition'" in script
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives[:-1] == sorted(directives[:-1]) and directives[-1] == "#SBATCH --exclusive"


def test_scripts_are_valid_shell():
    for name, text in backend().render(TASKS, RESOURCES).items():
        proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stderr)


def test_chunks_past_max_array_size(tmp_path):
    tasks = [Task(i, f"echo {i}") for i in range(5)]
    files = backend(max_array_size=2).render(tasks, Resources(nb_proc=1))
    assert sorted(files) == [LAUNCHER_NAME, "submit.0.sh", "submit.1.sh", "submit.2.sh"]
    check_golden("slurm_chunk_1.sh", files["submit.1.sh"])
    for k, (spec, offset) in enumerate([("0-1%1", 0), ("0-1%1", 2), ("0%1", 4)]):
        script = files[f"submit.{k}.sh"]
        assert f"#SBATCH --array={spec}\n" in script
        assert f"+ {offset} ))\"\n" in script


def test_sparse_indices_and_ranges():
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert _ranges([3]) == "3"
    assert _expand("2-5%2") == [2, 3, 4, 5]
    assert _expand("4,6-7") == [4, 6, 7]
    assert _expand("N/A") == []
    files = backend().render([Task(2, "a"), Task(3, "b"), Task(7, "c")], Resources())
    assert "#SBATCH --array=0-1,5\n" in files["submit.sh"]
    assert "+ 2 ))\"\n" in files["submit.sh"]


@pytest.mark.parametrize("options, directive", [
    ({}, "#SBATCH --gres=gpu:2"),
    ({"gpu_directive": "gpus"}, "#SBATCH --gpus=2"),
    ({"gpu_type": "a100"}, "#SBATCH --gres=gpu:a100:2"),
])
def test_gpu_directive_is_configurable(options, directive):
    script = backend(**options).render([Task(0, "x")], Resources(gpus=2))["submit.sh"]
    assert directive in script.splitlines()


def test_no_gpu_no_gres_and_signal_grace():
    script = backend().render([Task(0, "x")], Resources())["submit.sh"]
    assert "gres" not in script and "--gpus" not in script
    assert "#SBATCH --signal=B:USR1@120" in script
    # never later than half the time limit; 0 turns it off
    assert "#SBATCH --signal=B:USR1@30" in backend().render([Task(0, "x")], Resources(time_s=60))["submit.sh"]
    assert "#SBATCH --signal" not in backend(signal_grace_s=0).render([Task(0, "x")], Resources())["submit.sh"]


@pytest.mark.parametrize("options, fragment", [
    ({"gpu_directive": "cuda"}, "bad slurm gpu_directive 'cuda': expected one of gres, gpus"),
    ({"signal_grace_s": -5}, "bad slurm signal_grace_s -5"),
    ({"max_array_size": 0}, "bad slurm max_array_size 0"),
    ({"poll_interval_s": "0"}, "bad backend option poll_interval_s='0': expected a number of seconds > 0"),
    ({"poll_max_s": "soon"}, "bad backend option poll_max_s='soon'"),
])
def test_bad_options_are_usage_errors_and_nothing_is_written(tmp_path, options, fragment):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options=options)
    with pytest.raises(UsageError) as e:
        b.launch([Task(0, "true")], Resources(), test=True)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "launch").exists()


def test_test_mode_writes_every_file_and_submits_nothing(tmp_path):
    b = SlurmBackend(tmp_path / "launch", cwd=tmp_path, options={"max_array_size": 1001})
    sub = b.launch([Task(0, "true"), Task(1, "false")], Resources(), test=True)
    assert sub.test and not sub.submitted and sub.job_ids == []
    assert set(os.listdir(tmp_path / "launch")) == {"submit.sh", LAUNCHER_NAME}
    assert os.access(tmp_path / "launch" / "submit.sh", os.X_OK)
    assert not [c for c in b.runner.history if "sbatch" in str(c.command)]
