"""Aligned text tables: the one table printer of the project's human output."""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["align"]


def align(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[bool] | None = None,
          sep: str = "  ", indent: str = "", center_header: bool = False) -> list[str]:
    """The header and rows as lines with every column as wide as its widest cell; numeric columns are
    right-aligned, the others left-aligned; trailing blanks are stripped. ``center_header``: the
    header's names centred in their columns and kept at full width, as psql prints them."""
    numeric = numeric if numeric is not None else [False] * len(header)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)]
        return (indent + sep.join(cells)).rstrip()

    top = indent + sep.join(h.center(w) for h, w in zip(header, widths)) if center_header else line(header)
    return [top] + [line(r) for r in rows]
