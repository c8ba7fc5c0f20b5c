"""The worker's check that a state can be stored, which also gives the encoding the store writes
(:func:`jobstore.worker.finalstate.encoded`: one encoding per save and per finish)."""
from __future__ import annotations

import datetime

import pytest

from jobstore.store.base import MIRRORED_KEYS
from jobstore.store.codec import encode_state
from jobstore.worker import finalstate


def test_a_storable_state_comes_back_encoded_as_the_store_would():
    flat = {"a": 1, "b": [1.5, "x"], "jobman.status": 2, "jobman.id": 7}
    enc, bad = finalstate.encoded(flat)
    assert bad == {} and enc.state_json == encode_state(flat, MIRRORED_KEYS).state_json
    assert "jobman.status" not in enc.state


def test_the_text_backslash_u0000_is_not_a_nul():
    """A diff or a path may hold the six characters \\u0000: the quick test on the JSON text
    flags it, the key-by-key check clears it, and the state is stored (it was refused once)."""
    flat = {"diff": "+    if '\\\\u0000' in text:", "n": 1}
    enc, bad = finalstate.encoded(flat)
    assert bad == {} and enc is not None and enc.state["diff"] == flat["diff"]
    assert finalstate.check_save(flat).state == enc.state


@pytest.mark.parametrize("value, why", [("a\x00b", "NUL character"), (datetime.date(2026, 1, 1), "date")])
def test_an_unstorable_value_is_named(value, why):
    enc, bad = finalstate.encoded({"ok": 1, "bad": value})
    assert enc is None and list(bad) == ["bad"] and why in bad["bad"]
    with pytest.raises(finalstate.UnstorableState, match=why):
        finalstate.check_save({"ok": 1, "bad": value})


def test_a_nul_in_a_key_is_named():
    enc, bad = finalstate.encoded({"ok": 1, "a\x00b": 2})
    assert enc is None and list(bad) == ["a\x00b"] and "NUL character" in bad["a\x00b"]
