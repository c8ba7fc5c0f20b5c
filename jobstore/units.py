"""Numbers given by users as text (options, environment variables), read one way everywhere."""
from __future__ import annotations

import math

__all__ = ["parse_seconds"]


def parse_seconds(text: str, option: str, *, zero_ok: bool) -> float:
    """A number of seconds given to ``option``; ValueError with a one-line message naming the value
    and what is accepted (a finite number >= 0, or > 0)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"invalid {option} {text!r}: expected a number of seconds {bound}")
    return value
