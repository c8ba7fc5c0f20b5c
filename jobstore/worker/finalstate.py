"""Whether a state can be stored in the job table, checked before it is written.

A result the table cannot hold (a ``datetime``, a ``Decimal``, a NUL character in a string, which
PostgreSQL's ``jsonb`` and ``text`` refuse) used to fail inside the finish: the worker died or
retried it as if the database were down, and the job stayed RUNNING until its lease expired three
times. Checked here first, such a state ends the job ERR_RUN with the reason and a *cleaned* state
(each bad value replaced by its ``repr``), and ``channel.save()`` reports it to the experiment
at once (:class:`UnstorableState`). The same rule holds on both dialects, so a sweep tested on
SQLite behaves the same on PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from ..store.base import MIRRORED_KEYS
from ..store.codec import Encoded, encode_state

__all__ = ["UnstorableState", "encoded", "cleaned", "describe", "check_save", "no_nul"]

_NUL = "\x00"


class UnstorableState(ValueError):
    """Raised by ``channel.save()`` when the state holds values the job table cannot store."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return _NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _problem(key: Any, value: Any) -> str | None:
    """Why ``key: value`` cannot be stored, or None."""
    if not isinstance(key, str):
        return f"key {key!r} is a {type(key).__name__}: keys must be strings"
    if _NUL in key:
        return f"key {key!r} holds a NUL character, which the table cannot store"
    try:
        enc = encode_state({key: value})
    except UsageError as e:
        return str(e)
    if _has_nul(enc.state[key]):
        return f"value of key {key!r} holds a NUL character, which the table cannot store"
    return None


def encoded(flat: Mapping[Any, Any]) -> tuple[Encoded | None, dict[Any, str]]:
    """The state encoded for the table (what the store writes, so it is encoded once) when it can
    be stored, else None and each key whose value cannot be, with why."""
    enc = None
    try:
        enc = encode_state(flat, MIRRORED_KEYS)
        if "\\u0000" not in enc.state_json:  # JSON writes a NUL, in a key or a value, as \u0000
            return enc, {}
    except UsageError:
        pass
    found = {}
    for key, value in flat.items():
        if key in MIRRORED_KEYS:
            continue
        why = _problem(key, value)
        if why is not None:
            found[key] = why
    if found:
        return None, found
    # A false alarm of the quick test (a string holding the text "\u0000"): storable after all.
    return (enc if enc is not None else encode_state(flat, MIRRORED_KEYS)), {}


def no_nul(text: str) -> str:
    """``text`` with each NUL written as ``\\x00`` (an error text the table can store)."""
    return text.replace(_NUL, "\\x00")


def cleaned(flat: Mapping[Any, Any], bad: Mapping[Any, str]) -> dict[str, Any]:
    """``flat`` with every bad value replaced by its ``repr`` (NULs written out)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name = no_nul(key if isinstance(key, str) else repr(key))
        out[name] = no_nul(repr(value)) if key in bad else value
    return out


def describe(bad: Mapping[Any, str]) -> str:
    """One line per bad key, for the job's error column and the experiment's exception."""
    return ("the state cannot be stored in the job table (each bad value is kept as its repr): "
            + "; ".join(bad.values()))


def check_save(flat: Mapping[Any, Any]) -> Encoded:
    """For ``channel.save()``: the state encoded for the table, or :class:`UnstorableState` naming
    every bad key, before anything is written."""
    enc, bad = encoded(flat)
    if enc is None:
        raise UnstorableState(describe(bad))
    return enc
