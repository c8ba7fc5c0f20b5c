"""Jobman's view column names, the value codec and the query files (no server)."""
from __future__ import annotations

import math

import pytest

from jobstore.errors import UsageError
from jobstore.store import queries as _queries
from jobstore.store.codec import decode_state, encode_state, json_candidates, state_hash, widen
from jobstore.store.naming import MAX_COLUMN_BYTES, column_name, column_names


@pytest.mark.parametrize("key, column", [
    ("best_validation_loss", "bestvalidationloss"),
    ("jobman.status", "jobman_status"),
    ("jobman.sql.host_workdir", "jobman_sql_hostworkdir"),
    ("jobman.sql.priority", "jobman_sql_priority"),
    ("n_hidden", "nhidden"),
    ("L1_reg", "l1reg"),
    ("a.b_c.d", "a_bc_d"),
])
def test_jobman_rule(key, column):
    assert column_name(key) == column


def test_collisions_get_a_type_suffix_then_a_number():
    cols = column_names([("ab", "bigint"), ("a_b", "bigint"), ("a__b", "double precision"), ("a___b", "bigint")])
    assert [c for c, _, _ in cols] == ["ab", "ab_i", "ab_f", "ab_i2"]


def test_reserved_names_and_case_are_respected():
    cols = column_names([("id", "bigint"), ("ID", "text"), ("x", "text")], taken=["id", "jobman_status"])
    assert [c for c, _, _ in cols] == ["id_i", "id_s", "x"]


def test_long_keys_fit_postgres_identifiers():
    key = "a" * 100
    other = "a" * 99 + "b"
    (c1, _, _), (c2, _, _) = column_names([(key, "text"), (other, "text")])
    assert len(c1.encode()) <= MAX_COLUMN_BYTES and len(c2.encode()) <= MAX_COLUMN_BYTES
    assert c1 != c2


def test_codec_round_trip_of_what_json_cannot_hold():
    flat = {"inf": math.inf, "ninf": -math.inf, "tuple": (1, (2, 3.5), [math.inf]), "set": {3, 1},
            "bytes": b"\x00\xff", "nested": {"t": (1,), "s": "x"}, "intkeys": {1: "a"}, "b": True,
            "none": None, "q": "it's \"quoted\"; drop table x"}
    enc = encode_state(flat)
    back = decode_state(enc.state_json, enc.tags_json)
    assert back == flat
    assert type(back["tuple"]) is tuple and type(back["tuple"][1]) is tuple and type(back["tuple"][2]) is list
    assert type(back["b"]) is bool
    nan = decode_state(*(lambda e: (e.state_json, e.tags_json))(encode_state({"x": math.nan})))["x"]
    assert math.isnan(nan)


def test_plain_states_have_no_tags_and_stable_hashes():
    a = encode_state({"x": 1, "y": [1, 2], "z": {"k": "v"}})
    b = encode_state({"z": {"k": "v"}, "y": [1, 2], "x": 1})
    assert a.tags is None
    assert state_hash("m.f", a) == state_hash("m.f", b)
    assert state_hash("m.f", a) != state_hash("m.g", a)
    assert state_hash("m.f", encode_state({"y": (1, 2)})) != state_hash("m.f", encode_state({"y": [1, 2]}))
    assert state_hash("m.f", encode_state({"x": 1})) != state_hash("m.f", encode_state({"x": 1.0}))


def test_unstorable_value_names_the_key():
    with pytest.raises(UsageError, match="'obj'.*object"):
        encode_state({"obj": object()})


def test_type_widening():
    assert widen("bigint", "double precision") == "double precision"
    assert widen("null", "text") == "text"
    assert widen("bigint", "null") == "bigint"
    assert widen("bigint", "text") == "jsonb"
    assert widen("boolean", "bigint") == "jsonb"


def test_select_candidates_are_lenient_like_jobman():
    assert json_candidates(1) == [1, True]
    assert json_candidates(True) == [True, 1]
    assert json_candidates("0.5") == ["0.5", 0.5]
    assert json_candidates(2.0) == [2.0, 2]


def test_both_dialects_define_the_same_queries():
    pg, lite = _queries.load("postgres"), _queries.load("sqlite")
    assert set(pg) - _queries.OPTIONAL == set(lite) - _queries.OPTIONAL
    assert {"claim", "reap", "heartbeat", "save", "finish", "insert_from_tmp", "create_schema"} <= set(pg)


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_queries_are_rendered_when_first_used_and_each_renders(dialect):
    names = {"table": "t", "meta": "t__meta"}
    rendered = _queries.render_all(dialect, names, lambda n: f'"{n}"')
    raw = _queries.load(dialect)
    assert set(rendered) == set(raw) and len(rendered) == len(raw)
    assert "claim" in rendered and "no_such_query" not in rendered
    assert rendered._done == {}  # nothing rendered before it is asked for
    claim = rendered["claim"]
    assert rendered._done == {"claim": claim} and rendered["claim"] is claim
    assert '"t"' in claim and "{table}" not in claim and "{claimable}" not in claim
    for name in raw:  # every query renders: its identifiers and fragments are all substituted
        text = rendered[name]
        assert "{table}" not in text and "{now}" not in text and "{job_columns}" not in text, name
    with pytest.raises(KeyError):
        rendered["no_such_query"]
