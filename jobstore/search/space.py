"""A search space on the command line: ``key~loguniform(a,b)``, ``key~uniform(a,b)``,
``key~int(a,b)``, ``key~logint(a,b)`` and ``key~choice(a,b,...)``.

A token is a dimension when a ``~`` comes before any ``=`` (so ``path=~/data`` stays a plain
parameter). Bounds are numbers; choices are typed like ``key=value`` values (``relu`` stays a
string, ``0.5`` is a float). The space is stored as JSON in the search's row, so that every
worker rebuilds the same space. Nothing here imports Optuna.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ParamError
from ..params.parser import convert

KINDS = ("uniform", "loguniform", "int", "logint", "choice")
ACCEPTED = ("expected key~uniform(a,b), key~loguniform(a,b), key~int(a,b), key~logint(a,b) "
            "or key~choice(v1,v2,...)")
_TOKEN_RE = re.compile(r"\s*([A-Za-z_][\w.]*)\s*~\s*(\w+)\s*\((.*)\)\s*\Z", re.S)
_DIM_START_RE = re.compile(r"[^=]*~")


@dataclass(frozen=True)
class Dimension:
    """One searched key: a range (``low``, ``high``; ``log`` for log scale) or ``choices``."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    @property
    def log(self) -> bool:
        return self.kind in ("loguniform", "logint")

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "logint")

    def to_json(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"key": self.key, "kind": self.kind, "choices": list(self.choices)}
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Dimension:
        return cls(key=doc["key"], kind=doc["kind"], low=doc.get("low", 0.0), high=doc.get("high", 0.0),
                   choices=tuple(doc.get("choices", ())))

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"{self.key}~choice({','.join(map(str, self.choices))})"
        return f"{self.key}~{self.kind}({self.low:g},{self.high:g})"


def is_dimension(token: str) -> bool:
    """Whether ``token`` is a dimension (``~`` before any ``=``) rather than a parameter."""
    return bool(_DIM_START_RE.match(token))


def _number(token: str, text: str, integer: bool) -> float:
    value = convert(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParamError(f"bad bound {text.strip()!r} in {token!r}: expected a finite number")
    if integer and value != int(value):
        raise ParamError(f"bad bound {text.strip()!r} in {token!r}: expected an integer")
    return int(value) if integer else float(value)


def _range(token: str, key: str, kind: str, args: list[str]) -> Dimension:
    if len(args) != 2:
        raise ParamError(f"{kind} takes two bounds in {token!r}, got {len(args)}: {ACCEPTED}")
    integer = kind in ("int", "logint")
    low, high = (_number(token, a, integer) for a in args)
    if not low < high:
        raise ParamError(f"empty range in {token!r}: expected low < high")
    if kind in ("loguniform", "logint") and low <= 0:
        raise ParamError(f"empty range in {token!r}: a log scale needs low > 0")
    return Dimension(key, kind, low=low, high=high)


def parse_dimension(token: str) -> Dimension:
    """``'lr~loguniform(1e-4,1e-1)'`` → a :class:`Dimension`; ``ParamError`` naming the token otherwise."""
    m = _TOKEN_RE.match(token)
    if not m:
        raise ParamError(f"malformed search dimension {token!r}: {ACCEPTED}")
    key, kind, body = m.group(1), m.group(2), m.group(3)
    if kind not in KINDS:
        raise ParamError(f"unknown distribution {kind!r} in {token!r}: {ACCEPTED}")
    args = [x.strip() for x in body.split(",")]
    if kind != "choice":
        return _range(token, key, kind, args)
    if not body.strip() or any(not a for a in args):
        raise ParamError(f"empty choice in {token!r}: expected key~choice(v1,v2,...)")
    choices = tuple(convert(a) for a in args)
    if len({repr(c) for c in choices}) != len(choices):
        raise ParamError(f"repeated choice in {token!r}: each value once")
    return Dimension(key, kind, choices=choices)


def parse_space(tokens: Iterable[str]) -> list[Dimension]:
    """The dimensions of ``tokens`` (each a dimension), refusing a key given twice."""
    dims: list[Dimension] = []
    for token in tokens:
        dim = parse_dimension(token)
        if any(d.key == dim.key for d in dims):
            raise ParamError(f"search key {dim.key!r} given twice: one ~ dimension per key")
        dims.append(dim)
    return dims


def split_tokens(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the parameter tokens, the dimension tokens) of a command line, each in order."""
    params = [t for t in tokens if not is_dimension(t)]
    dims = [t for t in tokens if is_dimension(t)]
    return params, dims


def space_to_json(dims: Sequence[Dimension]) -> list[dict[str, Any]]:
    return [d.to_json() for d in dims]


def space_from_json(doc: Sequence[dict[str, Any]]) -> list[Dimension]:
    return [Dimension.from_json(d) for d in doc]


def grid_size(dims: Sequence[Dimension]) -> int | None:
    """How many points a grid over ``dims`` has, or None when a dimension is continuous."""
    n = 1
    for d in dims:
        if d.kind == "choice":
            n *= len(d.choices)
        elif d.is_int:
            n *= int(d.high - d.low) + 1
        else:
            return None
    return n
