"""Jobman's ``jobman.api0`` entry point, for scripts written against the original:
``db = api0.open_db(url)``, then ``db.createView(name)``."""
from __future__ import annotations

from typing import Any

from .store.base import Store


def open_db(url: str, echo: bool = False, serial: bool = False, **_ignored: Any) -> Store:
    """Open the job table named by ``url`` (``postgresql://user@host/db?table=T`` or
    ``sqlite:///path.db?table=T``), creating it if missing, as Jobman did.

    ``echo``, ``serial`` and Jobman's other SQLAlchemy options are accepted and ignored: every
    statement of the store is atomic on its own."""
    from .store import open_db as _open_store

    return _open_store(url, create=True)
