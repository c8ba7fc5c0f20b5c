"""The worker on a shared machine: only allowed experiments are imported (``--allow``,
``$JOBMAN_ALLOW``), and job directories another user prepared are never used. The attacks run as
a second user (``attacker``, created by the test) against the test's own (root) worker."""
from __future__ import annotations

import os

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.users import SharedDir, as_attacker
from tests.helpers.worker import insert, job_dir, run_worker

EVIL_MODULE = "import pathlib, os\npathlib.Path(os.environ['MARKER']).write_text('imported')\n" \
              "def experiment(state, channel):\n    return None\n"


def _evil(tmp_path) -> tuple[dict[str, str], str]:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "evil_exp.py").write_text(EVIL_MODULE)
    marker = str(tmp_path / "imported")
    return {"MARKER": marker, "PYTHONPATH": str(tmp_path / "mods")}, marker


def test_allow_runs_listed_experiments_and_never_imports_the_others(sqlite_url, tmp_path, cli_env):
    extra, marker = _evil(tmp_path)
    env = {**cli_env, "PYTHONPATH": cli_env["PYTHONPATH"] + os.pathsep + extra["PYTHONPATH"]}
    good, evil = insert(sqlite_url, "noop", [{"x": 1}]) + insert(sqlite_url, "evil_exp.experiment", [{"x": 2}])
    proc = run_worker(env, sqlite_url, str(tmp_path), "-n", "0", "--allow", "worker_exps,models",
                      extra_env={"MARKER": marker})
    assert proc.returncode == 1
    assert not os.path.exists(marker)  # nothing of the refused module ran
    with open_db(sqlite_url) as store:
        assert store.get(good).status == st.DONE
        job = store.get(evil)
        assert job.status == st.ERR_START and job.end_reason == "start-error"
        assert job.error == ("experiment 'evil_exp.experiment' is not allowed on this worker: --allow/JOBMAN_ALLOW "
                             "admits worker_exps,models (and what lies under them)")
    # the same list from the environment; without any list, today's behaviour: it is imported and runs
    insert(sqlite_url, "evil_exp.experiment", [{"x": 3}])
    proc = run_worker(env, sqlite_url, str(tmp_path), "-n", "0", extra_env={"MARKER": marker,
                                                                           "JOBMAN_ALLOW": "worker_exps"})
    assert proc.returncode == 1 and not os.path.exists(marker)
    insert(sqlite_url, "evil_exp.experiment", [{"x": 4}])
    proc = run_worker(env, sqlite_url, str(tmp_path), "-n", "0", extra_env={"MARKER": marker})
    assert proc.returncode == 0, proc.stderr
    assert open(marker).read() == "imported"


def test_a_prefix_is_a_whole_module_name_and_a_bad_list_is_exit_2(sqlite_url, tmp_path, cli_env):
    (job,) = insert(sqlite_url, "worker_exps.noop", [{"x": 1}])
    proc = run_worker(cli_env, sqlite_url, str(tmp_path), "--allow", "worker")  # not a module prefix
    assert proc.returncode == 1
    with open_db(sqlite_url) as store:
        assert store.get(job).status == st.ERR_START
    bad = run_worker(cli_env, sqlite_url, str(tmp_path), "--allow", "models;rm")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "invalid --allow prefix 'models;rm'" in bad.stderr and "Traceback" not in bad.stderr


def test_job_directory_prepared_by_another_user_is_refused(tmp_path, cli_env):
    """The attacker pre-creates the victim's next job directory in a shared EXPROOT with its
    stdout a link to a private file of the victim: the worker refuses the table's directory before
    any claim (the job stays START, attempt 0; the node's fault, not the job's), the file is untouched."""
    secret = tmp_path / "private.txt"
    secret.write_text("mine\n")
    secret.chmod(0o600)
    url = f"sqlite:///{tmp_path}/jobs.db?table=jobs"
    (job,) = insert(url, "outputs", [{"x": 1}])
    with SharedDir() as shared:
        d = job_dir(shared, url, job)
        as_attacker(f"mkdir -p {d} && ln -s {secret} {d}/stdout && chmod -R 777 {shared}/jobs")
        proc = run_worker(cli_env, url, shared, "-n", "0")
        assert proc.returncode == 1
        assert "is writable by every user" in proc.stderr  # EXPROOT world-writable: warned
        assert secret.read_text() == "mine\n" and oct(secret.stat().st_mode & 0o777) == "0o600"
        with open_db(url) as store:
            row = store.get(job)
        assert (row.status, row.attempt) == (st.START, 0)
        assert "belongs to uid" in proc.stderr and "no job was claimed" in proc.stderr, proc.stderr


def test_job_directories_are_private_and_a_linked_stdout_is_refused(tmp_path, cli_env):
    url = f"sqlite:///{tmp_path}/jobs.db?table=jobs"
    first, second = insert(url, "outputs", [{"x": 1}, {"x": 2}])
    root = tmp_path / "exp"
    proc = run_worker(cli_env, url, str(root), "-n", "1")
    assert proc.returncode == 0, proc.stderr
    assert oct(os.stat(job_dir(str(root), url, first)).st_mode & 0o777) == "0o700"
    # a link left in one of the user's own directories (by an earlier mistake) is not followed either
    target = tmp_path / "elsewhere"
    target.write_text("")
    d = job_dir(str(root), url, second)
    os.mkdir(d, 0o700)
    os.symlink(target, os.path.join(d, "stdout"))
    proc = run_worker(cli_env, url, str(root), "-n", "1")
    assert proc.returncode == 1
    assert target.read_text() == ""
    with open_db(url) as store:
        assert store.get(second).status == st.ERR_START
