"""Jobman's parameter syntax: typing, conf files, includes, prefixes, ':=', '::' and the errors."""
from __future__ import annotations

import math
import textwrap

import pytest

from jobstore.errors import ExperimentError, ParamError
from jobstore.params.parser import ParamParser, convert, parse_params, parse_select, strip_comment
from jobstore.params.resolve import experiment_name, resolve, resolve_experiment


# -- typing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("1", 1), ("-3", -3), ("2.5", 2.5), ("1e-3", 0.001), ("0.00", 0.0),
    ("True", True), ("False", False), ("None", None),
    ("[1, 2]", [1, 2]), ("1,2", (1, 2)), ("(1, 'a')", (1, "a")), ("{'a': 1}", {"a": 1}),
    ("'x'", "x"), ('"hello world"', "hello world"), ("'x#y'", "x#y"),
    ("hello", "hello"), ("a.b", "a.b"), ("x y", "x y"), ("", ""),
    ("2+3", "2+3"), ("010", "010"), ("max", "max"), ("__import__('os')", "__import__('os')"),
    ("{1, 2}", "{1, 2}"), ("b'x'", "b'x'"), ("1j", "1j"),
    ("[1, inf]", [1, math.inf]),
])
def test_convert(text, expected):
    got = convert(text)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("text,sign", [("inf", 1), ("-inf", -1), ("+inf", 1)])
def test_convert_infinities(text, sign):
    v = convert(text)
    assert isinstance(v, float) and math.isinf(v) and (v > 0) == (sign > 0)


def test_convert_nan_and_bool_is_not_int():
    assert math.isnan(convert("nan"))
    assert convert("True") is True


def test_convert_runs_no_code(tmp_path):
    marker = tmp_path / "ran"
    assert convert(f"open({str(marker)!r}, 'w')") == f"open({str(marker)!r}, 'w')"
    assert not marker.exists()


# -- tokens -------------------------------------------------------------------------------------------
def test_key_value_forms():
    got = parse_params(["a=1", " b = x ", "c.d='hello'", "q==3", "m::pkg.Builder", "e="])
    assert got == {"a": 1, "b": "x", "c.d": "hello", "q": "=3", "m.__builder__": "pkg.Builder", "e": ""}


def test_colon_equals_evaluated_at_parse_time():
    got = parse_params(["x:=2+3", "y:=@math.sqrt(16)", "z:=[i*i for i in range(3)]", "w:=-inf"])
    assert got == {"x": 5, "y": 4.0, "z": [0, 1, 4], "w": -math.inf}


def test_colon_equals_numpy_values_become_plain():
    got = parse_params(["lr:=@numpy.random.uniform(1e-6, 1e-1)", "n:=@numpy.int64(7)",
                        "v:=@numpy.arange(3)"])
    assert type(got["lr"]) is float and 1e-6 <= got["lr"] <= 1e-1
    assert type(got["n"]) is int and got["n"] == 7
    assert got["v"] == [0, 1, 2]


def test_each_evaluation_draws_again():
    p = ParamParser()
    compiled = p.compile(["lr:=@random.random()"])
    draws = {p.evaluate(compiled)["lr"] for _ in range(20)}
    assert len(draws) > 1


def test_last_assignment_wins(tmp_path):
    f = tmp_path / "f.conf"
    f.write_text("a = 1\nb = 2\n")
    assert parse_params([str(f), "b=10"]) == {"a": 1, "b": 10}
    assert parse_params(["b=10", str(f)]) == {"a": 1, "b": 2}


# -- files --------------------------------------------------------------------------------------------
def test_tutorial_conf(tmp_path):
    (tmp_path / "mlp_jobman.conf").write_text(
        "learning_rate=0.01\nL1_reg=0.00\nL2_reg=0.0001\nn_iter=50\nbatch_size=20\nn_hidden=10\n")
    got = parse_params(["mlp_jobman.conf", "n_hidden=20"], cwd=str(tmp_path))
    assert got == {"learning_rate": 0.01, "L1_reg": 0.0, "L2_reg": 0.0001, "n_iter": 50,
                   "batch_size": 20, "n_hidden": 20}


def test_comments_blank_lines_and_quotes(tmp_path):
    f = tmp_path / "c.conf"
    f.write_text(textwrap.dedent("""\
        # a comment
        a = 1   # trailing comment

        c = "x#y"   # the '#' in quotes is kept
        d = 'it''s' # adjacent literals
        e = plain#comment
    """))
    assert parse_params([str(f)]) == {"a": 1, "c": "x#y", "d": "its", "e": "plain"}
    assert strip_comment("a = 'q\\'#' # c") == "a = 'q\\'#' "


def test_includes_prefixes_and_relative_paths(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inner.conf").write_text("k = 1\nlr := 0.5 * 2\n")
    (sub / "outer.conf").write_text("opt <- inner.conf\nname = outer\ninner.conf\nk = 3\n")
    (tmp_path / "top.conf").write_text("model <- sub/outer.conf\nz = 0\n")
    got = parse_params(["top.conf", "x <- y <- sub/inner.conf", "w <- v=1"], cwd=str(tmp_path))
    assert got == {"model.opt.k": 1, "model.opt.lr": 1.0, "model.name": "outer", "model.k": 3,
                   "model.lr": 1.0, "z": 0, "x.y.k": 1, "x.y.lr": 1.0, "w.v": 1}


def test_include_depth_first_order(tmp_path):
    (tmp_path / "a.conf").write_text("x = a\nb.conf\ny = a\n")
    (tmp_path / "b.conf").write_text("x = b\ny = b\nz = b\n")
    assert parse_params(["a.conf", "z=cmd"], cwd=str(tmp_path)) == {"x": "b", "y": "a", "z": "cmd"}


def test_a_value_may_contain_arrow():
    assert parse_params(["a=x<-y"]) == {"a": "x<-y"}


# -- errors -------------------------------------------------------------------------------------------
def _err(args, cwd=None) -> str:
    with pytest.raises(ParamError) as e:
        parse_params(args, cwd=cwd)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_malformed_parameter():
    msg = _err(["a.b:c=1"])
    assert "'a.b:c=1'" in msg and "key=value" in msg
    assert "empty key" in _err(["=3"])


def test_bare_word_is_a_missing_conf_file(tmp_path):
    msg = _err(["n_hidden20"], cwd=str(tmp_path))
    assert "no conf file 'n_hidden20'" in msg and "key=value" in msg


def test_missing_nested_conf_file_names_the_including_line(tmp_path):
    (tmp_path / "a.conf").write_text("x = 1\nmissing.conf\n")
    msg = _err(["a.conf"], cwd=str(tmp_path))
    assert "'missing.conf'" in msg and "a.conf:2" in msg


def test_include_cycle(tmp_path):
    (tmp_path / "a.conf").write_text("b.conf\n")
    (tmp_path / "b.conf").write_text("p <- a.conf\n")
    msg = _err(["a.conf"], cwd=str(tmp_path))
    assert "include cycle" in msg and "a.conf -> " in msg and "b.conf" in msg


def test_failing_expression_is_quoted_with_its_exception():
    msg = _err(["x:=1/0"])
    assert "'x:=1/0'" in msg and "ZeroDivisionError" in msg
    assert "SyntaxError" in _err(["x:=(1"])
    msg = _err(["lr:=@numpy.random.unifrm(1, 2)"])
    assert "numpy.random.unifrm" in msg and "'lr:=@numpy.random.unifrm(1, 2)'" in msg


def test_bad_includes():
    assert "nothing after '<-'" in _err(["x <- "])
    assert "malformed include" in _err(["<- f.conf"])


def test_parse_select():
    assert parse_select("n_hidden=20") == ("n_hidden", 20)
    assert parse_select("name=it's") == ("name", "it's")
    with pytest.raises(ParamError):
        parse_select("nokey")


# -- resolve ------------------------------------------------------------------------------------------
def test_resolve():
    import os.path

    assert resolve("os.path.join") is os.path.join
    assert resolve("os.path") is os.path
    assert resolve_experiment("jobstore.params.state.flatten").__name__ == "flatten"


@pytest.mark.parametrize("name,part", [
    ("nosuchmodule_xyz.experiment", "no module named 'nosuchmodule_xyz'"),
    ("os.path.nosuchfn", "'os.path' has no attribute 'nosuchfn'"),
    ("os.path", "not callable"),
    ("not a name", "invalid experiment"),
])
def test_resolve_experiment_errors(name, part):
    with pytest.raises(ExperimentError) as e:
        resolve_experiment(name)
    assert part in str(e.value) and repr(name) in str(e.value)


def test_resolve_reports_errors_inside_the_module(tmp_path, monkeypatch):
    (tmp_path / "broken_exp_mod.py").write_text("import nosuchdep_abc\ndef experiment(s, c): pass\n")
    (tmp_path / "raising_exp_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExperimentError, match="nosuchdep_abc"):
        resolve_experiment("broken_exp_mod.experiment")
    with pytest.raises(ExperimentError, match="RuntimeError: boom"):
        resolve_experiment("raising_exp_mod.experiment")


def test_experiment_name():
    from jobstore.params.state import flatten

    assert experiment_name(flatten) == "jobstore.params.state.flatten"
    assert experiment_name("jobstore.params.state.flatten") == "jobstore.params.state.flatten"
    with pytest.raises(ExperimentError):
        experiment_name(lambda s, c: None)


def test_plans_give_the_same_state_as_evaluate(tmp_path):
    (tmp_path / "f.conf").write_text("a = 1\nb = [1, 2]\nc := 2 * 3\nm::pkg.B\na = 2\n")
    args = ["f.conf", "c=7", "d:=@math.floor(2.5)", "b=x"]
    p = ParamParser(str(tmp_path))
    via_plans = p.evaluate_plans([p.plan([a]) for a in args])
    assert via_plans == p.parse(args) == {"a": 2, "b": "x", "c": 7, "m.__builder__": "pkg.B", "d": 2}
    assert list(via_plans) == list(p.parse(args))
    s1 = p.evaluate_plans([p.plan(["f.conf"])])
    s1["b"].append(3)  # a list value is copied for every job
    assert p.evaluate_plans([p.plan(["f.conf"])])["b"] == [1, 2]
