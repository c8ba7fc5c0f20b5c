"""The PNG scatter-plot writer, checked by decoding its output with tests.helpers.png (zlib +
struct, independently of the writer): chunk structure and CRCs, image size, the marker pixels
against the embedded data."""
from __future__ import annotations

import json
import math

import pytest

from jobstore.report import png
from jobstore.report.png import Point, scatter_png
from tests.helpers.png import blobs_of_color, decode_png


def test_structure_size_and_one_marker_per_point():
    points = [Point(10 + i, float(i), 0.5 + 0.03 * i) for i in range(12)]
    data, meta = scatter_png(points, title="test_score vs n_hidden", xlabel="n_hidden", ylabel="test_score",
                             width=640, height=480)
    pixels, texts, kinds = decode_png(data)
    assert pixels.shape == (480, 640, 3)
    assert kinds.count(b"IDAT") == 1 and b"tIME" not in kinds
    stored = json.loads(texts[png.TEXT_KEY])
    assert stored == meta
    assert [p["id"] for p in stored["points"]] == [p.id for p in points]
    assert [(p["x"], p["y"]) for p in stored["points"]] == [(p.x, p.y) for p in points]
    blobs = blobs_of_color(pixels, png.MARKER)
    assert len(blobs) == len(points)
    centres = {(p["px"], p["py"]) for p in stored["points"]}
    for blob in blobs:  # every blob holds exactly one recorded centre
        assert len(blob & centres) == 1
    # x grows to the right, y grows upwards
    pxs = [p["px"] for p in stored["points"]]
    pys = [p["py"] for p in stored["points"]]
    assert pxs == sorted(pxs) and len(set(pxs)) == len(pxs)
    assert pys == sorted(pys, reverse=True)


def test_deterministic_bytes():
    points = [Point(i, i * 1.5, math.sin(i)) for i in range(1, 30)]
    kw = dict(title="t", xlabel="x", ylabel="y")
    assert scatter_png(points, **kw)[0] == scatter_png(list(points), **kw)[0]


def test_log_axis_when_values_span_decades_and_colour_scale():
    lrs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    hidden = [10, 20, 30, 50, 100, 150]
    points = [Point(i + 1, lr, 0.02 + 0.01 * i, h) for i, (lr, h) in enumerate(zip(lrs, hidden))]
    data, meta = scatter_png(points, title="loss", xlabel="learning_rate", ylabel="loss", clabel="n_hidden")
    pixels, texts, _ = decode_png(data)
    stored = json.loads(texts[png.TEXT_KEY])
    assert stored["x"]["log"] is True and stored["y"]["log"] is False and stored["c"]["log"] is False
    pxs = [p["px"] for p in stored["points"]]
    gaps = [b - a for a, b in zip(pxs, pxs[1:])]
    assert max(gaps) - min(gaps) <= 1  # decades are equally spaced on a log axis
    for p in stored["points"]:
        assert tuple(pixels[p["py"], p["px"]]) == tuple(p["rgb"])
        assert p["c"] == hidden[p["id"] - 1]
    first, last = stored["points"][0]["rgb"], stored["points"][-1]["rgb"]
    assert first != last
    # low values at the dark end of the scale, high values at the bright end
    assert sum(first) < sum(last)


def test_forced_linear_axis_and_forced_log():
    points = [Point(1, 1e-6, 1.0), Point(2, 1e-1, 2.0)]
    _, meta = scatter_png(points, title="t", xlabel="x", ylabel="y", logx=False, logy=True)
    assert meta["x"]["log"] is False and meta["y"]["log"] is True


def test_single_point_and_equal_values():
    data, meta = scatter_png([Point(7, 3.0, 3.0), Point(8, 3.0, 3.0)], title="t", xlabel="x", ylabel="y")
    pixels, _, _ = decode_png(data)
    p = meta["points"][0]
    assert tuple(pixels[p["py"], p["px"]]) == png.MARKER


@pytest.mark.parametrize("points, kw, match", [
    ([], {}, "nothing to plot"),
    ([Point(1, float("nan"), 1.0)], {}, "non-finite"),
    ([Point(1, -1.0, 1.0), Point(2, 1.0, 2.0)], {"logx": True}, "positive"),
    ([Point(1, 1.0, 1.0)], {"width": 10}, "image size"),
    ([Point(1, 1.0, 1.0)], {"clabel": "c"}, "colour value"),
])
def test_bad_input(points, kw, match):
    with pytest.raises(ValueError, match=match):
        scatter_png(points, title="t", xlabel="x", ylabel="y", **kw)


def test_font_and_tick_labels():
    assert png.text_mask("ab1").shape == (7, 3 * 6 - 1)
    assert png.text_width("ab1", 2) == 2 * (3 * 6 - 1)
    assert (png.text_mask("~") == png.text_mask("?")).all()
    assert (png.text_mask("e") == png.text_mask("E")).all()
    assert png.format_tick(1e-5) == "1E-5"
    assert png.format_tick(0.05, 0.01) == "0.05"
    assert png.format_tick(120.0, 20.0) == "120"
    assert png.format_tick(0) == "0"
    assert png.format_tick(2.5e6) == "2.5E6"


def test_linear_ticks_are_round_numbers_inside_the_axis():
    axis = png.make_axis([0.021, 0.149], False, 0, 500)
    assert len(axis.ticks) >= 3
    for t in axis.ticks:
        assert axis.lo <= t <= axis.hi
        assert float(axis.label(t)) == pytest.approx(t)
