"""How a flat state becomes a row: JSON values, a type tag for what JSON cannot hold, a content
hash, and the SQL type of every key (for the typed views).

JSON cannot hold tuples, sets, bytes, ``inf`` or ``nan``. Such values are stored in their nearest
JSON form (a list; the strings ``"Infinity"``, ``"-Infinity"``, ``"NaN"``, which PostgreSQL's
``::float8`` also reads; base64 text) and a *tag* for the key is kept in the row's ``types`` column,
so that :func:`decode_state` gives back exactly what was stored. Rows whose values are all plain
JSON (nearly all of them) have no tags and ``types`` is NULL.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from ..errors import UsageError

# Key types, as SQL type names (PostgreSQL spelling; the SQLite dialect maps them).
T_NULL = "null"  # only None seen so far: says nothing about the type
T_BOOL = "boolean"
T_INT = "bigint"
T_NUMERIC = "numeric"  # an int that does not fit in 64 bits
T_FLOAT = "double precision"
T_TEXT = "text"
T_JSON = "jsonb"
_NUMBERS = (T_INT, T_NUMERIC, T_FLOAT)
_INT64_MAX = 2**63 - 1

_PLAIN_TYPES = {str: T_TEXT, bool: T_BOOL, type(None): T_NULL}
_FLOAT_NAMES = {math.inf: "Infinity", -math.inf: "-Infinity"}
_FLOAT_VALUES = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def widen(a: str | None, b: str | None) -> str:
    """The SQL type that holds values of both types: ``bigint`` and ``double precision`` give
    ``double precision``; unrelated types give ``jsonb`` (a view column can always show it)."""
    if a is None or a == T_NULL:
        return b or T_NULL
    if b is None or b == T_NULL or a == b:
        return a
    if a in _NUMBERS and b in _NUMBERS:
        return T_NUMERIC if {a, b} == {T_INT, T_NUMERIC} else T_FLOAT
    return T_JSON


def _encode(value: Any) -> tuple[Any, Any, str]:
    """Return (JSON-able value, tag or None, key type) for one value."""
    t = type(value)
    if t is str:
        return value, None, T_TEXT
    if t is bool:
        return value, None, T_BOOL
    if t is int:
        return value, None, (T_INT if -_INT64_MAX <= value <= _INT64_MAX else T_NUMERIC)
    if value is None:
        return None, None, T_NULL
    if isinstance(value, float):  # includes numpy.float64
        value = float(value)
        if math.isfinite(value):
            return value, None, T_FLOAT
        return ("NaN" if value != value else _FLOAT_NAMES[value]), "f", T_FLOAT
    if isinstance(value, bool):
        return bool(value), None, T_BOOL
    if isinstance(value, int):
        return _encode(int(value))
    if isinstance(value, str):
        return str(value), None, T_TEXT
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        kind = "l" if isinstance(value, list) else "t" if isinstance(value, tuple) else (
            "s" if isinstance(value, set) else "fs")
        if kind in ("s", "fs"):
            try:  # a stable order, so that equal sets hash equally
                items = sorted(items)
            except TypeError:
                items = sorted(items, key=repr)
        out, tags = [], []
        for item in items:
            v, tag, _ = _encode(item)
            out.append(v)
            tags.append(tag)
        child = tags if any(tag is not None for tag in tags) else None
        if kind == "l" and child is None:
            return out, None, T_JSON
        return out, [kind, child], T_JSON
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            outd, tagd = {}, {}
            for k, item in value.items():
                v, tag, _ = _encode(item)
                outd[k] = v
                if tag is not None:
                    tagd[k] = tag
            return outd, (["d", tagd] if tagd else None), T_JSON
        pairs, ptags = _encode([[k, v] for k, v in value.items()])[:2]
        return pairs, ["m", ptags], T_JSON
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii"), "b", T_TEXT
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _encode(value.tolist())
    raise TypeError(type(value).__name__)


def _decode(value: Any, tag: Any) -> Any:
    if tag is None:
        return value
    if tag == "f":
        return _FLOAT_VALUES[value] if isinstance(value, str) else float(value)
    if tag == "b":
        return base64.b64decode(value)
    kind, child = tag
    if kind == "d":
        return {k: _decode(v, child.get(k)) for k, v in value.items()}
    if kind == "m":
        return {k: v for k, v in _decode(value, child)}
    items = [_decode(v, child[i] if child else None) for i, v in enumerate(value)]
    if kind == "t":
        return tuple(items)
    if kind == "s":
        return set(items)
    if kind == "fs":
        return frozenset(items)
    return items


class Encoded:
    """One flat state ready for the table: ``state`` (JSON-able dict without the mirrored keys),
    ``tags`` (dict or None), ``types`` (key → SQL type) and their JSON texts."""

    __slots__ = ("state", "tags", "types", "state_json", "tags_json")

    def __init__(self, state: dict[str, Any], tags: dict[str, Any] | None, types: dict[str, str]) -> None:
        self.state = state
        self.tags = tags
        self.types = types
        self.state_json = dumps(state)
        self.tags_json = dumps(tags) if tags else None


# One encoder for every call: json.dumps with these options builds a new one each time, which
# costs about as much as the encoding of a job's state.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True)


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, no NaN (those are encoded before)."""
    return _CANONICAL.encode(obj)


def encode_state(flat: Mapping[str, Any], skip: AbstractSet[str] = frozenset()) -> Encoded:
    """Encode a flat state, leaving out the keys in ``skip`` (the mirrored keys).

    A value that cannot be stored is a :class:`UsageError` naming the key and its type."""
    state: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    types: dict[str, str] = {}
    for key, value in flat.items():
        if key in skip:
            continue
        if type(key) is not str:
            raise UsageError(f"state key {key!r} is a {type(key).__name__}: keys must be strings")
        t = type(value)
        # Fast path for the plain values that make up nearly every state (scheduling 100,000 jobs
        # spends most of its Python time here). ``value - value == 0.0`` is False for inf and nan.
        typ = _PLAIN_TYPES.get(t)
        if typ is None:
            if t is int and -_INT64_MAX <= value <= _INT64_MAX:
                typ = T_INT
            elif t is float and value - value == 0.0:
                typ = T_FLOAT
        if typ is None:
            try:
                value, tag, typ = _encode(value)
            except (TypeError, RecursionError) as e:
                raise UsageError(
                    f"value of key {key!r} is a {e}: the job table stores numbers, strings, booleans, "
                    "None, lists, tuples, sets, dicts and bytes") from None
            if tag is not None:
                tags[key] = tag
        state[key] = value
        types[key] = typ
    return Encoded(state, tags or None, types)


def decode_state(state: Mapping[str, Any] | str, tags: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The inverse of :func:`encode_state` (accepts the JSON texts too)."""
    out: dict[str, Any] = json.loads(state) if isinstance(state, str) else dict(state)
    tag_map: Mapping[str, Any] | None = json.loads(tags) if isinstance(tags, str) else tags
    if tag_map:
        for key, tag in tag_map.items():
            if key in out:
                out[key] = _decode(out[key], tag)
    return out


UNHASHED_PREFIX = "jobman.code."  # provenance of the code (worker/codeinfo.py), not a parameter
UNDECODABLE_KEY = "jobman.undecodable"  # the one key of a row's state that cannot be decoded


def decode_row(state: Any, tags: Any) -> tuple[dict[str, Any], str | None]:
    """A row's state, or, when the row cannot be decoded (a JSON array as its state, a bad tag in
    ``types``: anyone with SQL access can write one), ``{UNDECODABLE_KEY: '<undecodable: why>'}``
    and why. One bad row must not crash the claim that took it or a command that reads it."""
    try:
        if isinstance(state, str):
            state = json.loads(state)
        if not isinstance(state, dict):
            raise TypeError(f"the state is a JSON {type(state).__name__}, not an object")
        return decode_state(state, tags), None
    except Exception as e:  # any malformed JSON or tag: the reason is kept, the row stays readable
        reason = f"{type(e).__name__}: {e}"[:300].replace("\x00", "\\x00")
        return {UNDECODABLE_KEY: f"<undecodable: {reason}>"}, reason


def state_hash(experiment: str, enc: Encoded) -> str:
    """sha256 of the canonical JSON of the scheduled parameters (the experiment included; status,
    priority, id, hash and the ``jobman.code.*`` provenance excluded): equal states give equal
    hashes on every machine, whichever commit scheduled them."""
    state_json, tags_json = enc.state_json, enc.tags_json
    if '"' + UNHASHED_PREFIX in state_json:  # a cheap test first: most states have none
        state = {k: v for k, v in enc.state.items() if not k.startswith(UNHASHED_PREFIX)}
        tags = {k: v for k, v in (enc.tags or {}).items() if not k.startswith(UNHASHED_PREFIX)}
        state_json, tags_json = dumps(state), dumps(tags) if tags else None
    canonical = "\n".join((experiment, state_json, tags_json or ""))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def json_candidates(value: Any) -> list[Any]:
    """The JSON values a ``--select=key=value`` matches, with Jobman's leniency: ``1`` also
    matches ``1.0`` and ``True``; ``True`` also matches ``1``; a string that reads as a number
    or a boolean also matches that number or boolean."""
    enc, _, _ = _encode(value)
    out = [enc]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        out.append(int(value))
    elif isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            out.append(low == "true")
        else:
            for conv in (int, float):
                try:
                    num = conv(value)
                except ValueError:
                    continue
                if isinstance(num, float) and not math.isfinite(num):
                    continue
                out.append(num)
                if isinstance(num, float) and num.is_integer():
                    out.append(int(num))
                break
    for v in list(out):  # Jobman stored booleans as 0/1: let them match each other
        if isinstance(v, bool):
            out.append(int(v))
        elif isinstance(v, (int, float)) and v in (0, 1):
            out.append(bool(v))
    unique: list[Any] = []
    for v in out:  # 1 == 1.0 == True in Python: keep one of each type
        if not any(type(v) is type(u) and v == u for u in unique):
            unique.append(v)
    return unique
