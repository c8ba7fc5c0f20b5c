"""The jobs as CSV, as psql's aligned table, and the metric history as CSV: what ``jobman export``
writes and the dashboard serves (the formatting; the command is :mod:`jobstore.cli.export`)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..status import Status
from ..store.base import Job, Store
from ..store.naming import column_name
from . import jobinfo
from .table import align

FIXED_COLUMNS = ("id", "status", "priority")
MAX_TABLE_CELL_CHARS = 60
# Mirrored keys already given by the fixed columns.
_DUPLICATE_KEYS = {"jobman.id", "jobman.status", "jobman.sql.priority"}


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as CSV text: None is empty, floats keep every digit, containers become JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def columns_for(db: Store, jobs: Sequence[Job], wanted: Sequence[str] | None) -> list[str]:
    """The state keys to export: the table's keys in order of first appearance (plus any key a
    job carries that the table's key list lacks), or exactly ``wanted``, each checked."""
    keys = [k for k in db.keys() if k not in _DUPLICATE_KEYS]
    seen = set(keys)
    for job in jobs:
        for k in job.state:
            if k not in seen and k not in _DUPLICATE_KEYS:
                seen.add(k)
                keys.append(k)
    if wanted is None:
        return keys
    for k in wanted:
        if k not in seen and jobinfo.row_key(k) is None:
            raise UsageError(f"unknown key {k!r} in --keys: {jobinfo.unknown_key_hint(keys, k)}")
    return list(wanted)


def neutralise(text: str) -> str:
    """A cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, a tab or
    CR first) prefixed with ``'`` so that it shows as text; numbers (``-0.5``) are left alone."""
    if text[:1] in _FORMULA_STARTS and not _is_number(text):
        return "'" + text
    return text


def to_csv(jobs: Sequence[Job], keys: Sequence[str], raw_formulas: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    safe = (lambda t: t) if raw_formulas else neutralise
    writer.writerow([safe(c) for c in (*FIXED_COLUMNS, *keys)])
    for job in jobs:
        writer.writerow([job.id, Status.name_of(job.status), cell(job.priority),
                         *(safe(cell(jobinfo.value_of(job, k, None))) for k in keys)])
    return buf.getvalue()


def to_table(jobs: Sequence[Job], keys: Sequence[str], fixed: bool = True) -> str:
    """psql's aligned format: a header of view column names, a rule, one line per job, a row count.
    A cell is one line (a newline shows as ``\\n``, an error as its last line), floats have 6
    significant digits and a long value is cut in the middle, so that no row breaks or sprawls."""
    header = [*(FIXED_COLUMNS if fixed else ()), *(column_name(k) for k in keys)]
    rows = [[*((str(j.id), Status.name_of(j.status), _short(j.priority)) if fixed else ()),
             *(_middle(_short(_table_value(j, k))) for k in keys)] for j in jobs]
    numeric = [all(_is_number(r[i]) for r in rows if r[i]) for i in range(len(header))]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    top, *body = align(header, rows, numeric=numeric, sep=" | ", indent=" ", center_header=True)
    lines = [top, "-" + "-+-".join("-" * w for w in widths) + "-", *body]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


def _table_value(job: Job, key: str) -> Any:
    """The value of a table cell: an error (a traceback) as its last line, the exception."""
    value = jobinfo.value_of(job, key, None)
    return jobinfo.one_line(value) if jobinfo.row_key(key) == "error" and isinstance(value, str) else value


def _short(value: Any) -> str:
    """A value for the eye: floats to 6 significant digits (the CSV keeps every digit)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return cell(value)


def _middle(text: str) -> str:
    """A long text cut in the middle, keeping its start and its end (paths, tracebacks, ids)."""
    if len(text) <= MAX_TABLE_CELL_CHARS:
        return text
    head = (MAX_TABLE_CELL_CHARS - 3) // 2
    return text[:head] + "..." + text[-(MAX_TABLE_CELL_CHARS - 3 - head):]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sort_jobs(jobs: Sequence[Job], key: str, desc: bool) -> list[Job]:
    """Jobs ordered by a state key; jobs without it (or with a non-comparable value) last."""
    def rank(job: Job) -> tuple[int, Any]:
        v = job.state.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return (1, 0) if v is None else (0, str(v))
        return (0, -v if desc else v)
    present = [j for j in jobs if j.state.get(key) is not None]
    missing = [j for j in jobs if j.state.get(key) is None]
    kinds = {isinstance(j.state[key], (int, float)) and not isinstance(j.state[key], bool) for j in present}
    if kinds == {False}:
        present.sort(key=lambda j: str(j.state[key]), reverse=desc)
    else:
        present.sort(key=rank)
    return present + missing


METRIC_COLUMNS = ("job", "attempt", "step", "name", "value", "time")


def metrics_csv(db: Store) -> tuple[str, int]:
    """The metric history as long-format CSV, and how many points it holds."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(METRIC_COLUMNS)
    n = 0
    for job, attempt, step, name, value, time in db.metrics.rows():
        writer.writerow([job, attempt, step, name, cell(value), repr(time)])
        n += 1
    return buf.getvalue(), n
