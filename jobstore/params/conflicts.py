"""Keys that cannot both be in one state, refused at schedule time rather than at run time.

A flat state is expanded into nested dicts for the experiment (``a.b=1`` → ``state.a.b``), so a key
cannot hold a value and keys below it (``a=1 a.b=2``), and a dict value stands for the keys inside
it (``a={'b':2}`` is ``a.b=2``), which must not repeat another key (``a.b=1 "a={'b':2}"``). Jobman
accepted both: the job then failed with ERR_START, or the experiment silently got one of the two.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ParamError

__all__ = ["check_conflicts"]


def check_conflicts(flat: Mapping[str, Any]) -> None:
    """Raise :class:`ParamError` naming both keys when two keys of ``flat`` conflict.

    Cheap on sweeps: states without dict values are checked once per set of keys (cached)."""
    if any(isinstance(v, Mapping) for v in flat.values()):
        _check_leaves(_leaves(flat))
    else:
        _check_keys(tuple(flat))


@functools.lru_cache(maxsize=1024)
def _check_keys(keys: tuple[str, ...]) -> None:
    _check_leaves((k, k) for k in keys)


def _leaves(flat: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(leaf key, the key given) pairs: a non-empty dict of string keys stands for its leaves."""
    for key, value in flat.items():
        if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            for sub, inner in value.items():
                yield from ((leaf, key) for leaf, _ in _leaves({f"{key}.{sub}": inner}))
        else:
            yield key, key


def _check_leaves(pairs: Iterable[tuple[str, str]]) -> None:
    owner: dict[str, str] = {}
    for leaf, given in pairs:
        if leaf in owner and owner[leaf] != given:
            _refuse(owner[leaf], given, f"both set {leaf!r}")
        owner[leaf] = given
    for leaf, given in owner.items():
        parts = leaf.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in owner:
                _refuse(owner[prefix], given, f"{prefix!r} cannot hold a value and the key {leaf!r} below it")


def _refuse(first: str, second: str, why: str) -> None:
    raise ParamError(f"conflicting keys {first!r} and {second!r}: {why}; keep one of them "
                     "(a dict value stands for the keys inside it)")
