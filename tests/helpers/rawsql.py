"""Plain-driver SQL for tests that damage rows the way a user with psql or sqlite3 could."""
from __future__ import annotations

import sqlite3

import psycopg

from jobstore.store.urls import parse_url


def raw_query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run ``sql`` (``%s`` placeholders on PostgreSQL, ``?`` on SQLite) outside the store."""
    u = parse_url(url)
    if u.dialect == "sqlite":
        with sqlite3.connect(u.path) as c:
            return c.execute(sql.replace("%s", "?"), params).fetchall()
    with psycopg.connect(**u.conninfo(), autocommit=True) as c:
        cur = c.execute(sql, params or None)
        return cur.fetchall() if cur.description else []
