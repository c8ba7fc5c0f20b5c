"""``jobman plot``'s figures (jobstore/report/plots.py, matplotlib), read back with Pillow: the
embedded data, markers where it says, log axes for values spanning decades, learning curves,
deterministic bytes, and the one-line error when matplotlib is missing."""
from __future__ import annotations

import json
import sys

import pytest

from jobstore.errors import UsageError
from jobstore.report import plots
from jobstore.report.plots import Point, curves_png, scatter_png
from tests.helpers.png import close, color_at, read_png


def test_scatter_embeds_its_data_and_draws_a_marker_at_each_point():
    points = [Point(10 + i, 10.0 ** (-5 + i / 3), 0.5 - 0.03 * i) for i in range(12)]
    data, meta = scatter_png(points, title="loss vs lr", xlabel="lr", ylabel="loss", width=640, height=480)
    pixels, texts = read_png(data)
    assert pixels.shape == (480, 640, 3)
    stored = json.loads(texts[plots.TEXT_KEY])
    assert stored == meta and stored["x"]["log"] is True and stored["y"]["log"] is False
    assert [(p["id"], p["x"], p["y"]) for p in stored["points"]] == [(p.id, p.x, p.y) for p in points]
    for p in stored["points"]:
        assert close(color_at(pixels, p["px"], p["py"]), plots.MARKER)
    pxs = [p["px"] for p in stored["points"]]
    gaps = [b - a for a, b in zip(pxs, pxs[1:])]
    assert max(gaps) - min(gaps) <= 2  # evenly spread decades: a log axis
    pys = [p["py"] for p in stored["points"]]
    assert pys == sorted(pys)  # loss decreasing: lower on the image


def test_colour_scale_and_determinism():
    points = [Point(i, float(i), float(i * i), c=float(10 * (1 + i % 3))) for i in range(1, 9)]
    kw = dict(title="t", xlabel="x", ylabel="y", clabel="n_hidden")
    first, meta = scatter_png(points, **kw)
    assert first == scatter_png(points, **kw)[0]
    pixels, _ = read_png(first)
    assert meta["c"] == {"name": "n_hidden", "log": False}
    for p in meta["points"]:
        assert close(color_at(pixels, p["px"], p["py"]), p["rgb"])
    assert len({tuple(p["rgb"]) for p in meta["points"]}) == 3


@pytest.mark.parametrize("points, kw, match", [
    ([], {}, "nothing to plot"),
    ([Point(1, 0.0, 1.0), Point(2, 1.0, 2.0)], {"logx": True}, "log scale for x needs positive"),
    ([Point(1, 1.0, float("nan"))], {}, "non-finite y"),
    ([Point(1, 1.0, 1.0)], {"width": 10}, "image size 10x600"),
])
def test_bad_input(points, kw, match):
    with pytest.raises(ValueError, match=match):
        scatter_png(points, title="t", xlabel="x", ylabel="y", **kw)


def test_learning_curves():
    series = {3: [(e, 1.0 / (e + 1)) for e in range(10)], 5: [(e, 10.0 / (e + 1)) for e in range(6)] + [(6, None)]}
    data, meta = curves_png(series, metric="valid_loss", title="curves")
    pixels, texts = read_png(data)
    stored = json.loads(texts[plots.TEXT_KEY])
    assert stored == meta and stored["metric"] == "valid_loss"
    assert [len(stored["curves"][k]) for k in ("3", "5")] == [10, 6]  # the None point left out
    assert stored["y"]["log"] is True  # 0.1 .. 10
    assert pixels.shape == (plots.DEFAULT_HEIGHT_PX, plots.DEFAULT_WIDTH_PX, 3)
    with pytest.raises(ValueError, match="nothing to plot"):
        curves_png({1: [(0, None)]}, metric="m", title="t")


def test_without_matplotlib_a_one_line_error_names_the_extra(monkeypatch):
    # matplotlib is installed here; hiding it from the import system stands in for its absence
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=r"needs matplotlib.*jobman-ng\[plot\]"):
        scatter_png([Point(1, 1.0, 1.0)], title="t", xlabel="x", ylabel="y")
