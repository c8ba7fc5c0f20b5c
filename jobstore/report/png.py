"""A small, dependency-free PNG scatter-plot writer (numpy raster + zlib + struct).

Why not matplotlib: the job store must stay installable on a login node with only its declared
dependencies, and ``jobman plot`` needs one kind of picture. The image is a scatter plot with a
frame, grid, numeric tick labels drawn with a built-in 5x7 bitmap font (capital letters only), a
title and axis names, one marker per job, and optionally a colour scale for a third value. An axis
whose values are all positive and span decades is drawn on a log scale.

The plotted data (job ids, values, the pixel centre and colour of every marker) is stored as JSON
in a ``tEXt`` chunk named :data:`TEXT_KEY`, so that a reader can check the picture against the
table. The output is deterministic: same data, same bytes (no time stamp chunk, fixed zlib level).
"""
from __future__ import annotations

import functools
import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEXT_KEY = "jobman-plot"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 9
DEFAULT_WIDTH_PX = 800
DEFAULT_HEIGHT_PX = 600
MIN_WIDTH_PX = 320
MIN_HEIGHT_PX = 240
MAX_SIDE_PX = 8000
MARKER_RADIUS_PX = 4
# An axis is drawn logarithmically by default when its values are all > 0 and max/min reaches this.
AUTO_LOG_RATIO = 100.0

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (225, 225, 225)
MARKER = (31, 119, 180)  # the marker colour when no colour scale is drawn
# Viridis, sampled at 5 points; the colour scale interpolates between them.
_CMAP_ANCHORS = np.array(
    [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=float)

# fmt: off
_FONT_ROWS: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "[": (".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."),
    "]": (".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."),
    "<": ("...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."),
    ">": (".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."),
    "*": (".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."),
    "'": ("..#..", "..#..", ".#...", ".....", ".....", ".....", "....."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
    "!": ("..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."),
    "#": (".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."),
}
# fmt: on
GLYPH_W, GLYPH_H = 5, 7
_FONT = {c: np.array([[ch == "#" for ch in row] for row in rows], dtype=bool) for c, rows in _FONT_ROWS.items()}


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """The pixels of ``text`` (a boolean array, one blank column between glyphs). Lower case is
    drawn in capitals; a character the font lacks is drawn as ``?``."""
    if not text:
        return np.zeros((GLYPH_H * scale, 0), dtype=bool)
    cols = []
    for i, ch in enumerate(text.upper()):
        if i:
            cols.append(np.zeros((GLYPH_H, 1), dtype=bool))
        cols.append(_FONT.get(ch, _FONT["?"]))
    mask = np.hstack(cols)
    return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool) if scale > 1 else mask


def text_width(text: str, scale: int = 1) -> int:
    return (len(text) * (GLYPH_W + 1) - 1) * scale if text else 0


class Canvas:
    """An RGB raster with the few primitives a scatter plot needs; coordinates are (x, y) pixels
    from the top-left corner, and drawing is clipped to the image."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int] = WHITE):
        self.width, self.height = width, height
        self.pixels = np.empty((height, width, 3), dtype=np.uint8)
        self.pixels[:, :] = background

    def fill_rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        """Fill the rectangle with corners (x0, y0) and (x1, y1), both included."""
        xa, xb = sorted((x0, x1))
        ya, yb = sorted((y0, y1))
        xa, ya = max(xa, 0), max(ya, 0)
        xb, yb = min(xb, self.width - 1), min(yb, self.height - 1)
        if xa <= xb and ya <= yb:
            self.pixels[ya:yb + 1, xa:xb + 1] = color

    def hline(self, x0: int, x1: int, y: int, color: tuple[int, int, int]) -> None:
        self.fill_rect(x0, y, x1, y, color)

    def vline(self, x: int, y0: int, y1: int, color: tuple[int, int, int]) -> None:
        self.fill_rect(x, y0, x, y1, color)

    def blit(self, mask: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> None:
        """Paint ``color`` where ``mask`` is true, its top-left corner at (x, y)."""
        h, w = mask.shape
        xa, ya = max(x, 0), max(y, 0)
        xb, yb = min(x + w, self.width), min(y + h, self.height)
        if xa >= xb or ya >= yb:
            return
        sub = mask[ya - y:yb - y, xa - x:xb - x]
        self.pixels[ya:yb, xa:xb][sub] = color

    def text(self, text: str, x: int, y: int, *, color: tuple[int, int, int] = BLACK, scale: int = 1,
             anchor: str = "lt", vertical: bool = False) -> None:
        """Draw ``text``; ``anchor`` is two letters: l/c/r horizontally, t/m/b vertically, for the
        box around the text. ``vertical`` turns it 90 degrees counter-clockwise (a y-axis name)."""
        mask = text_mask(text, scale)
        if vertical:
            mask = np.rot90(mask)
        h, w = mask.shape
        dx = {"l": 0, "c": -(w // 2), "r": -w}[anchor[0]]
        dy = {"t": 0, "m": -(h // 2), "b": -h}[anchor[1]]
        self.blit(mask, x + dx, y + dy, color)

    def disc(self, cx: int, cy: int, radius: int, color: tuple[int, int, int]) -> None:
        self.blit(_disc_mask(radius), cx - radius, cy - radius, color)

    def png(self, text: dict[str, str] | None = None) -> bytes:
        return encode_png(self.pixels, text)


@functools.lru_cache(maxsize=8)
def _disc_mask(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx * xx + yy * yy <= r * r + r


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (height x width x 3, uint8), with ``tEXt`` chunks for ``text``
    (keys and values must be Latin-1; JSON with ``ensure_ascii`` is)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a height x width x 3 uint8 array, got {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    raw = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 (None) on each row
    raw[:, 1:] = pixels.reshape(height, 3 * width)
    out = [PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        out.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    out.append(_chunk(b"IDAT", zlib.compress(raw.tobytes(), ZLIB_LEVEL)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


# -- axes -------------------------------------------------------------------------------------------

def wants_log(values: Sequence[float]) -> bool:
    """True when the values are all positive and span at least :data:`AUTO_LOG_RATIO`."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= AUTO_LOG_RATIO


def format_tick(value: float, step: float | None = None) -> str:
    """A short label: ``0.05``, ``120``, ``1E-5``; ``step`` (linear axes) fixes the decimals."""
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e5 or mag < 1e-3:
        mant, exp = f"{value:.2e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}E{int(exp)}"
    if step is not None and step > 0:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        return f"{value:.{decimals}f}"
    return f"{value:.6g}"


@dataclass
class Axis:
    """Maps data values to pixels along one direction; ``lo``/``hi`` are in data units."""

    lo: float
    hi: float
    log: bool
    pix0: int  # pixel of lo
    pix1: int  # pixel of hi
    ticks: list[float] = field(default_factory=list)
    step: float | None = None

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def pixel(self, v: float) -> int:
        a, b = self._t(self.lo), self._t(self.hi)
        frac = (self._t(v) - a) / (b - a)
        return int(round(self.pix0 + frac * (self.pix1 - self.pix0)))

    def label(self, v: float) -> str:
        return format_tick(v, None if self.log else self.step)


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def make_axis(values: Sequence[float], log: bool, pix0: int, pix1: int, target_ticks: int = 6) -> Axis:
    """An axis covering ``values`` with a little margin, and its ticks (1-2-5 steps when linear,
    decades, else 1-2-5 multiples of decades, when logarithmic)."""
    if log:
        lo, hi = math.log10(min(values)), math.log10(max(values))
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        ticks = [10.0 ** k for k in range(math.ceil(lo), math.floor(hi) + 1)]
        if len(ticks) < 2:
            ticks = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)
                     if lo <= math.log10(m * 10.0 ** k) <= hi]
        if len(ticks) > 2 * target_ticks:  # many decades: label every n-th one
            every = math.ceil(len(ticks) / target_ticks)
            ticks = [t for t in ticks if round(math.log10(t)) % every == 0]
        return Axis(10.0 ** lo, 10.0 ** hi, True, pix0, pix1, ticks)
    lo, hi = float(min(values)), float(max(values))
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
        half = abs(lo) * 0.1 or 1.0
        lo, hi = lo - half, hi + half
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, target_ticks)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(k * step) < 1e-12 * step else k * step)
        k += 1
    return Axis(lo, hi, False, pix0, pix1, ticks, step)


def _cmap_entry(level: int) -> tuple[int, int, int]:
    pos = level / 255 * (len(_CMAP_ANCHORS) - 1)
    i = min(int(pos), len(_CMAP_ANCHORS) - 2)
    rgb = _CMAP_ANCHORS[i] + (pos - i) * (_CMAP_ANCHORS[i + 1] - _CMAP_ANCHORS[i])
    return (int(round(rgb[0])), int(round(rgb[1])), int(round(rgb[2])))


_CMAP_LUT = [_cmap_entry(level) for level in range(256)]


def colormap(frac: float) -> tuple[int, int, int]:
    """The colour at ``frac`` in [0, 1] on the viridis-like scale, quantised to 256 levels."""
    return _CMAP_LUT[round(min(max(frac, 0.0), 1.0) * 255)]


# -- the scatter plot -----------------------------------------------------------------------------

@dataclass
class Point:
    """One job on the plot."""

    id: int
    x: float
    y: float
    c: float | None = None


def scatter_png(points: Sequence[Point], *, title: str, xlabel: str, ylabel: str, clabel: str | None = None,
                logx: bool | None = None, logy: bool | None = None, logc: bool | None = None,
                width: int = DEFAULT_WIDTH_PX, height: int = DEFAULT_HEIGHT_PX,
                meta: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """Draw ``points`` (y against x, coloured by c when ``clabel`` is given) and return the PNG
    bytes and the data stored in its ``tEXt`` chunk. ``log*`` None means: log when the values
    span decades (:func:`wants_log`). Values must be finite, and positive on a log axis."""
    if not points:
        raise ValueError("nothing to plot")
    if not (MIN_WIDTH_PX <= width <= MAX_SIDE_PX and MIN_HEIGHT_PX <= height <= MAX_SIDE_PX):
        raise ValueError(f"image size {width}x{height}: expected {MIN_WIDTH_PX}..{MAX_SIDE_PX} x "
                         f"{MIN_HEIGHT_PX}..{MAX_SIDE_PX} pixels")
    colored = clabel is not None
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    cs = [float(p.c) for p in points if p.c is not None] if colored else []
    if colored and len(cs) != len(points):
        raise ValueError("every point needs a colour value when a colour scale is drawn")
    for name, vals in (("x", xs), ("y", ys), ("c", cs)):
        if any(not math.isfinite(v) for v in vals):
            raise ValueError(f"non-finite {name} value")
    logx = wants_log(xs) if logx is None else logx
    logy = wants_log(ys) if logy is None else logy
    logc = (wants_log(cs) if logc is None else logc) if colored else False
    for name, vals, lg in (("x", xs, logx), ("y", ys, logy), ("c", cs, logc)):
        if lg and min(vals) <= 0:
            raise ValueError(f"a log scale for {name} needs positive values, got {min(vals)!r}")

    scale_title = 2 if width >= 500 else 1
    left, right = 80, 30 + (90 if colored else 0)
    top, bottom = 20 + GLYPH_H * scale_title + 14, 56
    x0, x1, y0, y1 = left, width - right, height - bottom, top  # y0 is the bottom of the frame
    xaxis = make_axis(xs, logx, x0, x1)
    yaxis = make_axis(ys, logy, y0, y1, target_ticks=max(3, (y0 - y1) // 70))

    cv = Canvas(width, height)
    for t in xaxis.ticks:
        px = xaxis.pixel(t)
        cv.vline(px, y1, y0, GRID)
        cv.vline(px, y0, y0 + 4, BLACK)
        cv.text(xaxis.label(t), px, y0 + 8, anchor="ct")
    for t in yaxis.ticks:
        py = yaxis.pixel(t)
        cv.hline(x0, x1, py, GRID)
        cv.hline(x0 - 4, x0, py, BLACK)
        cv.text(yaxis.label(t), x0 - 7, py, anchor="rm")
    cv.hline(x0, x1, y0, BLACK)
    cv.hline(x0, x1, y1, BLACK)
    cv.vline(x0, y1, y0, BLACK)
    cv.vline(x1, y1, y0, BLACK)
    cv.text(title, width // 2, 12, scale=scale_title, anchor="ct")
    cv.text(xlabel + (" (LOG)" if logx else ""), (x0 + x1) // 2, height - 12, anchor="cb")
    cv.text(ylabel + (" (LOG)" if logy else ""), 12, (y0 + y1) // 2, anchor="lm", vertical=True)

    caxis = None
    if colored:
        bx0, bx1 = x1 + 22, x1 + 36
        caxis = make_axis(cs, logc, y0, y1, target_ticks=max(3, (y0 - y1) // 70))
        for py in range(y1, y0 + 1):
            cv.hline(bx0, bx1, py, colormap((y0 - py) / max(y0 - y1, 1)))
        for t in caxis.ticks:
            py = caxis.pixel(t)
            if y1 <= py <= y0:
                cv.hline(bx1, bx1 + 3, py, BLACK)
                cv.text(caxis.label(t), bx1 + 6, py, anchor="lm")
        cv.text((clabel or "") + (" (LOG)" if logc else ""), width - 8, (y0 + y1) // 2, anchor="rm",
                vertical=True)

    drawn = []
    for p in points:
        px, py = xaxis.pixel(p.x), yaxis.pixel(p.y)
        if caxis is not None and p.c is not None:
            color = colormap((y0 - caxis.pixel(p.c)) / max(y0 - y1, 1))
        else:
            color = MARKER
        cv.disc(px, py, MARKER_RADIUS_PX, color)
        drawn.append({"id": p.id, "x": p.x, "y": p.y, **({"c": p.c} if colored else {}),
                      "px": px, "py": py, "rgb": list(color)})
    data: dict[str, Any] = {
        "version": 1, "width": width, "height": height, "title": title,
        "x": {"name": xlabel, "log": logx}, "y": {"name": ylabel, "log": logy},
        **({"c": {"name": clabel, "log": logc}} if colored else {}),
        "marker_radius": MARKER_RADIUS_PX, "points": drawn, **(meta or {}),
    }
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return cv.png({TEXT_KEY: text, "Software": "jobman plot"}), data
