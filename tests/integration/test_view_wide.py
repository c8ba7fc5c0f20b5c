"""Issue 14, item 8 (second part): a table with more keys than a view can have columns (PostgreSQL
refuses a select list past 1,664 entries) keeps working views. The first VIEW_MAX_KEY_COLUMNS keys,
in the order they were first stored, get their columns; the rest are in one JSON column,
``extra_keys``, and later rebuilds (new keys) keep working. Both dialects."""
from __future__ import annotations

import json

from jobstore.store import open_db
from jobstore.store.views import EXTRA_KEYS_COLUMN, VIEW_MAX_KEY_COLUMNS
from tests.helpers.rawsql import raw_query

N_KEYS = 1700


def _extra(url: str, view: str, key: str, job_id: int) -> object:
    """The value of ``key`` in the view's extra_keys column, read as a user would."""
    [(text,)] = raw_query(url, f"SELECT {EXTRA_KEYS_COLUMN} FROM {view} WHERE id = %s", (job_id,))
    return (json.loads(text) if isinstance(text, str) else text)[key]


def test_a_view_past_the_column_cap_builds_and_keeps_the_rest_in_extra_keys(db_url):
    wide = {f"k{i:04d}": i for i in range(N_KEYS)}
    with open_db(db_url) as store:
        [first] = store.insert_jobs([{"jobman.experiment": "x.y", **wide, "note": "it's", "flag": True}])
        columns = store.create_view("wide")
    keyed = [c for c in columns if c.startswith("k")]
    assert keyed == [f"k{i:04d}" for i in range(VIEW_MAX_KEY_COLUMNS)]  # the first keys stored, in order
    assert EXTRA_KEYS_COLUMN in columns and "note" not in columns
    assert raw_query(db_url, "SELECT k0000, k0999 FROM wide") == [(0, 999)]
    assert _extra(db_url, "wide", "k1500", first.job_id) == 1500
    assert _extra(db_url, "wide", "note", first.job_id) == "it's"
    assert _extra(db_url, "wide", "flag", first.job_id) is True

    with open_db(db_url) as store:  # a new key rebuilds the registered view, which keeps its columns
        [second] = store.insert_jobs([{"jobman.experiment": "x.y", "k0001": -1, "late": 2.5}])
        again = store.create_view("wide")
    assert again == columns
    assert raw_query(db_url, "SELECT id, k0001 FROM wide ORDER BY id") == [(first.job_id, 1), (second.job_id, -1)]
    assert _extra(db_url, "wide", "late", second.job_id) == 2.5
    assert raw_query(db_url, f"SELECT count(*) FROM wide WHERE {EXTRA_KEYS_COLUMN} IS NULL") == [(0,)]


def test_a_view_below_the_cap_has_no_extra_keys_column(db_url):
    with open_db(db_url) as store:
        store.insert_jobs([{"jobman.experiment": "x.y", "a": 1, "b": "two"}])
        columns = store.create_view("narrow")
    assert EXTRA_KEYS_COLUMN not in columns and {"a", "b"} <= set(columns)
