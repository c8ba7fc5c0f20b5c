"""Issue 14, item 4: a result the table cannot store (a ``datetime``, a ``Decimal``, a NUL in a
string) ends its job ERR_RUN with the reason and a cleaned state, after one run, and the worker
goes on; ``channel.save()`` tells the experiment at once. Both dialects."""
from __future__ import annotations

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.worker import insert, run_worker


def test_an_unstorable_result_ends_err_run_with_a_cleaned_state(db_url, tmp_path, cli_env):
    bad, good = insert(db_url, "fault_exps.bad_result", [{"k": 1}]) + insert(db_url, "noop", [{"k": 2}])
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1 and "ran 2 jobs" in proc.stdout  # one failed job; the other ran
    with open_db(db_url) as store:
        job, other = store.get(bad), store.get(good)
    assert other.status == st.DONE
    assert job.status == st.ERR_RUN and job.attempt == 1 and job.lease_until is None
    assert "'when'" in job.error and "'amount'" in job.error and "NUL" in job.error
    assert job.state["when"] == "datetime.datetime(2026, 1, 2, 3, 4, 5)"
    assert job.state["amount"] == "Decimal('1.5')" and job.state["name"] == repr("a\x00b")
    assert job.state["fine"] == 7


def test_save_reports_an_unstorable_state_to_the_experiment(db_url, tmp_path, cli_env):
    [i] = insert(db_url, "fault_exps.bad_save", [{"k": 1}])
    proc = run_worker(cli_env, db_url, str(tmp_path / "root"), "-n", "0", timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as store:
        job = store.get(i)
    assert job.status == st.DONE and "value of key 'when' is a datetime" in job.state["caught"]
