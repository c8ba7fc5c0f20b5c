"""The results summary (jobstore/report/summary.py) of ``jobman sqlstatus --summary/--watch``: built
from a SQLite table whose jobs went through claim/save/finish, and rendered from summaries made in
memory; the watch loop in a pipe."""
from __future__ import annotations

import io
import re
import threading
import time

import pytest

from jobstore import status as st
from jobstore.errors import DatabaseError, UsageError
from jobstore.report.pace import pace_of
from jobstore.report.summary import (
    MAX_WATCH_FAILURES,
    ErrorJob,
    RunningJob,
    Summary,
    build_summary,
    error_excerpt,
    format_duration,
    render_summary,
    watch,
)
from jobstore.store import Job, open_db

EXP = "mlp_jobman.experiment"  # never imported: the jobs are driven by hand
LEASE_S = 600.0
TRACEBACK = 'Traceback (most recent call last):\n  File "mlp.py", line 3, in train\nValueError: boom\n'


def drive(store, status: int, **state_updates):
    """Claim the next job and leave it RUNNING (with a save) or end it with ``status``."""
    job = store.claim(worker="w1", host="node1", lease_s=LEASE_S, max_attempts=3)
    state = {**job.state, **state_updates}
    if status == st.RUNNING:
        assert store.save(job.id, job.attempt, state, LEASE_S)
    else:
        error = TRACEBACK if status == st.ERR_RUN else None
        assert store.finish(job.id, job.attempt, status=status, state=state, error=error,
                            end_reason="completed" if status == st.DONE else "error")
    return job.id


@pytest.fixture
def store(tmp_path):
    with open_db(f"sqlite:///{tmp_path}/jobs.db?table=jobs") as db:
        yield db


@pytest.fixture
def ids(store):
    """Seven jobs: three DONE with a loss, one DONE with a non-numeric loss, one RUNNING with
    progress, one ERR_RUN with a traceback, one START."""
    store.insert_jobs([{"jobman.experiment": EXP, "learning_rate": 0.1, "n_hidden": h, "n_iter": 10}
                       for h in (10, 20, 30, 40, 50, 60, 70)])
    return {
        "loss 0.3": drive(store, st.DONE, best_validation_loss=0.3),
        "loss 0.1": drive(store, st.DONE, best_validation_loss=0.1),
        "loss 0.2": drive(store, st.DONE, best_validation_loss=0.2),
        "loss n/a": drive(store, st.DONE, best_validation_loss="n/a"),
        "running": drive(store, st.RUNNING, epoch=3, valid_error=0.25),
        "error": drive(store, st.ERR_RUN),
    }


def test_counts_running_best_and_errors(store, ids):
    s = build_summary(store)
    assert s.table == "jobs"
    assert s.counts == {st.START: 1, st.RUNNING: 1, st.DONE: 4, st.ERR_RUN: 1}
    assert (s.total, s.active) == (7, 2)

    assert s.running_total == 1
    (r,) = s.running
    assert (r.id, r.host, r.attempt) == (ids["running"], "node1", 1)
    assert r.progress == [("epoch", "3/10"), ("valid_error", 0.25)]
    assert 0 <= r.running_s < 60 and LEASE_S - 60 < r.lease_left_s <= LEASE_S + 1

    assert s.best_key == "best_validation_loss"  # the default, since the table has it
    assert [(j.id, v) for j, v in s.best] == [(ids["loss 0.1"], 0.1), (ids["loss 0.2"], 0.2), (ids["loss 0.3"], 0.3)]
    assert s.ranked == 3  # the string value is not a metric
    assert s.best_columns == ["n_hidden"]  # varies among the ranked jobs; learning_rate does not

    assert s.errors_total == 1
    assert s.errors == [ErrorJob(ids["error"], st.ERR_RUN, "error", "ValueError: boom")]


def test_best_max_top_and_progress_keys(store, ids):
    s = build_summary(store, best_max=True, top=2, progress_keys=["valid_error", "missing"])
    assert [j.id for j, _ in s.best] == [ids["loss 0.3"], ids["loss 0.2"]]
    assert s.ranked == 3
    assert s.running[0].progress == [("valid_error", 0.25), ("missing", "-")]
    assert build_summary(store, top=0).best == []
    by_hidden = build_summary(store, best_key="n_hidden", best_max=True)
    assert [v for _, v in by_hidden.best] == [40, 30, 20, 10]


def test_bad_options_are_usage_errors_naming_the_value(store, ids):
    with pytest.raises(UsageError, match="unknown key 'accuracy' for --best: the table's keys are .*n_hidden"):
        build_summary(store, best_key="accuracy")
    with pytest.raises(UsageError, match="invalid --top -1"):
        build_summary(store, top=-1)


def test_rendered_text(store, ids):
    text = render_summary(build_summary(store))
    lines = text.splitlines()
    assert lines[0] == "table jobs: 7 jobs"
    for part in ("START 1", "RUNNING 1", "DONE 4", "ERR_START 0", "ERR_RUN 1", "CANCELED 0", "total 7"):
        assert part in lines[1]
    assert "running (1):" in lines
    running_line = next(ln for ln in lines if ln.split()[:1] == [str(ids["running"])] and "node1" in ln)
    assert "epoch 3/10" in running_line and "valid_error=0.25" in running_line
    assert re.search(r"  in (9m5\ds|10m00s)  ", running_line)  # the lease, 600 s from the save
    header = lines.index("best 3 of 3 finished by best_validation_loss (lowest first):")
    assert lines[header + 1].split() == ["id", "best_validation_loss", "n_hidden"]
    ranked = [ln.split() for ln in lines[header + 2:header + 5]]
    assert ranked == [[str(ids["loss 0.1"]), "0.1", "20"], [str(ids["loss 0.2"]), "0.2", "30"],
                      [str(ids["loss 0.3"]), "0.3", "10"]]
    errors = lines.index("errors (1):")
    assert lines[errors + 2].split() == [str(ids["error"]), "ERR_RUN", "error", "ValueError:", "boom"]
    assert text.endswith("\n")


def test_empty_table(store):
    s = build_summary(store)
    assert (s.total, s.active, s.best_key) == (0, 0, None)
    text = render_summary(s)
    assert text.startswith("table jobs: 0 jobs\n")
    assert "best: no 'best_validation_loss' in the table; rank finished jobs with --best=KEY" in text
    assert "running" not in text and "errors" not in text


def job(id_: int, **kw) -> Job:
    return Job(id=id_, status=kw.pop("status", st.DONE), priority=1.0, experiment=EXP, state=kw.pop("state", {}), **kw)


def test_render_from_a_summary_made_in_memory():
    s = Summary(table="t", counts={st.RUNNING: 2, st.ERR_RUN: 12, 42: 1}, now=1000.0,
                running=[RunningJob(7, "gpu3", 2, running_s=3725.0, lease_left_s=-90.0, progress=[])],
                running_total=3, best_key="acc", best_max=True,
                best=[(job(1, state={"acc": 0.9, "opt": "adam\nw"}), 0.9)], best_columns=["opt"], ranked=1,
                errors=[ErrorJob(9, st.ERR_RUN, "error", "KeyError: 'x'")], errors_total=12)
    lines = render_summary(s).splitlines()
    assert lines[0] == "table t: 15 jobs"
    assert "42 1" in lines[1]  # a status code no Jobman version defines is still counted
    row = next(ln for ln in lines if "gpu3" in ln)
    assert row.split()[:5] == ["7", "gpu3", "2", "1h02m", "EXPIRED"] and "1m30s ago" in row
    assert "  ... and 2 more" in lines
    assert "best 1 of 1 finished by acc (highest first):" in lines
    assert any(ln.split() == ["1", "0.9", "adam\\nw"] for ln in lines)  # newlines shown, not printed
    assert any("11 earlier ones not shown" in ln for ln in lines)


def test_no_finished_job_has_the_metric_yet():
    s = Summary(table="t", counts={st.START: 1}, now=0.0, best_key="loss")
    assert "best by loss: no finished job has a numeric 'loss' yet" in render_summary(s)


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45.4, "45s"), (725, "12m05s"), (10920, "3h02m"),
                                           (187200, "2d04h"), (-90, "1m30s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_error_excerpt_is_the_last_line_cut_to_fit():
    assert error_excerpt(job(1, error=TRACEBACK)) == "ValueError: boom"
    assert error_excerpt(job(1, error=None, end_reason="lost")) == "(lost)"
    assert error_excerpt(job(1, error="\n\n")) == "(no error text)"
    long = error_excerpt(job(1, error="E: " + "x" * 300))
    assert len(long) == 100 and long.endswith("...") and long.startswith("E: xxx")


def test_watch_in_a_pipe_stops_when_nothing_is_left_to_run(store):
    store.insert_jobs([{"jobman.experiment": EXP, "n_hidden": 1}])
    drive(store, st.DONE, best_validation_loss=0.5)
    out = io.StringIO()
    assert watch(lambda: store.clone(), 0.1, out=out, tty=False) == 0
    text = out.getvalue()
    assert text.count("=== ") == 1 and "table jobs: 1 job\n" in text
    assert "\x1b[" not in text  # no screen control codes in a pipe


def test_watch_in_a_pipe_prints_only_on_change(store):
    """Snapshots that differ only by the clock are not repeated; a change (a job starts) is shown."""
    store.insert_jobs([{"jobman.experiment": EXP, "n_hidden": 1}])
    out = io.StringIO()
    done: list[int] = []
    watcher = threading.Thread(target=lambda: done.append(
        watch(lambda: store.clone(), 0.1, out=out, tty=False, max_snapshots=2)))
    watcher.start()
    time.sleep(0.8)  # about 8 refreshes of an unchanged table
    assert out.getvalue().count("=== ") == 1 and "START 1" in out.getvalue()
    with store.clone() as other:
        drive(other, st.RUNNING, epoch=1)
    watcher.join(timeout=10)
    assert done == [0]
    second = out.getvalue().split("=== ")[-1]
    assert out.getvalue().count("=== ") == 2 and "RUNNING 1" in second


def test_watch_on_a_terminal_ends_once_nothing_can_change(store):
    store.insert_jobs([{"jobman.experiment": EXP, "n_hidden": 1}])
    drive(store, st.DONE, best_validation_loss=0.5)
    out = io.StringIO()
    assert watch(lambda: store.clone(), 0.1, out=out, tty=True) == 0
    assert out.getvalue().count("\x1b[H\x1b[2J") == 1
    assert out.getvalue().endswith("nothing waiting or running: watch ended\n")


def test_watch_on_a_terminal_redraws_the_screen(store):
    out = io.StringIO()
    watch(lambda: store.clone(), 0.1, out=out, tty=True, max_snapshots=1)
    assert out.getvalue().startswith("\x1b[H\x1b[2J") and "(every 0.1s, ^C to stop)" in out.getvalue()


def test_watch_in_a_pipe_gives_up_on_an_unreachable_database():
    def unreachable():
        raise DatabaseError("cannot connect to postgresql://u@h/db?table=t")

    out = io.StringIO()
    with pytest.raises(DatabaseError):
        watch(unreachable, 0.1, out=out, tty=False)
    assert out.getvalue().count("database unreachable (cannot connect") == MAX_WATCH_FAILURES - 1


@pytest.mark.parametrize("interval", [0.0, -1.0, float("nan"), float("inf")])
def test_watch_refuses_a_bad_interval(interval):
    with pytest.raises(UsageError, match="invalid watch interval"):
        watch(lambda: None, interval, out=io.StringIO())


# -- pace (issue 19, item 9) -------------------------------------------------------------------------

def test_pace_from_the_recorded_times():
    """Three jobs ended in the first hour (two DONE taking 10 and 20 minutes, one failed), one runs and
    two wait: 3 jobs/hour, mean job 15m, and 3 left at that pace is one hour."""
    done = [job(1, started=0.0, ended=600.0), job(2, started=600.0, ended=1800.0)]
    failed = [job(3, status=st.ERR_RUN, started=1800.0, ended=1900.0)]
    running = [job(4, status=st.RUNNING, started=3000.0)]
    p = pace_of(done, failed, running, remaining=3, now=3600.0)
    assert (p.elapsed_s, p.finished, p.jobs_per_hour, p.mean_job_s, p.eta_s) == (3600.0, 3, 3.0, 900.0, 3600.0)
    s = Summary(table="t", counts={st.DONE: 2, st.ERR_RUN: 1, st.RUNNING: 1, st.START: 2}, now=3600.0,
                running_total=1, workers_alive=1, pace=p)
    assert "  elapsed 1h00m   3 ended (3 jobs/hour)   mean job 15m00s   ETA 1h00m" in render_summary(s).splitlines()
    over = pace_of(done, failed, [], remaining=0, now=99999.0)  # finished: elapsed stops at the last end
    assert (over.elapsed_s, over.eta_s) == (1900.0, 0.0)
    assert pace_of([], [], [], remaining=4, now=5.0).elapsed_s is None


def test_pace_in_a_table_and_an_eta_unknown_until_a_job_ends(store, ids):
    s = build_summary(store)
    assert s.pace.finished == 5 and s.pace.jobs_per_hour > 0 and s.pace.mean_job_s >= 0
    assert s.workers_alive == 1 and not s.stalled
    fresh = Summary(table="t", counts={st.RUNNING: 1}, now=60.0, running_total=1, workers_alive=1,
                    pace=pace_of([], [], [job(1, status=st.RUNNING, started=0.0)], remaining=1, now=60.0))
    assert "  elapsed 1m00s   0 ended   ETA unknown until a job ends" in render_summary(fresh).splitlines()


def test_jobs_waiting_with_no_worker_say_so(store):
    store.insert_jobs([{"jobman.experiment": EXP, "n_hidden": h} for h in range(4)])
    s = build_summary(store)
    assert s.stalled
    assert any(ln.startswith("  4 waiting, none running: are workers up?") for ln in render_summary(s).splitlines())
    drive(store, st.RUNNING)
    assert not build_summary(store).stalled
    assert build_summary(store, now=time.time() + 2 * LEASE_S).stalled  # its lease expired: no live worker
