"""jobstore: the shared job table, the ``jobman`` command and the worker.

The tutorial's Python API: ``open_db(url)``, ``insert_job(experiment, flatten(state), db)``,
``db.createView(name)``, ``DD``, ``flatten``, ``expand``. Scripts written for Jobman run with
``jobman`` replaced by ``jobstore`` in their imports (``from jobstore import api0, sql``,
``from jobstore.tools import DD, flatten``).
"""
from __future__ import annotations

from .api0 import open_db
from .params.expansion import expand_braces
from .params.parser import parse_params
from .params.resolve import resolve, resolve_experiment
from .params.state import DD, defaults_merge, expand, flatten
from .sql import insert_dict, insert_job
from .status import CANCELED, DONE, ERR_RUN, ERR_START, ERR_SYNC, RUNNING, START

__all__ = [
    "DD", "flatten", "expand", "defaults_merge",
    "START", "RUNNING", "DONE", "ERR_START", "ERR_SYNC", "ERR_RUN", "CANCELED",
    "open_db", "insert_job", "insert_dict", "parse_params", "expand_braces", "resolve", "resolve_experiment",
]
