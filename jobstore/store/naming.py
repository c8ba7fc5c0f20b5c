"""Jobman's rule for turning state keys into SQL view column names.

``name.replace('_', '').replace('.', '_')``: underscores are removed first, then dots become
underscores, so ``best_validation_loss`` → ``bestvalidationloss`` and ``jobman.status`` →
``jobman_status``. Names are also lower-cased (``L1_reg`` → ``l1reg``), so that psql queries need no
double quotes: PostgreSQL folds unquoted identifiers to lower case. Two keys that give the same name (``a_b`` and ``ab``) are told apart with a
suffix for the later key's type (``ab``, ``ab_i``), as Jobman did, and with a number if that is
still taken. Columns are assigned in the order the keys are given, so adding a key never renames
an existing column.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

# PostgreSQL truncates identifiers to 63 bytes; keep names under it, unambiguously.
MAX_COLUMN_BYTES = 63

TYPE_SUFFIX = {
    "bigint": "i",
    "numeric": "n",
    "double precision": "f",
    "boolean": "b",
    "text": "s",
    "jsonb": "j",
    "null": "s",
}


def column_name(key: str) -> str:
    """Jobman's view column name for ``key`` (no collision handling)."""
    return _fit(key.replace("_", "").replace(".", "_").lower()) or "key"


def _fit(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_COLUMN_BYTES:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    cut = name.encode("utf-8")[: MAX_COLUMN_BYTES - 9].decode("utf-8", "ignore")
    return f"{cut}_{digest}"


def column_names(keys: Iterable[tuple[str, str]], taken: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """``[(key, sql_type), ...]`` → ``[(column, key, sql_type), ...]`` with unique column names
    (case-insensitively, since unquoted SQL folds case), never one of ``taken``."""
    used = {t.lower() for t in taken}
    out: list[tuple[str, str, str]] = []
    for key, typ in keys:
        name = column_name(key)
        if name.lower() in used:
            base = _fit(f"{column_name(key)}_{TYPE_SUFFIX.get(typ, 'x')}")
            name, n = base, 2
            while name.lower() in used:
                name = _fit(f"{base}{n}")
                n += 1
        used.add(name.lower())
        out.append((name, key, typ))
    return out
