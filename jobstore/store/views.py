"""The key registry and the typed views of a job table: every key ever stored with its SQL type
(``<table>__keys``), and the views kept up to date as keys appear (``<table>__views``), whose
columns follow Jobman's naming rule (:mod:`.naming`)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import UsageError
from ..status import Status
from . import queries
from .base import MIRRORED_KEYS
from .codec import T_FLOAT, T_INT, T_TEXT, widen
from .connector import Connector, one_line
from .dialect import Dialect
from .naming import column_names
from .urls import check_identifier

logger = logging.getLogger("jobstore")

# Mirrored keys → (column, key type, coercion of a --select value).
MIRROR_COLUMNS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "jobman.id": ("id", T_INT, int),
    "jobman.experiment": ("experiment", T_TEXT, str),
    "jobman.status": ("status", T_INT, lambda v: int(Status.parse(v))),
    "jobman.sql.priority": ("priority", T_FLOAT, float),
    "jobman.hash": ("hash", T_TEXT, str),
}
assert set(MIRROR_COLUMNS) == set(MIRRORED_KEYS)
ROW_TIME_COLUMNS = ("created", "started", "ended")  # in views as jobman_<name> and jobman_<name>_iso
TIME_KEY_SUFFIXES = ("start_time", "end_time")  # epoch-second keys (provenance), not durations (run_time)
# At most this many columns of a view show keys (a time key's _iso column counts): PostgreSQL
# refuses a select list past 1,664 entries, SQLite past 2,000. The keys past the cap, in the
# order they were first stored (so that a new key never moves an older one), are in one JSON
# column, EXTRA_KEYS_COLUMN ({key: value}); the column name is reserved even below the cap.
VIEW_MAX_KEY_COLUMNS = 1000
EXTRA_KEYS_COLUMN = "extra_keys"


class Views:
    """The keys and views of one table, through ``db`` and ``sql``. Caches the keys it knows, so a
    write that brings no new key costs nothing here."""

    def __init__(self, db: Connector, sql: Dialect) -> None:
        self.db, self.sql = db, sql
        self._cache: dict[str, str] | None = None
        self._covered: set[tuple[str, str]] = set()  # (key, type) pairs the cache's types cover

    def forget(self) -> None:
        """Drop the cache (it may hold keys whose registration was rolled back)."""
        self._cache = None
        self._covered = set()

    def keys(self) -> dict[str, str]:
        rows = self.db.run("keys", lambda c: self.sql.exec(c, "all_keys").fetchall())
        out = {key: typ for key, (_, typ, _) in MIRROR_COLUMNS.items()}
        out.update({name: typ for name, typ in rows})
        return out

    def register(self, conn: Any, types: Mapping[str, str]) -> None:
        """Record keys not seen before (or whose type widened) and rebuild the registered views.
        Runs before the write that brings the keys (in its own short transaction), or within the
        insert's transaction."""
        if self._covered.issuperset(types.items()):  # the usual case: the keys of the last write
            return
        if self._cache is None:
            self._cache = dict(self.sql.exec(conn, "all_keys").fetchall())
        cache = self._cache
        if all(k in cache and widen(cache[k], t) == cache[k] for k, t in types.items()):
            self._covered.update(types.items())
            return
        with self.db.transaction(conn):
            self.sql.exec(conn, "lock_keys", {"lock": f"jobstore.keys.{self.sql.url.table}"})
            current = dict(self.sql.exec(conn, "all_keys").fetchall())
            changed = False
            for key, typ in types.items():
                new = widen(current.get(key), typ)
                if current.get(key) != new:
                    self.sql.exec(conn, "upsert_key", {"name": key, "type": new})
                    current[key] = new
                    changed = True
            if changed:
                for view in [r[0] for r in self.sql.exec(conn, "registered_views").fetchall()]:
                    self._build(conn, view, current, tolerate_locks=True)
        self._cache = current
        self._covered.update(types.items())

    def _columns(self, keys: Mapping[str, str]) -> list[tuple[str, str]]:
        """(column name, SQL expression) of a view: the id, the mirrored keys, every key (up to
        :data:`VIEW_MAX_KEY_COLUMNS`, the rest in :data:`EXTRA_KEYS_COLUMN`), then the row's times.
        Each time (a float key named ``*start_time``/``*end_time``, and the row's created, started and
        ended) is epoch seconds, with an ISO 8601 text column in UTC beside it (``<column>_iso``)."""
        cols = [("id", "id")] + [(key.replace(".", "_"), column) for key, (column, _, _) in MIRROR_COLUMNS.items()]
        rows = [(f"jobman_{c}", self._q("view_row_time", column=c)) for c in ROW_TIME_COLUMNS]
        taken = [c for c, _ in cols + rows] + [f"{c}_iso" for c, _ in rows] + [EXTRA_KEYS_COLUMN]
        named = column_names([(k, t) for k, t in keys.items() if k not in MIRROR_COLUMNS], taken=taken)
        taken += [col for col, _, _ in named]
        shown: list[str] = []
        for col, key, typ in named:
            expr = self.sql.view_expr(key, typ)
            key_cols = [(col, expr)]
            if typ == T_FLOAT and key.endswith(TIME_KEY_SUFFIXES) and f"{col}_iso" not in taken:
                key_cols.append((f"{col}_iso", self._q("view_iso_time", epoch=expr)))
            if len(cols) - 1 - len(MIRROR_COLUMNS) + len(key_cols) > VIEW_MAX_KEY_COLUMNS:
                cols.append((EXTRA_KEYS_COLUMN, self._q("view_extra_keys", chosen=self._literals(shown))))
                break
            cols += key_cols
            shown.append(key)
        for col, expr in rows:
            cols += [(col, expr), (f"{col}_iso", self._q("view_iso_time", epoch=expr))]
        return cols

    def _q(self, name: str, **fragments: str) -> str:
        return queries.render(self.sql.q[name], fragments, False)

    @staticmethod
    def _literals(keys: list[str]) -> str:
        """``'a', 'b'``: SQL string literals (standard quoting, which both dialects read) of ``keys``."""
        return ", ".join("'" + k.replace("'", "''") + "'" for k in keys)

    def _build(self, conn: Any, view: str, keys: Mapping[str, str], tolerate_locks: bool = False) -> list[str]:
        cols = self._columns(keys)
        select = ", ".join(f"{expr} AS {self.sql.quote(col)}" for col, expr in cols)
        try:
            with self.db.transaction(conn):
                self.sql.exec(conn, "view_lock_timeout")
                self.sql.exec(conn, "drop_view", view=self.sql.quote(view))
                self.sql.exec(conn, "create_view", view=self.sql.quote(view), columns=select)
        except Exception as exc:
            if not (tolerate_locks and self.db.is_driver_error(exc) and not self.db.is_transient(exc, conn)):
                raise
            logger.warning("jobstore: view %s of %s not updated (%s); run `jobman sqlview` again",
                           view, self.sql.url.display(), one_line(exc))
        return [c for c, _ in cols]

    def create(self, name: str, *, replace: bool = False) -> list[str]:
        table = self.sql.url.table
        check_identifier(name, "view")
        if name == table or name.startswith(table + "__"):
            raise UsageError(f"view name {name!r} is taken by the job table: choose another name")

        def op(conn: Any) -> list[str]:
            with self.db.transaction(conn):
                self.sql.exec(conn, "lock_keys", {"lock": f"jobstore.keys.{table}"})
                if not replace:
                    self._refuse_foreign(conn, name)
                self.sql.exec(conn, "register_view", {"name": name})
                keys = dict(self.sql.exec(conn, "all_keys").fetchall())
                return self._build(conn, name, keys)

        return self.db.run("create_view", op)

    def _refuse_foreign(self, conn: Any, name: str) -> None:
        """A view of that name that this table did not register is someone else's: not replaced."""
        exists = self.sql.exec(conn, "view_exists", {"name": name}).fetchone()[0]
        if exists and name not in [r[0] for r in self.sql.exec(conn, "registered_views").fetchall()]:
            raise UsageError(f"view {name!r} exists in {self.sql.url.display()} and was not created by jobman "
                             f"sqlview for table {self.sql.url.table!r}: choose another name, or pass --replace "
                             "to replace it")

    def drop(self, name: str) -> None:
        check_identifier(name, "view")

        def op(conn: Any) -> None:
            with self.db.transaction(conn):
                self.sql.exec(conn, "lock_keys", {"lock": f"jobstore.keys.{self.sql.url.table}"})
                exists = self.sql.exec(conn, "view_exists", {"name": name}).fetchone()[0]
                self.sql.exec(conn, "unregister_view", {"name": name})
                if not exists:
                    raise UsageError(f"no view {name!r} in {self.sql.url.display()}")
                self.sql.exec(conn, "drop_view", view=self.sql.quote(name))

        self.db.run("drop_view", op)

    def names(self) -> list[str]:
        """The views kept up to date by this table."""
        return [r[0] for r in self.db.run("views", lambda c: self.sql.exec(c, "registered_views").fetchall())]
