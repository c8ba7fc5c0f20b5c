"""Inserting jobs: the state a job is scheduled with, and Jobman's ``jobman.sql`` functions
(``sql.insert_job(experiment, flatten(state), db)``) for scripts written against the original."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import UsageError
from .params.conflicts import check_conflicts
from .params.resolve import experiment_name
from .params.state import flatten
from .status import CANCELED, DEFAULT_PRIORITY, DONE, ERR_RUN, ERR_START, ERR_SYNC, RUNNING, START
from .store.base import Store

__all__ = ["job_state", "insert_job", "insert_dict",
           "START", "RUNNING", "DONE", "ERR_START", "ERR_SYNC", "ERR_RUN", "CANCELED"]

# Keys that the table keeps as columns; a scheduled state may set only the priority.
_DROPPED_KEYS = ("jobman.id", "jobman.hash", "jobman.status", "jobman.experiment")


def job_state(params: Mapping[str, Any], experiment: str) -> dict[str, Any]:
    """The flat state a job is scheduled with: the flat parameters, then ``jobman.experiment``,
    ``jobman.status`` (START) and ``jobman.sql.priority`` (the one given, else 1.0)."""
    return complete_state(dict(params), experiment)


def complete_state(state: dict[str, Any], experiment: str) -> dict[str, Any]:
    """:func:`job_state` in place, on a dict the caller owns (no copy: sweeps build 100,000)."""
    check_conflicts(state)
    for key in _DROPPED_KEYS:
        state.pop(key, None)
    priority = state.pop("jobman.sql.priority", DEFAULT_PRIORITY)
    if type(priority) is not float and (isinstance(priority, bool) or not isinstance(priority, (int, float))):
        raise UsageError(f"invalid jobman.sql.priority {priority!r}: expected a number (higher runs first)")
    state["jobman.experiment"] = experiment
    state["jobman.status"] = int(START)
    state["jobman.sql.priority"] = float(priority)
    return state


def insert_job(experiment: Callable[..., Any] | str, state: Mapping[str, Any], db: Store,
               force_dup: bool = False, priority: float | None = None, **_ignored: Any) -> int | None:
    """Schedule ``experiment`` (a function or its dotted name) with ``state`` (flat or nested).

    Returns the new job's id, or None when an identical job already exists (unless
    ``force_dup``). ``jobman.experiment`` is set from the function's module and name; a state
    that names another experiment is refused."""
    name = experiment_name(experiment)
    flat = flatten(state)
    given = flat.get("jobman.experiment")
    if given not in (None, name):
        raise UsageError(f"state names experiment {given!r} but insert_job was given {name!r}: "
                         f"remove jobman.experiment from the state or make them agree")
    if priority is not None:
        flat["jobman.sql.priority"] = priority
    result = db.insert_jobs([job_state(flat, name)], force=force_dup)[0]
    return result.job_id if result.inserted else None


def insert_dict(jobdict: Mapping[str, Any], db: Store, force_dup: bool = False,
                priority: float | None = None, **_ignored: Any) -> int | None:
    """Jobman's ``insert_dict``: like :func:`insert_job` with the experiment in ``jobman.experiment``."""
    flat = flatten(jobdict)
    name = flat.get("jobman.experiment")
    if not isinstance(name, str):
        raise UsageError("insert_dict needs the state's 'jobman.experiment' (a dotted name module.function)")
    return insert_job(name, flat, db, force_dup=force_dup, priority=priority)
