"""A non-editable install works from any directory: the wheel is built from this checkout, installed
into a fresh virtual environment (its dependencies from the machine's configured package index),
and its commands are run from an unrelated directory, where neither the checkout nor its conf/
can be seen. The shipped conf/ (dispatch profiles, the tutorial's mlp_jobman.conf) must be found
inside the installed package."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.slow


def run(argv, cwd, env=None, timeout=900):
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv}: rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin directory, wheel path, a directory unrelated to the checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
         str(ROOT)], cwd=base)
    [wheel] = list(dist.glob("*.whl"))
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=base)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return venv / "bin", wheel, elsewhere


def clean_env(bin_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JOBDISPATCH_CONF")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_ships_conf_and_type_markers(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("jobstore/conf/dispatch.yaml", "jobstore/conf/mlp_jobman.conf",
                    "jobstore/store/queries/postgres/jobs.sql", "jobstore/store/queries/sqlite/worker.sql",
                    "jobstore/py.typed", "dispatch/py.typed", "backends/py.typed", "models/py.typed"):
        assert shipped in names, shipped


def test_installed_commands_run_from_an_unrelated_directory(installed):
    bin_dir, _, elsewhere = installed
    env = clean_env(bin_dir)
    # The installed package, not the checkout, is imported.
    where = run([str(bin_dir / "python"), "-c", "import jobstore; print(jobstore.__file__)"], elsewhere, env)
    assert not where.stdout.strip().startswith(str(ROOT)), where.stdout
    url = f"sqlite:///{elsewhere}/sweep.db?table=mlp"
    # The README's profile example: the profile comes from the shipped conf/dispatch.yaml.
    proc = run([str(bin_dir / "jobdispatch"), "--test", "--profile", "example-slurm", "--repeat_jobs=2",
                "--logdir", str(elsewhere / "LOGS"), "jobman", "sql", "-n", "0", url, "."], elsewhere, env)
    scripts = [p for p in (elsewhere / "LOGS").rglob("*") if p.is_file()]
    submit = [p for p in scripts if p.suffix == ".sh" and "#SBATCH" in p.read_text()]
    assert submit, (proc.stdout, proc.stderr, scripts)
    text = submit[0].read_text()
    assert "--partition=gpu" in text and "--account=my-lab" in text and "--array=0-1" in text, text
    # The tutorial's conf by its bare name: found among the shipped files.
    proc = run([str(bin_dir / "jobman"), "sqlschedules", url, "models.mlp_jobman.experiment", "mlp_jobman.conf",
                "n_hidden={{20,30}}"], elsewhere, env)
    assert "Added 2 on 2 jobs" in proc.stdout, proc.stdout
    assert "'n_iter': 50" in proc.stdout and "'n_hidden': 20" in proc.stdout, proc.stdout
