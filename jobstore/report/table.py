"""Aligned text tables: the one table printer of the project's human output.

Cells come from the job table, which anyone with write access fills: :func:`printable` escapes
control characters (``\\x1b[...`` sequences would otherwise move the cursor, retitle or clear the
reader's terminal, or hide lines) the way ``repr`` writes them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["align", "printable"]

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every C0/C1 control character (newlines and ESC included) as ``\\xNN``."""
    return _CONTROL_RE.sub(lambda m: repr(m.group(0))[1:-1] if m.group(0) in "\t\n\r"
                           else f"\\x{ord(m.group(0)):02x}", text)


def align(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[bool] | None = None,
          sep: str = "  ", indent: str = "", center_header: bool = False) -> list[str]:
    """The header and rows as lines with every column as wide as its widest cell; numeric columns are
    right-aligned, the others left-aligned; trailing blanks are stripped. ``center_header``: the
    header's names centred in their columns and kept at full width, as psql prints them."""
    numeric = numeric if numeric is not None else [False] * len(header)
    header = [printable(h) for h in header]
    rows = [[printable(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)]
        return (indent + sep.join(cells)).rstrip()

    top = indent + sep.join(h.center(w) for h, w in zip(header, widths)) if center_header else line(header)
    return [top] + [line(r) for r in rows]
