"""Self-requeue without a scheduler: which batch task a worker is in (from the environment SLURM and
HTCondor set), the bound on requeues, the options of `jobman sql` and `jobdispatch`, the rendered
`--requeue` directive and the status table. (The requeue itself runs on the real SLURM cluster in
tests/integration/test_preempt_slurm.py.)"""
from __future__ import annotations

import subprocess
import sys

import pytest

from backends import Resources, Task
from backends.slurm import SlurmBackend
from backends.submission import REQUEUE_EXIT_CODE as BACKENDS_CODE
from backends.submission import Submission, TaskRecord
from dispatch import launch
from dispatch.config import resolve
from dispatch.errors import UsageError
from dispatch.follow import table
from jobstore.worker import selfrequeue
from jobstore.worker.selfrequeue import REQUEUE_EXIT_CODE, parse_max, requeue_after_stop, target


def test_the_exit_code_and_variable_are_the_same_on_both_sides():
    assert REQUEUE_EXIT_CODE == BACKENDS_CODE == 75
    assert launch.REQUEUE_ENV == selfrequeue.REQUEUE_ENV
    assert launch.DEFAULT_MAX_REQUEUES == selfrequeue.DEFAULT_MAX_REQUEUES


def test_the_slurm_target_is_the_array_task_with_its_restart_count():
    t = target({"SLURM_JOB_ID": "250", "SLURM_ARRAY_JOB_ID": "241", "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_RESTART_COUNT": "2"})
    assert t is not None and (t.scheduler, t.task_id, t.requeues) == ("slurm", "241_3", 2)
    assert t.argv == ("scontrol", "requeue", "241_3")
    plain = target({"SLURM_JOB_ID": "250"})
    assert plain is not None and (plain.task_id, plain.requeues, plain.argv[-1]) == ("250", 0, "250")


def test_the_condor_target_counts_starts_from_the_job_ad(tmp_path):
    ad = tmp_path / ".job.ad"
    ad.write_text('ClusterId = 12\nProcId = 4\nNumJobStarts = 3\nOwner = "ciuser"\n')
    t = target({"_CONDOR_JOB_AD": str(ad)})
    assert t is not None and (t.scheduler, t.task_id, t.requeues, t.argv) == ("condor", "12.4", 2, ())
    assert target({}) is None


@pytest.mark.parametrize("text", ["x", "-1", "1.5", " -3 "])
def test_a_bad_maximum_is_one_line_naming_it(text):
    with pytest.raises(ValueError) as e:
        parse_max(text, "--max-requeues")
    assert str(e.value) == f"invalid --max-requeues {text!r}: expected a whole number of requeues >= 0"
    assert parse_max("", "x") is None and parse_max(None, "x") is None and parse_max(" 4", "x") == 4


def test_no_requeue_past_the_maximum_nor_without_waiting_jobs_nor_outside_a_scheduler(tmp_path):
    said: list[str] = []
    env = {"SLURM_JOB_ID": "9", "SLURM_RESTART_COUNT": "3"}
    assert requeue_after_stop(3, 5, said.append, env) is None
    assert said[-1] == ("task 9 was requeued 3 times, the maximum (--max-requeues 3): it is not requeued "
                        "again; 5 job(s) still waiting")
    assert requeue_after_stop(3, 0, said.append, env) is None and "no job is waiting" in said[-1]
    assert requeue_after_stop(3, 5, said.append, {}) is None and "not running under SLURM" in said[-1]
    ad = tmp_path / "ad"
    ad.write_text("ClusterId = 1\nProcId = 0\nNumJobStarts = 1\n")  # HTCondor: the exit code is the request
    assert requeue_after_stop(3, 5, said.append, {"_CONDOR_JOB_AD": str(ad)}) == 75
    assert said[-1] == "5 job(s) still waiting: condor task 1.0 requeued (1 of at most 3)"


@pytest.mark.parametrize("args, env, said", [
    (["--max-requeues=-2"], {}, "invalid --max-requeues '-2': expected a whole number of requeues >= 0"),
    (["--max-requeues", "ten"], {}, "invalid --max-requeues 'ten': expected a whole number of requeues >= 0"),
    ([], {"JOBMAN_REQUEUE": "-1"}, "invalid $JOBMAN_REQUEUE '-1': expected a whole number of requeues >= 0"),
])
def test_jobman_sql_refuses_a_bad_maximum_in_one_line(tmp_path, args, env, said):
    url = f"sqlite:///{tmp_path}/none.db?table=t"
    proc = subprocess.run([sys.executable, "-m", "jobstore.cli", "sql", *args, url, str(tmp_path / "exp")],
                          capture_output=True, text=True, env={**_env(), **env}, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert line.startswith("jobman sql: error: ") and said in line
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "exp").exists()


def _env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if k != "JOBMAN_REQUEUE"}


@pytest.mark.parametrize("value", ["-1", "x"])
def test_jobdispatch_refuses_a_bad_maximum(value):
    with pytest.raises(UsageError, match=rf"bad --max_requeues value '{value}': expected an integer >= 0"):
        resolve(["--requeue", f"--max-requeues={value}", "true"], environ={})


def test_requeue_sets_the_variable_the_directive_and_the_manifest_flag():
    settings, _ = resolve(["--slurm", "--requeue", "--max-requeues=4", "true"], environ={})
    resources = launch.make_resources(settings, None)
    assert resources.env["JOBMAN_REQUEUE"] == "4"
    options = launch.backend_options(settings)
    assert options["requeue"] == 4
    b = SlurmBackend("/jobs/LOGS/x", cwd="/tmp", options={**options, "max_array_size": 1001})
    script = b.render([Task(0, "jobman sql -n 0 DB .")], resources)["submit.sh"]
    assert "#SBATCH --requeue\n" in script
    plain, _ = resolve(["--slurm", "true"], environ={})
    assert "JOBMAN_REQUEUE" not in launch.make_resources(plain, None).env
    assert "--requeue" not in SlurmBackend("/x", cwd="/tmp", options={"max_array_size": 1001}).render(
        [Task(0, "true")], Resources())["submit.sh"]


def test_a_profile_turns_requeue_on(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("profiles:\n  pre:\n    backend: slurm\n    requeue: true\n    max_requeues: 7\n")
    settings, _ = resolve(["--conf", str(conf), "--profile", "pre", "true"], environ={})
    assert settings["requeue"] is True and launch.backend_options(settings)["requeue"] == 7


def test_the_status_table_shows_requeues_for_a_requeue_launch():
    rec = TaskRecord(0, "c", "0", "/l/0.out", "/l/0.err", id="5_0", status="running", requeues=2)
    sub = Submission("slurm", "/l", {}, [rec], extra={"requeue": 10})
    header, row = table(sub)
    assert header.split() == ["task", "status", "exit", "id", "requeues", "host", "stderr"]
    assert row.split() == ["0", "running", "5_0", "2", "/l/0.err"]
    assert table(Submission("slurm", "/l", {}, [rec]))[0].split()[:5] == ["task", "status", "exit", "id", "host"]
