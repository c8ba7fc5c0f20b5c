"""The README's first two commands are what CI runs, and the main command's script schedules
exactly the 12 jobs of the tutorial's results table."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.paths import ROOT

# (learning_rate, n_hidden, n_iter) of the 12 rows of the tutorial's results table
TUTORIAL_ROWS = {
    (0.05, 100, 50), (0.05, 150, 50), (0.1, 150, 50), (0.1, 100, 50), (0.02, 50, 50), (0.05, 50, 50),
    (0.1, 50, 50), (0.01, 100, 50), (0.01, 50, 50), (0.01, 30, 1), (0.01, 20, 1), (0.01, 10, 1),
}


def readme_commands() -> tuple[str, str]:
    """The commands as .ci/run extracts them (its own awk, run here)."""
    script = open(os.path.join(ROOT, ".ci", "run")).read()
    awk = next(line for line in script.splitlines() if line.startswith("readme_cmd()"))
    out = []
    for tag in ("main-command", "test-command"):
        proc = subprocess.run(["bash", "-c", f"{awk}\nreadme_cmd {tag}"], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        out.append(proc.stdout.strip())
    return out[0], out[1]


def test_readme_starts_with_the_main_and_the_test_command():
    main, test = readme_commands()
    assert "conf/tutorial.sh" in main and "pip install" in main and "[mnist]" in main
    assert "pytest" in test and "tests/infra/up.sh" in test and "[dev]" in test
    readme = open(os.path.join(ROOT, "README.md")).read()
    first_blocks = [b for b in readme.split("```")[1::2]][:2]
    assert [b.strip() for b in first_blocks] == [main, test]


def test_the_tutorial_script_schedules_the_tables_12_jobs(tmp_path):
    env = dict(os.environ, SCHEDULE_ONLY="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    url = f"sqlite:///{tmp_path}/t.db?table=mlp_dumi"
    for _ in range(2):  # a second run skips everything
        proc = subprocess.run(["bash", os.path.join(ROOT, "conf", "tutorial.sh"), url], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    from jobstore.store import open_db

    with open_db(url) as db:
        jobs = db.jobs()
    assert len(jobs) == 12
    rows = {(j.state["learning_rate"], j.state["n_hidden"], j.state["n_iter"]) for j in jobs}
    assert rows == TUTORIAL_ROWS
    assert {j.state["batch_size"] for j in jobs} == {20}
    assert {j.experiment for j in jobs} == {"models.mlp_jobman.experiment"}
