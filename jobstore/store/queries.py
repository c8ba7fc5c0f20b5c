"""Load the SQL of a dialect from ``queries/<dialect>/*.sql``.

A file holds several queries, each introduced by a ``-- name: <query>`` line (procrastinate's
layout). Identifiers (``{table}``, ``{keys}``...) are substituted by :func:`render` with names the
store has validated and quoted; ``{{``/``}}`` stand for literal braces; any other ``{...}`` (a
fragment filled in per call, such as ``{where}``) is left as it is. Values are never substituted:
they are bound parameters.
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping

QUERIES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")
_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{(\w+)\}")
# Queries that other queries include by name, in this order (a fragment may include those before
# it): ``{now}`` (the database clock, written once per dialect), ``{job_columns}`` (what a Job is
# read from), and the parts of the claim and the finish that finish_claim shares with them.
FRAGMENTS = ("now", "job_columns", "claimable", "claim_set", "finish_set")
# Queries that only some dialects have; the store asks ``name in dialect.q`` before using one.
OPTIONAL = frozenset({"finish_claim", "hand_back_lost_claims"})


@functools.cache
def load(dialect: str) -> dict[str, str]:
    """``{query name: SQL text}`` for ``dialect`` (``'postgres'`` or ``'sqlite'``)."""
    folder = os.path.join(QUERIES_DIR, dialect)
    queries: dict[str, str] = {}
    for fname in sorted(os.listdir(folder)):
        if not fname.endswith(".sql"):
            continue
        with open(os.path.join(folder, fname), encoding="utf-8") as f:
            text = f.read()
        parts = _NAME_RE.split(text)
        for name, body in zip(parts[1::2], parts[2::2]):
            if name in queries:
                raise ValueError(f"query {name!r} defined twice in {folder}")
            lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
            queries[name] = "\n".join(lines).strip()
    return queries


def render(text: str, names: Mapping[str, str], literal_braces: bool = True) -> str:
    """Substitute the placeholders of ``names`` (already quoted SQL) into ``text``."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0] if literal_braces else m.group(0)
        return names.get(m.group(1), m.group(0))
    return _PLACEHOLDER_RE.sub(sub, text)


class Rendered(Mapping[str, str]):
    """The queries of a dialect for one table, each rendered when first asked for: a store runs a
    few of the dialect's hundred-odd queries, and rendering them all cost every process that
    opens a store (a worker's start included) about 0.3 ms."""

    def __init__(self, raw: Mapping[str, str], names: Mapping[str, str]) -> None:
        self._raw = raw
        self._names = names
        self._done: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        text = self._done.get(name)
        if text is None:
            text = self._done[name] = render(self._raw[name], self._names)
        return text

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def render_all(dialect: str, names: Mapping[str, str], quote: Callable[[str], str]) -> Rendered:
    """Every query of ``dialect`` with its identifiers (``names``: placeholder → raw name, quoted
    here with ``quote``) and its fragments (:data:`FRAGMENTS`: the job's columns, the clock)
    substituted, each when first used."""
    raw = load(dialect)
    quoted = {k: quote(v) for k, v in names.items()}
    fragments: dict[str, str] = {}
    for name in FRAGMENTS:
        fragments[name] = render(raw[name], {**quoted, **fragments})
    return Rendered(raw, {**quoted, **fragments})
