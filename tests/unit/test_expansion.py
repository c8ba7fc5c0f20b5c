"""{{a,b}} expansion: products across and within arguments, varying args, unbalanced braces."""
from __future__ import annotations

import pytest

from jobstore.errors import ParamError
from jobstore.params.expansion import count_combinations, expand_arg, expand_braces, split_segments


def test_tutorial_example():
    got = expand_braces(["mlp_jobman.conf", "n_hidden={{20,30}}"])
    assert [a for a, _ in got] == [["mlp_jobman.conf", "n_hidden=20"], ["mlp_jobman.conf", "n_hidden=30"]]
    assert [v for _, v in got] == [["n_hidden=20"], ["n_hidden=30"]]


def test_product_first_argument_slowest():
    got = expand_braces(["a={{1,2}}", "b=3", "c={{x,y,z}}"])
    assert [a for a, _ in got] == [
        ["a=1", "b=3", "c=x"], ["a=1", "b=3", "c=y"], ["a=1", "b=3", "c=z"],
        ["a=2", "b=3", "c=x"], ["a=2", "b=3", "c=y"], ["a=2", "b=3", "c=z"],
    ]
    assert got[4][1] == ["a=2", "c=y"]


def test_several_segments_in_one_argument():
    alts, varying = expand_arg("a={{1,2}}_{{3,4}}")
    assert varying
    assert alts == ["a=1_3", "a=1_4", "a=2_3", "a=2_4"]
    got = expand_braces(["x={{p,q}}", "a={{1,2}}_{{3,4}}"])
    assert len(got) == 8
    assert got[0] == (["x=p", "a=1_3"], ["x=p", "a=1_3"])
    assert got[-1] == (["x=q", "a=2_4"], ["x=q", "a=2_4"])


def test_empty_segment_and_empty_items():
    assert expand_arg("a={{}}") == (["a="], True)
    assert expand_arg("a={{,1}}") == (["a=", "a=1"], True)


def test_no_segment_is_unchanged_and_not_varying():
    assert expand_braces(["f.conf", "b=2"]) == [(["f.conf", "b=2"], [])]
    assert expand_braces([]) == [([], [])]


def test_whitespace_inside_segment_is_kept():
    assert expand_arg("cmd={{a b,c}}")[0] == ["cmd=a b", "cmd=c"]


def test_ordinary_braces_are_literal():
    assert expand_arg("x={'a': {'b': 1}}") == (["x={'a': {'b': 1}}"], False)
    assert split_segments("x={'a': {{1,2}}}") == ["x={'a': ", ["1", "2"], "}"]


@pytest.mark.parametrize("arg,what", [
    ("a={{1,2", "unbalanced '{{'"),
    ("a=1,2}}", "unbalanced '}}'"),
    ("a={{1,{{2}}}}", "nested '{{'"),
])
def test_unbalanced(arg, what):
    with pytest.raises(ParamError) as e:
        expand_braces(["ok=1", arg])
    msg = str(e.value)
    assert what in msg and repr(arg) in msg and "\n" not in msg


def test_count_combinations():
    assert count_combinations(["a={{1,2,3}}", "b={{1,2}}_{{3,4}}", "c=1"]) == 12
