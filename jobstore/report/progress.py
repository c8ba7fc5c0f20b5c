"""A live status line on a terminal, silent in logs and pipes: the one progress display."""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

REFRESH_S = 0.5
"""At most one redraw per this many seconds (the last one is always drawn)."""


class Progress:
    """``show(text)`` redraws one line (``\\r`` + text + erase to end of line) on ``out`` when it is a
    terminal, at most every ``refresh_s`` unless ``force``; ``end()`` finishes it (``keep``: leave the
    last text on screen with a newline, else erase it). On a file or a pipe it prints nothing."""

    def __init__(self, out: TextIO | None = None, *, enabled: bool = True, refresh_s: float = REFRESH_S) -> None:
        self.out = out if out is not None else sys.stderr
        self.enabled = enabled and self.out.isatty()
        self.refresh_s = refresh_s
        self._last = float("-inf")
        self.shown = False

    def show(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.refresh_s:
            return
        self._last = now
        self.out.write(f"\r{text}\x1b[K")
        self.out.flush()
        self.shown = True

    def end(self, *, keep: bool = False) -> None:
        if self.shown:
            self.out.write("\n" if keep else "\r\x1b[K")
            self.out.flush()
            self.shown = False
