"""Per-epoch metric history (``channel.report`` → ``{table}__metrics``) against a real PostgreSQL
server and a real SQLite file: written with fenced saves and finishes, refused with a stale
attempt, idempotent when retried, written by the real worker, exported by ``jobman export --metrics``."""
from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import pytest

from jobstore import status as st
from jobstore.store import open_db
from jobstore.store.metrics import Point, make_points
from tests.helpers.worker import insert, run_worker

LEASE_S = 30.0


def claim(db, lease_s=LEASE_S):
    return db.claim(worker="w1", host="testhost", lease_s=lease_s, max_attempts=3)


def points(*triples):
    return [Point(s, n, v) for s, n, v in triples]


def test_save_and_finish_write_points_a_stale_attempt_writes_none(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([{"jobman.experiment": "tests.exp.run", "x": 1}])
        j = claim(db)
        assert db.save(j.id, j.attempt, j.state, LEASE_S, metrics=points((1, "loss", 0.5), (1, "acc", 0.7)))
        assert db.finish(j.id, j.attempt, status=st.START, end_reason="incomplete",
                         metrics=points((2, "loss", 0.25)))
        assert db.metrics.series([j.id], "loss") == {j.id: [(j.attempt, 1, 0.5), (j.attempt, 2, 0.25)]}
        again = claim(db)
        assert again.attempt == j.attempt + 1
        # the old attempt is fenced off: neither its save nor its finish writes a point
        assert not db.save(j.id, j.attempt, j.state, LEASE_S, metrics=points((3, "loss", 9.0)))
        assert not db.finish(j.id, j.attempt, status=st.DONE, end_reason="completed",
                             metrics=points((3, "loss", 9.0)))
        assert db.finish(again.id, again.attempt, status=st.DONE, end_reason="completed",
                         metrics=points((3, "loss", 0.125)))
        assert db.metrics.series([j.id], "loss")[j.id] == [(1, 1, 0.5), (1, 2, 0.25), (2, 3, 0.125)]
        assert db.metrics.names([j.id]) == ["acc", "loss"]
        assert db.metrics.names([j.id + 1]) == []


def test_a_retried_write_replaces_its_points_and_non_finite_values_are_null(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([{"jobman.experiment": "tests.exp.run"}])
        j = claim(db)
        assert db.save(j.id, j.attempt, j.state, LEASE_S, metrics=points((0, "loss", 1.0)))
        assert db.save(j.id, j.attempt, j.state, LEASE_S,
                       metrics=points((0, "loss", 2.0)) + make_points(1, {"loss": math.inf}))
        assert db.metrics.series([j.id], "loss") == {j.id: [(j.attempt, 0, 2.0), (j.attempt, 1, None)]}
        rows = list(db.metrics.rows())
        assert [r[:5] for r in rows] == [(j.id, j.attempt, 0, "loss", 2.0), (j.id, j.attempt, 1, "loss", None)]
        assert all(r[5] > 1.7e9 for r in rows)  # epoch seconds from the database clock


def test_report_checks_its_arguments():
    with pytest.raises(TypeError, match="step '3' is not an integer"):
        make_points("3", {"loss": 1.0})
    with pytest.raises(TypeError, match="metric 'loss' = 'high' is not a real number"):
        make_points(3, {"loss": "high"})


@pytest.mark.parametrize("save_every", [0, 2], ids=["at-finish", "with-saves"])
def test_the_worker_writes_the_reported_points(db_url, tmp_path, cli_env, save_every):
    (jid,) = insert(db_url, "metric_exps.curve", [{"steps": 5, "save_every": save_every}])
    done = run_worker(cli_env, db_url, str(tmp_path / "exp"))
    assert done.returncode == 0, done.stderr
    with open_db(db_url) as db:
        assert db.get(jid).status == st.DONE
        loss = db.metrics.series([jid], "loss")[jid]
        assert [(step, value) for _, step, value in loss] == [(s, 1.0 / (s + 1)) for s in range(5)]
        assert db.metrics.names([jid]) == ["acc", "loss"]


def test_export_metrics_writes_the_long_format(db_url, tmp_path, cli_env):
    ids = insert(db_url, "metric_exps.curve", [{"steps": 3}, {"steps": 2}])
    assert run_worker(cli_env, db_url, str(tmp_path / "exp"), "-n", "0").returncode == 0
    out = subprocess.run([sys.executable, "-m", "jobstore.cli", "export", "--metrics", db_url],
                         env=cli_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["job", "attempt", "step", "name", "value", "time"]
    assert len(rows) == 2 * (3 + 2)
    first = [r for r in rows if r["job"] == str(ids[0]) and r["name"] == "loss"]
    assert [(r["step"], float(r["value"])) for r in first] == [("0", 1.0), ("1", 0.5), ("2", 1 / 3)]


def test_plot_curves_draws_the_reported_metric(db_url, tmp_path, cli_env):
    ids = insert(db_url, "metric_exps.curve", [{"steps": 6}, {"steps": 4}])
    assert run_worker(cli_env, db_url, str(tmp_path / "exp"), "-n", "0").returncode == 0
    out = tmp_path / "curves.png"
    done = subprocess.run([sys.executable, "-m", "jobstore.cli", "plot", db_url, "--curves", "loss", "-o", str(out)],
                          env=cli_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 curves of loss" in done.stdout
    from PIL import Image
    curves = json.loads(Image.open(out).text["jobman-plot"])
    assert {k: len(v) for k, v in curves["curves"].items()} == {str(ids[0]): 6, str(ids[1]): 4}
    bad = subprocess.run([sys.executable, "-m", "jobstore.cli", "plot", db_url, "--curves", "nope", "-o", str(out)],
                         env=cli_env, capture_output=True, text=True)
    assert bad.returncode == 2 and "no points of metric 'nope'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
