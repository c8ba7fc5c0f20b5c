"""Import an object by its dotted name (``package.module.function``).

Used at schedule time to check that an experiment imports (a typo is an error then, not a job that
fails later), by ``key:=@module.callable(...)`` parameters, and by the worker at run time.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable

from ..errors import ExperimentError

_DOTTED_HINT = "a dotted name module.function importable from the current directory or PYTHONPATH"


def _ensure_cwd_on_path() -> None:
    # The `jobman` console script puts its bin/ directory first on sys.path, not the current
    # directory, while Jobman's users keep their experiment module beside them (`mlp_jobman.py`).
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)


def resolve(dotted_name: str, what: str = "name") -> Any:
    """Return the object named ``a.b.c``: the longest importable module prefix, then attributes.

    Raises :class:`ExperimentError` (one line: the name and why) when nothing by that name can be
    imported; an error raised while importing the module is reported, not hidden."""
    name = (dotted_name or "").strip()
    parts = name.split(".")
    if not name or not all(p.isidentifier() for p in parts):
        raise ExperimentError(f"invalid {what} {dotted_name!r}: expected {_DOTTED_HINT}")
    _ensure_cwd_on_path()
    module = None
    i = len(parts)
    while i > 0:
        modname = ".".join(parts[:i])
        try:
            module = importlib.import_module(modname)
            break
        except ModuleNotFoundError as e:
            missing = e.name or ""
            if missing and (modname == missing or modname.startswith(missing + ".")):
                i -= 1  # this prefix is not a module: try a shorter one
                continue
            raise ExperimentError(f"cannot import {what} {name!r}: importing {modname!r} failed: "
                                  f"ModuleNotFoundError: {e}") from None
        except Exception as e:  # noqa: BLE001 - any error inside the user's module is reported
            raise ExperimentError(f"cannot import {what} {name!r}: importing {modname!r} failed: "
                                  f"{type(e).__name__}: {e}") from None
    if module is None:
        raise ExperimentError(f"cannot import {what} {name!r}: no module named {parts[0]!r} "
                              f"(expected {_DOTTED_HINT})")
    obj: Any = module
    for j in range(i, len(parts)):
        try:
            obj = getattr(obj, parts[j])
        except AttributeError:
            owner = ".".join(parts[:j])
            raise ExperimentError(f"cannot import {what} {name!r}: {owner!r} has no attribute {parts[j]!r} "
                                  f"(expected {_DOTTED_HINT})") from None
    return obj


def resolve_experiment(dotted_name: str) -> Callable[..., Any]:
    """Import an experiment ``f(state, channel)`` and check that it is callable."""
    fn = resolve(dotted_name, "experiment")
    if not callable(fn) or isinstance(fn, type(sys)):
        raise ExperimentError(f"experiment {dotted_name!r} is not callable: expected a function "
                              f"experiment(state, channel) given as {_DOTTED_HINT}")
    return fn


def experiment_name(fn: Callable[..., Any] | str) -> str:
    """The dotted name stored in ``jobman.experiment`` for a function (``module.qualname``) or a name."""
    if isinstance(fn, str):
        resolve_experiment(fn)
        return fn.strip()
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not module or not qualname or "<" in qualname:
        raise ExperimentError(f"experiment {fn!r} has no importable name: define it at the top level of a module")
    if module == "__main__":
        raise ExperimentError(f"experiment {qualname!r} is defined in the script being run (__main__), which "
                              f"a worker cannot import: move it to a module and import it from there")
    return f"{module}.{qualname}"
