"""The experiment's state: ``DD`` (a dict with attribute access), and ``flatten``/``expand``
between nested dicts and the flat, dotted keys that the table and the ``.conf`` files store."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

_LEAF_TYPES = (str, bytes, int, float, bool, list, tuple, set, frozenset, type(None))


class MissingKey(AttributeError, KeyError):
    """A key that a ``DD`` lacks. Both an ``AttributeError`` (so ``getattr(d, k, default)`` and
    ``hasattr`` work) and a ``KeyError`` (what Jobman raised)."""

    def __str__(self) -> str:  # KeyError would print the repr of the args
        return f"no key {self.args[0]!r} in the state"


class DD(dict):
    """A dict whose keys are also attributes: ``state.n_hidden`` is ``state['n_hidden']``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise MissingKey(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise MissingKey(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(dir(dict)) | {k for k in self if isinstance(k, str)})

    def __repr__(self) -> str:
        return f"DD({dict.__repr__(self)})"

    def __str__(self) -> str:
        return f"DD{dict.__repr__(self)}"

    def __deepcopy__(self, memo: dict) -> DD:
        return DD((copy.deepcopy(k, memo), copy.deepcopy(v, memo)) for k, v in self.items())

    def __reduce__(self):  # pickle as a plain dict subclass, without calling __getattr__
        return (DD, (dict(self),))


# Values that are never mappings, tested by exact type before the (slow) Mapping ABC check: the
# worker flattens and expands every job's state, of a few dozen such values.
_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), list, tuple})
_STR = itertools.repeat(str)


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` → ``{'a.b': 1}``. Dicts with non-string keys stay one value."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if type(value) in _NOT_MAPPINGS or not isinstance(value, Mapping):
            out[name] = value
        elif not value:
            out[name] = {}
        elif all(map(isinstance, value, _STR)):  # map: no Python frame per key
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def expand(flat: Mapping[str, Any]) -> DD:
    """``{'a.b': 1, 'c': 2}`` → ``DD(a=DD(b=1), c=2)``.

    A key that is both a value and a prefix (``a=1`` and ``a.b=2``) is an error, whatever the
    order of the keys (Jobman's result depended on it)."""
    root = DD()
    nodes: dict[str, dict] = {}  # prefix → its node, made (or entered) by an earlier key
    for key, value in flat.items():
        if "." in key:
            prefix, _, leaf = key.rpartition(".")
            node = nodes.get(prefix)
            if node is None:
                node = nodes[prefix] = _node(root, key, prefix.split("."))
        else:
            node, leaf = root, key
        if leaf in node and isinstance(node[leaf], dict) and node[leaf]:
            raise TypeError(f"key {key!r} conflicts with the keys below it")
        if type(value) not in _NOT_MAPPINGS and isinstance(value, dict) and not value:
            value = DD(value)
        node[leaf] = value
    return root


def _node(root: DD, key: str, parts: list[str]) -> dict:
    """The node at ``parts`` under ``root``, made as needed. A node entered here gets a child at
    once, so it is never replaced later (only an empty dict can be), and can be remembered."""
    node: dict = root
    for i, part in enumerate(parts):
        child = node.get(part)
        if child is None:
            child = node[part] = DD()
        elif not isinstance(child, dict):
            raise TypeError(f"key {key!r} conflicts with the value of {'.'.join(parts[: i + 1])!r}")
        node = child
    return node


def defaults_merge(d: dict, defaults: Mapping[str, Any]) -> dict:
    """Recursive ``setdefault``: keys of ``defaults`` missing from ``d`` are added."""
    for k, v in defaults.items():
        if isinstance(v, Mapping):
            sub = d.setdefault(k, DD())
            if isinstance(sub, dict):
                defaults_merge(sub, v)
        else:
            d.setdefault(k, v)
    return d
