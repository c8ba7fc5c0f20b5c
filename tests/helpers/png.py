"""Reading back the PNGs of ``jobman plot`` with Pillow (a reader independent of matplotlib's
writer): the pixels and the text chunks holding the plotted data."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def read_png(data: bytes) -> tuple[np.ndarray, dict[str, str]]:
    """Pixels (h x w x 3, RGB) and the PNG's text chunks."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    texts = {k: str(v) for k, v in img.text.items()}  # type: ignore[attr-defined]
    return np.asarray(img.convert("RGB")), texts


def color_at(pixels: np.ndarray, px: int, py: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in pixels[py, px])
    return r, g, b


def close(rgb: tuple[int, ...], expected: tuple[int, ...] | list[int], tolerance: int = 24) -> bool:
    """Colours equal but for antialiasing at the edge of a marker."""
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected))
