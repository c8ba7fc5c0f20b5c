"""``jobman plot``'s figures, drawn with matplotlib (the optional extra ``[plot]``): a scatter of a
result against a hyper-parameter (coloured by a second one), and learning curves from the metric
history. The plotted data is embedded in the PNG as JSON (a ``tEXt`` chunk named ``jobman-plot``),
with each marker's pixel position, so that a reader (or a test) can tell what was drawn where.

An axis whose values are all positive and span two decades or more (:data:`AUTO_LOG_RATIO`) is
drawn on a log scale unless told otherwise. The bytes are deterministic: the same data gives the
same file (no time stamp, a fixed Software entry).
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

TEXT_KEY = "jobman-plot"
DEFAULT_WIDTH_PX = 800
DEFAULT_HEIGHT_PX = 600
MIN_WIDTH_PX = 320
MIN_HEIGHT_PX = 240
MAX_SIDE_PX = 8000
DPI = 100
MARKER = (31, 119, 180)  # matplotlib's first colour (C0): markers without a colour scale
MARKER_SIZE_PT2 = 36.0
AUTO_LOG_RATIO = 100.0
CMAP = "viridis"


@dataclass
class Point:
    """One job on the scatter plot."""

    id: int
    x: float
    y: float
    c: float | None = None


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("jobman plot needs matplotlib: install the extra, pip install 'jobman-ng[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def wants_log(values: Sequence[float]) -> bool:
    """Whether values are all positive and span AUTO_LOG_RATIO or more."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= AUTO_LOG_RATIO


def _check_size(width: int, height: int) -> None:
    if not (MIN_WIDTH_PX <= width <= MAX_SIDE_PX and MIN_HEIGHT_PX <= height <= MAX_SIDE_PX):
        raise ValueError(f"image size {width}x{height}: expected {MIN_WIDTH_PX}..{MAX_SIDE_PX} x "
                         f"{MIN_HEIGHT_PX}..{MAX_SIDE_PX} pixels")


def _log_choice(name: str, values: Sequence[float], forced: bool | None) -> bool:
    log = wants_log(values) if forced is None else forced
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"non-finite {name} value")
    if log and values and min(values) <= 0:
        raise ValueError(f"a log scale for {name} needs positive values, got {min(values)!r}")
    return log


def _png(fig: Any, data: dict[str, Any]) -> bytes:
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={TEXT_KEY: text, "Software": "jobman plot"})
    return buf.getvalue()


def _pixel(ax: Any, fig: Any, x: float, y: float) -> tuple[int, int]:
    """The image pixel (column, row from the top) of the data point (x, y)."""
    px, py = ax.transData.transform((x, y))
    return int(round(px - 0.5)), int(round(fig.bbox.height - py - 0.5))


def scatter_png(points: Sequence[Point], *, title: str, xlabel: str, ylabel: str, clabel: str | None = None,
                logx: bool | None = None, logy: bool | None = None, logc: bool | None = None,
                width: int = DEFAULT_WIDTH_PX, height: int = DEFAULT_HEIGHT_PX,
                meta: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """y against x, one marker per point (coloured by c when ``clabel`` is given): the PNG bytes
    and the data embedded in it. ``log*`` None: log when the values span decades."""
    if not points:
        raise ValueError("nothing to plot")
    _check_size(width, height)
    colored = clabel is not None
    xs, ys = [p.x for p in points], [p.y for p in points]
    cs = [float(p.c) for p in points if p.c is not None] if colored else []
    if colored and len(cs) != len(points):
        raise ValueError("every point needs a colour value when a colour scale is drawn")
    logx, logy = _log_choice("x", xs, logx), _log_choice("y", ys, logy)
    logc = _log_choice("c", cs, logc) if colored else False
    plt = _pyplot()
    from matplotlib.colors import LogNorm, Normalize

    fig, ax = plt.subplots(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    try:
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        ax.grid(True, which="major", color="#e1e1e1", linewidth=0.8)
        ax.set_axisbelow(True)
        if colored:
            norm = (LogNorm if logc else Normalize)(vmin=min(cs), vmax=max(cs))
            art = ax.scatter(xs, ys, c=cs, cmap=CMAP, norm=norm, s=MARKER_SIZE_PT2, linewidths=0)
            fig.colorbar(art, ax=ax, label=f"{clabel}{' (log)' if logc else ''}")
            rgbs = [tuple(int(round(255 * v)) for v in art.to_rgba(c)[:3]) for c in cs]
        else:
            ax.scatter(xs, ys, color=[v / 255 for v in MARKER], s=MARKER_SIZE_PT2, linewidths=0)
            rgbs = [MARKER] * len(points)
        ax.set_title(title)
        ax.set_xlabel(xlabel + (" (log)" if logx else ""))
        ax.set_ylabel(ylabel + (" (log)" if logy else ""))
        fig.canvas.draw()  # the layout is final: pixel positions are those of the file
        drawn = []
        for p, rgb in zip(points, rgbs):
            px, py = _pixel(ax, fig, p.x, p.y)
            drawn.append({"id": p.id, "x": p.x, "y": p.y, **({"c": p.c} if colored else {}),
                          "px": px, "py": py, "rgb": list(rgb)})
        data: dict[str, Any] = {
            "version": 2, "width": width, "height": height, "title": title,
            "x": {"name": xlabel, "log": logx}, "y": {"name": ylabel, "log": logy},
            **({"c": {"name": clabel, "log": logc}} if colored else {}), "points": drawn, **(meta or {}),
        }
        return _png(fig, data), data
    finally:
        plt.close(fig)


def curves_png(series: Mapping[int, Sequence[tuple[int, float | None]]], *, metric: str, title: str,
               logy: bool | None = None, width: int = DEFAULT_WIDTH_PX, height: int = DEFAULT_HEIGHT_PX,
               meta: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """Learning curves: ``metric`` against the step, one line per job (``series``: job → points
    (step, value), non-finite values left out). The PNG bytes and the data embedded in it."""
    _check_size(width, height)
    clean: dict[int, list[tuple[int, float]]] = {
        job: [(s, v) for s, v in pts if v is not None and math.isfinite(v)] for job, pts in series.items()}
    clean = {job: pts for job, pts in clean.items() if pts}
    if not clean:
        raise ValueError("nothing to plot")
    logy = _log_choice("y", [v for pts in clean.values() for _, v in pts], logy)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    try:
        ax.set_yscale("log" if logy else "linear")
        ax.grid(True, color="#e1e1e1", linewidth=0.8)
        for job, pts in sorted(clean.items()):
            ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", markersize=3, linewidth=1.2,
                    label=f"job {job}")
        if len(clean) <= 12:
            ax.legend(fontsize="small")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(metric + (" (log)" if logy else ""))
        data: dict[str, Any] = {"version": 2, "width": width, "height": height, "title": title,
                                "metric": metric, "y": {"log": logy},
                                "curves": {str(job): [[s, v] for s, v in pts] for job, pts in sorted(clean.items())},
                                **(meta or {})}
        return _png(fig, data), data
    finally:
        plt.close(fig)
