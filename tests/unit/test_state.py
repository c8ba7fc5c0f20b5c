"""``flatten`` and ``expand`` between the nested state an experiment sees and the flat, dotted keys
of the table: inverse of each other, and a key that is both a value and a prefix refused whatever
the order (``expand`` remembers the nodes it made, so that a key sharing a prefix with an earlier
one does not walk the tree again: these cases pin that down)."""
from __future__ import annotations

import itertools
from collections import OrderedDict

import pytest

from jobstore.params.state import DD, expand, flatten

FLAT = {"i": 0, "jobman.sql.pid": 7, "jobman.sql.host": "h", "jobman.id": 3, "a.b.c": 1.5, "a.b.d": [1, 2],
        "a.e": None, "empty": {}, "odd": {1: "x"}, "t": (1, "y")}


def test_flatten_inverts_expand():
    state = expand(FLAT)
    assert isinstance(state, DD) and isinstance(state.jobman.sql, DD)
    assert state.jobman.sql.pid == 7 and state.a.b.c == 1.5 and state.empty == {} and state.odd == {1: "x"}
    assert flatten(state) == FLAT
    assert flatten(OrderedDict(x=OrderedDict(y=1))) == {"x.y": 1}  # any Mapping is walked


@pytest.mark.parametrize("keys", [("a.b.c", "a.b.d", "a.b"), ("a.b", "a.c", "a"), ("a", "a.b"),
                                  ("a.b", "a.b.c.d"), ("x.y", "x.y.z", "x.w")])
def test_a_key_that_is_a_value_and_a_prefix_is_refused_in_any_order(keys):
    for order in itertools.permutations(keys):
        with pytest.raises(TypeError, match="conflicts with"):
            expand({k: 1 for k in order})


def test_an_empty_dict_value_may_gain_keys_below_it():
    assert expand({"a": {}, "a.b": 1}) == {"a": {"b": 1}}
    with pytest.raises(TypeError, match="conflicts with the keys below it"):
        expand({"a.b": 1, "a": {}})
