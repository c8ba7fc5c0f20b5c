"""Results at a glance on PostgreSQL and SQLite: ``jobman sqlstatus --summary/--watch``,
``jobman plot`` and ``jobman export`` in subprocesses, against tables whose jobs went through the
real store path (insert_jobs -> claim -> save/finish). The PNG is decoded here (zlib + struct) and
the CSV read back with the csv module; both are compared with the table."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

from jobstore import status as st
from jobstore.report import plots as png
from jobstore.report.summary import build_summary, render_summary
from jobstore.store import open_db
from tests.helpers.png import close, color_at, read_png

EXP = "mlp_jobman.experiment"  # never imported: these jobs are driven by hand
LEASE_S = 600.0
NOTE = 'a "quoted", value\nsecond line, with a comma'

# (learning_rate, n_hidden) of the jobs, in insertion order
PARAMS = [(1e-4, 10), (1e-3, 20), (1e-2, 30), (1e-1, 50), (5e-2, 100), (2e-3, 150),
          (3e-3, 10), (4e-3, 20), (5e-3, 30), (6e-3, 40), (7e-3, 50)]


def loss_of(lr: float, nh: int) -> float:
    """A made-up validation loss, different for every job of PARAMS."""
    return round(0.02 + abs(lr - 0.05) + 1.0 / nh, 6)


def jobman(env: dict[str, str], *args: str, cwd: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobstore.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def claim(db):
    job = db.claim(worker="glance-test", host="node-7", lease_s=LEASE_S, max_attempts=3)
    assert job is not None
    return job


def finish_done(db, job, **extra):
    lr, nh = job.state["learning_rate"], job.state["n_hidden"]
    results = {"best_validation_loss": loss_of(lr, nh), "test_score": loss_of(lr, nh) + 0.001,
               "minutes_trained": 1.5, "iter": 1000 + job.id, **extra}
    assert db.finish(job.id, job.attempt, status=st.DONE, end_reason=st.EndReason.COMPLETED,
                     state={**job.state, **results})


def populate(url: str, *, done: int = 5, running: int = 2, errors: int = 1, canceled: int = 1) -> dict[str, list[int]]:
    """Insert len(PARAMS) jobs and drive them to DONE / RUNNING (with progress) / ERR_RUN /
    CANCELED; the rest stay START. Return the ids per outcome."""
    assert done + running + errors + canceled <= len(PARAMS)
    ids: dict[str, list[int]] = {"done": [], "running": [], "error": [], "canceled": [], "start": []}
    with open_db(url) as db:
        db.ensure_schema()
        res = db.insert_jobs([{"jobman.experiment": EXP, "learning_rate": lr, "n_hidden": nh, "n_iter": 10,
                               "note": NOTE if i == 0 else f"plain {i}"}
                              for i, (lr, nh) in enumerate(PARAMS)])
        assert all(r.inserted for r in res)
        for _ in range(done):
            job = claim(db)
            finish_done(db, job)
            ids["done"].append(job.id)
        for k in range(running):
            job = claim(db)
            assert db.save(job.id, job.attempt, {**job.state, "epoch": 3 + k, "valid_error": 0.25 - k / 100},
                           LEASE_S)
            ids["running"].append(job.id)
        for _ in range(errors):
            job = claim(db)
            assert db.finish(job.id, job.attempt, status=st.ERR_RUN, end_reason=st.EndReason.ERROR,
                             error="Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                   "ValueError: the loss diverged\n")
            ids["error"].append(job.id)
        rest = [j.id for j in db.jobs(statuses=[st.START])]
        ids["canceled"] = rest[:canceled]
        if canceled:
            assert db.set_status(ids["canceled"], st.CANCELED) == canceled
        ids["start"] = rest[canceled:]
    return ids


def counts_from(text: str) -> dict[str, int]:
    line = next(ln for ln in text.splitlines() if "total" in ln and "START" in ln)
    return {name: int(n) for name, n in re.findall(r"([A-Z_a-z]+) (-?\d+)", line)}


# -- summary ---------------------------------------------------------------------------------------

def test_summary_counts_equal_the_tables(db_url, cli_env):
    ids = populate(db_url)
    proc = jobman(cli_env, "sqlstatus", "--summary", db_url)
    assert proc.returncode == 0, proc.stderr
    with open_db(db_url) as db:
        table_counts = db.count_by_status()
        done_jobs = db.jobs(statuses=[st.DONE])
    printed = counts_from(proc.stdout)
    expected = {st.Status.name_of(c): table_counts.get(c, 0) for c in [m.value for m in st.Status]}
    expected["total"] = sum(table_counts.values())
    assert printed == expected
    assert printed["DONE"] == 5 and printed["RUNNING"] == 2 and printed["ERR_RUN"] == 1
    assert printed["CANCELED"] == 1 and printed["START"] == len(PARAMS) - 9

    out = proc.stdout
    # running jobs with their host, attempt and progress (epoch/n_iter and the validation error)
    running_lines = [ln for ln in out.splitlines() if "node-7" in ln]
    assert len(running_lines) == 2
    assert any("epoch 3/10" in ln and "valid_error=0.25" in ln for ln in running_lines)
    assert any("epoch 4/10" in ln and "valid_error=0.24" in ln for ln in running_lines)
    assert all(re.search(r"\bin \d+m\d\ds\b", ln) for ln in running_lines)  # lease expiring in ~10m
    # the best finished jobs, lowest loss first, the explored keys beside them
    ranked = sorted(done_jobs, key=lambda j: (j.state["best_validation_loss"], j.id))
    best = out[out.index("best 5 of 5 finished by best_validation_loss"):]
    best_rows = [ln for ln in best.splitlines()[2:] if re.match(r"\s+\d+\s", ln)][:5]
    assert [int(ln.split()[0]) for ln in best_rows] == [j.id for j in ranked]
    assert "learning_rate" in best.splitlines()[1] and "n_hidden" in best.splitlines()[1]
    # the error, by its last traceback line
    assert re.search(rf"\b{ids['error'][0]}\s+ERR_RUN\s+error\s+ValueError: the loss diverged", out)

    # --best-max --top=2 on another key; --print picks the progress keys
    proc = jobman(cli_env, "sqlstatus", "--summary", "--best=iter", "--best-max", "--top=2",
                  "--print=valid_error", db_url)
    assert proc.returncode == 0, proc.stderr
    top_iter = sorted(done_jobs, key=lambda j: -j.state["iter"])[:2]
    part = proc.stdout[proc.stdout.index("best 2 of 5 finished by iter (highest first)"):]
    assert [int(ln.split()[0]) for ln in part.splitlines()[2:4]] == [j.id for j in top_iter]
    assert "epoch" not in proc.stdout.split("best 2")[0].split("running")[1]


def test_build_summary_in_process(db_url):
    populate(db_url, done=3, running=1, errors=2, canceled=0)
    with open_db(db_url) as db:
        s = build_summary(db)
        assert s.counts == db.count_by_status()
        assert s.total == db.count() and s.active == s.counts.get(st.START, 0) + 1
        assert [r.progress for r in s.running] == [[("epoch", "3/10"), ("valid_error", 0.25)]]
        assert s.errors_total == 2 and all(e.excerpt == "ValueError: the loss diverged" for e in s.errors)
        assert [v for _, v in s.best] == sorted(v for _, v in s.best)
        assert "ERR_RUN 2" in render_summary(s)


def test_summary_of_an_empty_table_and_without_the_default_metric(db_url, cli_env):
    with open_db(db_url) as db:
        db.ensure_schema()
    proc = jobman(cli_env, "sqlstatus", "--summary", db_url)
    assert proc.returncode == 0, proc.stderr
    assert counts_from(proc.stdout)["total"] == 0
    assert "--best=KEY" in proc.stdout


# -- watch -----------------------------------------------------------------------------------------

def test_watch_in_a_pipe_prints_snapshots_and_stops_when_nothing_is_left(db_url, cli_env):
    ids = populate(db_url, done=2, running=2, errors=0, canceled=0)
    with open_db(db_url) as db:
        for i in ids["start"]:
            db.set_status([i], st.CANCELED)
    proc = subprocess.Popen([sys.executable, "-m", "jobstore.cli", "sqlstatus", "--watch=0.2", db_url],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = [proc.stdout.readline() for _ in range(3)]
        assert re.match(r"=== \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ===$", first[0].rstrip("\n")), first
        assert "RUNNING 2" in first[2]
        with open_db(db_url) as db:  # the two running jobs finish: the watch must end by itself
            for job in db.jobs(statuses=[st.RUNNING]):
                finish_done(db, job)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    snapshots = re.split(r"^=== .* ===$", "".join(first) + out, flags=re.M)[1:]
    assert len(snapshots) >= 2
    last = counts_from(snapshots[-1])
    assert last["RUNNING"] == 0 and last["START"] == 0 and last["DONE"] == 4
    assert "\x1b[" not in out  # no screen clearing in a pipe


def test_watch_bad_interval_and_unknown_best_key(db_url, cli_env):
    populate(db_url, done=1, running=0, errors=0, canceled=0)
    for args in (["--watch=0"], ["--watch=nan"], ["--summary", "--best=no_such_key"], ["--summary", "--top=-1"]):
        proc = jobman(cli_env, "sqlstatus", *args, db_url)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert proc.stdout == ""
    assert "no_such_key" in jobman(cli_env, "sqlstatus", "--summary", "--best=no_such_key", db_url).stderr


# -- plot ------------------------------------------------------------------------------------------

def test_plot_one_point_per_finished_job(db_url, cli_env, tmp_path):
    populate(db_url, done=7, running=1, errors=1, canceled=1)
    out = tmp_path / "loss.png"
    proc = jobman(cli_env, "plot", db_url, "best_validation_loss", "learning_rate", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "7 points" in proc.stdout
    pixels, texts = read_png(out.read_bytes())
    assert pixels.shape == (png.DEFAULT_HEIGHT_PX, png.DEFAULT_WIDTH_PX, 3)
    data = json.loads(texts[png.TEXT_KEY])
    with open_db(db_url) as db:
        done = {j.id: j for j in db.jobs(statuses=[st.DONE])}
    assert sorted(p["id"] for p in data["points"]) == sorted(done)
    for p in data["points"]:
        assert p["x"] == done[p["id"]].state["learning_rate"]
        assert p["y"] == done[p["id"]].state["best_validation_loss"]
        assert close(color_at(pixels, p["px"], p["py"]), png.MARKER)  # a marker where the data says
    assert data["x"]["log"] is True  # learning rates span three decades
    # higher loss is higher on the image
    by_y = sorted(data["points"], key=lambda p: p["y"])
    assert [p["py"] for p in by_y] == sorted((p["py"] for p in by_y), reverse=True)


def test_plot_with_a_colour_scale_and_the_default_name(db_url, cli_env, tmp_path):
    populate(db_url, done=6, running=0, errors=0, canceled=0)
    proc = jobman(cli_env, "plot", db_url, "test_score", "learning_rate", "n_hidden", "--linear", "--size=640x480",
                  cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "jobs_test_score_vs_learning_rate_by_n_hidden.png"
    pixels, texts = read_png(out.read_bytes())
    assert pixels.shape == (480, 640, 3)
    data = json.loads(texts[png.TEXT_KEY])
    assert data["x"]["log"] is False and data["c"]["name"] == "n_hidden"
    with open_db(db_url) as db:
        done = {j.id: j for j in db.jobs(statuses=[st.DONE])}
    assert sorted(p["id"] for p in data["points"]) == sorted(done)
    for p in data["points"]:
        assert p["c"] == done[p["id"]].state["n_hidden"]
        assert p["y"] == done[p["id"]].state["test_score"]
        assert close(color_at(pixels, p["px"], p["py"]), p["rgb"])
    # same table, same bytes
    again = tmp_path / "again.png"
    proc = jobman(cli_env, "plot", db_url, "test_score", "learning_rate", "n_hidden", "--linear", "--size=640x480",
                  "-o", str(again))
    assert proc.returncode == 0 and again.read_bytes() == out.read_bytes()


def _bad(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


def test_plot_bad_input_writes_nothing(db_url, cli_env, tmp_path):
    populate(db_url, done=3, running=0, errors=0, canceled=0)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "out.png"
    cases = [
        (["no_such_metric", "learning_rate"], "no_such_metric"),
        (["note", "learning_rate"], "note"),  # a string: not a metric
        (["best_validation_loss", "best_validation_loss"], "twice"),
        (["best_validation_loss", "learning_rate", "--status=RUNNING"], "RUNNING"),
        (["best_validation_loss", "learning_rate", "--status=BOGUS"], "BOGUS"),
        (["best_validation_loss", "learning_rate", "--size=10x10"], "10x10"),
    ]
    for args, word in cases:
        _bad(jobman(cli_env, "plot", db_url, *args, "-o", str(out)), word)
        assert not out.exists()
    missing_dir = outdir / "no" / "such" / "dir" / "out.png"
    _bad(jobman(cli_env, "plot", db_url, "best_validation_loss", "learning_rate", "-o", str(missing_dir)),
         str(missing_dir))
    _bad(jobman(cli_env, "plot", db_url, "best_validation_loss", "learning_rate", "-o", str(outdir)), "directory")
    assert os.listdir(outdir) == []


def test_plot_without_finished_jobs(db_url, cli_env, tmp_path):
    populate(db_url, done=0, running=1, errors=0, canceled=0)
    out = tmp_path / "out.png"  # tmp_path holds the SQLite file too
    _bad(jobman(cli_env, "plot", db_url, "n_hidden", "learning_rate", "-o", str(out)), "no DONE jobs")
    assert not out.exists()


# -- export ----------------------------------------------------------------------------------------

def _expected_cell(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def test_export_round_trips_through_csv(db_url, cli_env, tmp_path):
    populate(db_url)
    proc = jobman(cli_env, "export", db_url)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout, newline="")))
    with open_db(db_url) as db:
        jobs = db.jobs()
        keys = [k for k in db.keys() if k not in ("jobman.id", "jobman.status", "jobman.sql.priority")]
    header = next(csv.reader(io.StringIO(proc.stdout, newline="")))
    assert header[:3] == ["id", "status", "priority"]
    assert set(keys) <= set(header[3:]) and len(header) == len(set(header))
    assert [int(r["id"]) for r in rows] == [j.id for j in jobs]
    for row, job in zip(rows, jobs):
        assert row["status"] == st.Status.name_of(job.status)
        assert float(row["priority"]) == job.priority
        for k in header[3:]:
            assert row[k] == _expected_cell(job.state.get(k)), (job.id, k)
        if "best_validation_loss" in job.state:
            assert float(row["best_validation_loss"]) == job.state["best_validation_loss"]
    assert rows[0]["note"] == NOTE  # quotes, commas and a newline survive
    statuses = {r["status"] for r in rows}
    assert {"DONE", "RUNNING", "ERR_RUN", "CANCELED", "START"} <= statuses

    # to a file, only DONE jobs, chosen columns in the given order
    out = tmp_path / "done.csv"
    proc = jobman(cli_env, "export", db_url, "-o", str(out), "--status=DONE", "--keys=n_hidden,best_validation_loss")
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "status", "priority", "n_hidden", "best_validation_loss"]
    done = {j.id: j for j in jobs if j.status == st.DONE}
    assert sorted(int(r[0]) for r in table[1:]) == sorted(done)
    for r in table[1:]:
        j = done[int(r[0])]
        assert (int(r[3]), float(r[4])) == (j.state["n_hidden"], j.state["best_validation_loss"])


def test_export_bad_input_writes_nothing(db_url, cli_env, tmp_path):
    populate(db_url, done=1, running=0, errors=0, canceled=0)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "x.csv"
    _bad(jobman(cli_env, "export", db_url, "-o", str(out), "--keys=n_hidden,nope"), "nope")
    _bad(jobman(cli_env, "export", db_url, "-o", str(out), "--status=7"), "7")
    _bad(jobman(cli_env, "export", db_url, "-o", str(out), "--keys=,"), "--keys")
    _bad(jobman(cli_env, "export", db_url, "-o", str(outdir / "missing" / "x.csv")), "missing")
    assert os.listdir(outdir) == []


def test_bare_watch_before_the_url_takes_the_default_interval(db_url, cli_env):
    """``--watch DB``: argparse alone would read the URL as the interval."""
    populate(db_url, done=2, running=0, errors=1, canceled=len(PARAMS) - 3)
    proc = jobman(cli_env, "sqlstatus", "--watch", db_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("=== ") == 1  # nothing to wait for: one snapshot, then the end
    assert counts_from(proc.stdout)["DONE"] == 2


def test_export_table_is_the_tutorials_psql_query(db_url, cli_env):
    """`--format=table --sort=... --keys=...` prints what the tutorial's psql query prints: the view's
    column names, finished jobs ordered by the metric, numbers right-aligned, a row count."""
    ids = populate(db_url, running=0, errors=0, canceled=0)
    keys = "learning_rate,n_hidden,best_validation_loss"
    proc = jobman(cli_env, "export", db_url, "--status=DONE", "--format=table",
                  "--sort=best_validation_loss", f"--keys={keys}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["id", "status", "priority", "learningrate", "nhidden",
                                                         "bestvalidationloss"]  # id, status, priority kept
    assert set(lines[1]) <= {"-", "+"}
    rows = [[float(c) for c in ln.split("|")[3:]] for ln in lines[2:-1]]
    with open_db(db_url) as db:
        done = [db.get(i).state for i in ids["done"]]
    expected = sorted(tuple(float(f"{s[k]:.6g}") for k in ("learning_rate", "n_hidden", "best_validation_loss"))
                      for s in done)  # the table shows 6 significant digits
    assert sorted(tuple(r) for r in rows) == expected
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)
    assert lines[-1] == f"({len(done)} rows)"
    desc = jobman(cli_env, "export", db_url, "--status=DONE", "--format=table",
                  "--sort=best_validation_loss", "--desc", f"--keys={keys}")
    assert [float(ln.split("|")[5]) for ln in desc.stdout.splitlines()[2:-1]] == [r[2] for r in rows][::-1]
    bad = jobman(cli_env, "export", db_url, "--sort=no_such_key")
    assert bad.returncode == 2 and "no_such_key" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
