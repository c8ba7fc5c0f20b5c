"""jobstore: the shared job table, the ``jobman`` command and the worker.

The tutorial's Python API: ``open_db(url)``, ``insert_job(experiment, flatten(state), db)``,
``db.createView(name)``, ``DD``, ``flatten``, ``expand``.
"""
from __future__ import annotations

from .state import DD, defaults_merge, expand, flatten
from .status import CANCELED, DONE, ERR_RUN, ERR_START, ERR_SYNC, RUNNING, START

__all__ = [
    "DD", "flatten", "expand", "defaults_merge",
    "START", "RUNNING", "DONE", "ERR_START", "ERR_SYNC", "ERR_RUN", "CANCELED",
]
