"""The search space language and the sampler adapter, without a database: parsing and its
one-line errors, the points each sampler gives (inside the space; the grid visits every point
once; TPE learns and spreads out around running trials), and that importing jobstore leaves
Optuna unimported."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jobstore.errors import ParamError, UsageError
from jobstore.search import samplers
from jobstore.search.samplers import Trial, ask
from jobstore.search.space import (
    Dimension,
    grid_size,
    is_dimension,
    parse_dimension,
    parse_space,
    split_tokens,
)
from tests.experiments.search_exps import branin_value
from tests.helpers.paths import ROOT

SPACE = ["lr~loguniform(1e-4,1e-1)", "n_hidden~int(10,200)", "act~choice(tanh,relu)", "drop~uniform(0,0.5)"]


def test_parse_each_kind():
    dims = parse_space(SPACE)
    assert dims == [Dimension("lr", "loguniform", 1e-4, 1e-1), Dimension("n_hidden", "int", 10, 200),
                    Dimension("act", "choice", choices=("tanh", "relu")), Dimension("drop", "uniform", 0.0, 0.5)]
    assert parse_dimension("k~choice(1, 0.5, x)").choices == (1, 0.5, "x")
    assert [Dimension.from_json(d.to_json()) for d in dims] == dims


def test_dimensions_are_told_from_parameters():
    assert split_tokens(["a=1", "b~int(1,2)", "path=~/data", "conf/x.conf"]) == (
        ["a=1", "path=~/data", "conf/x.conf"], ["b~int(1,2)"])
    assert not is_dimension("lr:=@numpy.random.uniform(0,1)")


@pytest.mark.parametrize("token, message", [
    ("x~uniform(2,1)", "empty range in 'x~uniform(2,1)'"),
    ("x~int(3,3)", "empty range"),
    ("x~logint(0,5)", "a log scale needs low > 0"),
    ("x~uniform(a,1)", "bad bound 'a'"),
    ("x~uniform(1)", "uniform takes two bounds"),
    ("x~gauss(0,1)", "unknown distribution 'gauss'"),
    ("x~uniform 0,1", "malformed search dimension"),
    ("x~choice(a,,b)", "empty choice"),
    ("x~choice(a,a)", "repeated choice"),
])
def test_bad_dimension_names_the_token(token, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_dimension(token)


def test_key_twice_is_refused():
    with pytest.raises(ParamError, match="'x' given twice"):
        parse_space(["x~int(1,2)", "x~uniform(0,1)"])


def test_grid_size_and_grid_checks():
    assert grid_size(parse_space(["a~int(1,3)", "b~choice(x,y)"])) == 6
    assert grid_size(parse_space(["a~uniform(1,3)"])) is None
    with pytest.raises(UsageError, match="exceeds the grid's 6 points"):
        samplers.check_sampler("grid", parse_space(["a~int(1,3)", "b~choice(x,y)"]), 7)


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_points_lie_in_the_space(sampler):
    dims = parse_space(SPACE)
    history: list[Trial] = []
    for _ in range(15):
        p = ask(dims, sampler, "minimize", history, seed=3)
        assert 1e-4 <= p["lr"] <= 1e-1 and isinstance(p["n_hidden"], int) and 10 <= p["n_hidden"] <= 200
        assert p["act"] in ("tanh", "relu") and 0 <= p["drop"] <= 0.5
        history.append(Trial(p, samplers.COMPLETE, p["lr"] * p["n_hidden"]))


def test_grid_visits_every_point_once_running_ones_included():
    dims = parse_space(["a~int(1,3)", "b~choice(x,y)"])
    history: list[Trial] = []
    for _ in range(6):
        history.append(Trial(ask(dims, "grid", "minimize", history, seed=5), samplers.RUNNING))
    assert sorted((t.params["a"], t.params["b"]) for t in history) == [
        (a, b) for a in (1, 2, 3) for b in ("x", "y")]


def test_seeded_asks_are_reproducible_and_move_on():
    dims = parse_space(["x1~uniform(-5,10)", "x2~uniform(0,15)"])
    first = ask(dims, "tpe", "minimize", [], seed=11)
    assert ask(dims, "tpe", "minimize", [], seed=11) == first
    assert ask(dims, "tpe", "minimize", [], seed=11, attempt=1) != first


def _branin_history(sampler: str, n: int, seed: int) -> list[Trial]:
    dims = parse_space(["x1~uniform(-5,10)", "x2~uniform(0,15)"])
    history: list[Trial] = []
    for _ in range(n):
        p = ask(dims, sampler, "minimize", history, seed=seed)
        history.append(Trial(p, samplers.COMPLETE, branin_value(p["x1"], p["x2"])))
    return history


def test_tpe_learns_from_finished_trials():
    # After its 10 random start-up trials TPE samples near the good points: the median of its
    # last 20 values is below that of 20 random draws, for the same seed.
    tpe = sorted(t.value for t in _branin_history("tpe", 30, seed=2)[10:] if t.value is not None)
    rnd = sorted(t.value for t in _branin_history("random", 30, seed=2)[10:] if t.value is not None)
    assert tpe[10] < rnd[10]


def test_running_trials_count_for_tpe():
    # Constant liar: a running trial changes what TPE asks next (without it, running trials are
    # ignored and both asks below, with the same seed, would give the same point).
    history = _branin_history("tpe", 20, seed=4)
    dims = parse_space(["x1~uniform(-5,10)", "x2~uniform(0,15)"])
    nxt = ask(dims, "tpe", "minimize", [*history, Trial({"x1": -5.0, "x2": 15.0}, samplers.RUNNING)], seed=9)
    assert ask(dims, "tpe", "minimize", [*history, Trial(nxt, samplers.RUNNING)], seed=9) != nxt


def test_importing_jobstore_does_not_import_optuna():
    code = ("import sys, jobstore, jobstore.store, jobstore.worker.loop, jobstore.cli.sqlsearch, "
            "jobstore.report.summary; print('optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
