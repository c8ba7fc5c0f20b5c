"""A site's own backend, installed as a separate distribution, is a first-class ``jobdispatch`` backend.

The test writes two small packages to a temporary directory and really installs them with pip
(``--target``): ``jobman-pbs``, the PBS backend that the README's "Adding a backend" walks through
(its two files are read from the README; entry-point group ``jobman.backends``), and
``jobman-broken``, whose module cannot be imported. Then ``jobdispatch`` runs in subprocesses with the install directory on ``PYTHONPATH``: ``--pbs`` is in the
help, ``--pbs --test`` writes the PBS script, a real launch goes through a stand-in ``qsub`` on the
PATH (it runs each array index at once, as PBS would later), ``--status`` follows it, ``qsub`` on the
PATH makes pbs the detected backend, and the broken plugin fails only when it is selected.

No PBS server runs here: the stand-in ``qsub`` is the one thing faked, and only the plugin uses it.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.dispatch import VENV_BIN, manifest, only_launch
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.slow


def readme_plugin() -> tuple[str, str]:
    """``pyproject.toml`` and ``jobman_pbs.py`` as the README's "Adding a backend" shows them: the test
    installs exactly what the README walks through."""
    readme = (Path(ROOT) / "README.md").read_text()
    section = readme.split("\n## Adding a backend\n", 1)[1].split("\n## ", 1)[0]
    pyproject = section.split("```toml\n", 1)[1].split("```", 1)[0]
    module = section.split("```python\n", 1)[1].split("```", 1)[0]
    return pyproject, module


BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "jobman-broken"
version = "0.1"

[project.entry-points."jobman.backends"]
broken = "jobman_broken:BrokenBackend"
"""

# The stand-in qsub: runs every index of the array now, detached, and answers as PBS does.
FAKE_QSUB = """\
#!/bin/sh
script="$1"
last=$(sed -n 's/^#PBS -J 0-\\([0-9]*\\)$/\\1/p' "$script")
for i in $(seq 0 "$last"); do
  PBS_ARRAY_INDEX=$i /bin/sh "$script" </dev/null >/dev/null 2>&1 &
done
echo "4242[].fakepbs"
"""


def _write_package(root: Path, pyproject: str, module: str, source: str) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject)
    (root / f"{module}.py").write_text(source)
    return root


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both plugin distributions, installed with pip into their own directory."""
    base = tmp_path_factory.mktemp("plugins")
    pyproject, module = readme_plugin()
    pbs = _write_package(base / "jobman-pbs", pyproject, "jobman_pbs", module)
    broken = _write_package(base / "jobman-broken", BROKEN_PYPROJECT, "jobman_broken",
                            "import no_such_module_for_jobdispatch  # noqa: F401\n")
    site = base / "site"
    # --no-build-isolation needs setuptools *and* wheel in this venv; without wheel, pip builds in
    # an isolated environment from its configured index.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation,
                           "--target", str(site), str(pbs), str(broken)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "jobman_pbs.py").is_file()
    return site


@pytest.fixture
def env(plugin_site: Path, tmp_path: Path) -> dict[str, str]:
    """The plugins and this tree importable, the stand-in qsub first on the PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qsub").write_text(FAKE_QSUB)
    (bin_dir / "qsub").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBDISPATCH_", "DBIDISPATCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_site), ROOT])
    env["PATH"] = os.pathsep.join([str(bin_dir), VENV_BIN, env.get("PATH", "")])
    return env


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.path.join(VENV_BIN, "jobdispatch"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_plugin_has_a_flag_and_a_help_line(env, tmp_path):
    proc = run(env, tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--pbs [N]" in proc.stdout and "run on PBS (one job array per launch)" in proc.stdout
    assert "qsub -> pbs" in proc.stdout  # the autodetection line of the epilog
    assert "--broken [N]" in proc.stdout and "ModuleNotFoundError" in proc.stdout


def test_test_mode_writes_the_pbs_script(env, tmp_path):
    proc = run(env, tmp_path, "--pbs", "--test", "--exp_dir=dry", "--mem=1G", "--repeat_jobs=3", "echo", "hi")
    assert proc.returncode == 0, proc.stderr
    launch = tmp_path / "LOGS" / "dry"
    script = (launch / "submit.pbs").read_text()
    assert "#PBS -J 0-2\n" in script and "#PBS -l mem=1024mb\n" in script and "#PBS -N jobdispatch\n" in script
    assert "PBS_ARRAY_INDEX" in (launch / "launcher.sh").read_text()
    m = manifest(launch)
    assert m["backend"] == "pbs" and not m["submitted"] and [t["status"] for t in m["tasks"]] == ["not_submitted"] * 3


def test_a_launch_runs_every_task_through_qsub_and_can_be_followed(env, tmp_path):
    proc = run(env, tmp_path, "--pbs", "--wait", "--repeat_jobs=3", "sh", "-c", "echo task $JOBDISPATCH_TASK_INDEX")
    assert proc.returncode == 0, proc.stderr
    assert "3 task(s) submitted to pbs (4242[].fakepbs)" in proc.stdout and "3 tasks: 3 done" in proc.stdout
    launch = only_launch(tmp_path)
    assert sorted((launch / f"{i}.out").read_text() for i in range(3)) == [f"task {i}\n" for i in range(3)]
    m = manifest(launch)
    assert [(t["id"], t["status"], t["exit_code"]) for t in m["tasks"]] == [
        (f"4242[{i}].fakepbs", "done", 0) for i in range(3)]
    assert m["commands"][0]["command"] == f"qsub {launch / 'submit.pbs'}"
    status = run(env, tmp_path, "--status", str(launch))
    assert status.returncode == 0, status.stderr
    assert "jobdispatch: 3 tasks: 3 done" in status.stdout


def test_qsub_on_the_path_makes_pbs_the_detected_backend(env, tmp_path):
    code = "from backends import detect_backend; import sys; print(detect_backend(sys.argv[1]))"
    only_qsub = tmp_path / "bin"
    both = tmp_path / "both"
    both.mkdir()
    for name in ("qsub", "sbatch"):
        (both / name).write_text("#!/bin/sh\n")
        (both / name).chmod(0o755)
    found = [subprocess.run([sys.executable, "-c", code, str(d)], env=env, capture_output=True, text=True,
                            check=True).stdout.strip() for d in (only_qsub, both, tmp_path)]
    assert found == ["pbs", "slurm", "local"]


def test_a_broken_plugin_fails_in_one_line_only_when_selected(env, tmp_path):
    ok = run(env, tmp_path, "--local", "--test", "echo", "hi")
    assert ok.returncode == 0, ok.stderr
    for args in (["--broken", "echo", "hi"], ["--backend=broken", "echo", "hi"]):
        bad = run(env, tmp_path, *args)
        assert bad.returncode == 2
        assert bad.stderr.splitlines() == [
            "jobdispatch: backend 'broken' (plugin jobman-broken 0.1, jobman_broken:BrokenBackend) cannot be "
            "loaded: ModuleNotFoundError: No module named 'no_such_module_for_jobdispatch'"]
    unknown = run(env, tmp_path, "--backend=nosuch", "echo")
    assert unknown.returncode == 2 and "expected one of broken, condor, local, pbs, slurm, ssh" in unknown.stderr
