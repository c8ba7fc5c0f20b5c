"""The one registry of backends: from it ``jobdispatch`` derives its ``--<name>`` flags, their help
and which backend a bare ``jobdispatch`` uses.

Two sources, one table: the backends shipped here (:data:`BUILTIN`), and plugins, i.e. other
installed distributions that declare an entry point in the group ``jobman.backends``
(``pbs = site_pbs:PbsBackend``). A backend class says the rest itself (:class:`~backends.base.Backend`:
``name``, ``help``, ``detect_command``, ``detect_priority``, :meth:`~backends.base.Backend.detect`).

Classes are imported on demand, and a plugin that cannot be imported never breaks ``jobdispatch``:
its flag stays (its help says why it is unusable), autodetection skips it, and only selecting it gives
a one-line :class:`~jobstore.errors.UsageError`. A plugin never replaces a built-in backend of the same
name, and a name that is not a valid flag (``^[a-z][a-z0-9_-]*$``) is ignored.
"""
from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from .base import Backend

__all__ = ["ENTRY_POINT_GROUP", "BUILTIN", "DEFAULT_BACKEND", "Entry", "entries", "backend_names", "get_backend",
           "backend_help", "detect_backend", "detection_order"]

ENTRY_POINT_GROUP = "jobman.backends"
BUILTIN: dict[str, str] = {
    "local": "backends.local:LocalBackend",
    "ssh": "backends.ssh:SshBackend",
    "slurm": "backends.slurm:SlurmBackend",
    "condor": "backends.condor:CondorBackend",
}
DEFAULT_BACKEND = "local"
"""What a bare ``jobdispatch`` uses when no backend is detected."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Entry:
    """One registered backend: its name, where its class is (``module:Class``) and who provides it."""

    name: str
    target: str
    origin: str = "built in"

    def load(self) -> type[Backend]:
        """The backend class; :class:`UsageError` (one line) if it cannot be imported or is not one."""
        from .base import Backend

        module, _, attr = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as e:  # a plugin may fail in any way on import; say how in one line
            said = " ".join(str(e).split())
            raise UsageError(f"backend {self.name!r} ({self.origin}, {self.target}) cannot be loaded: "
                             f"{type(e).__name__}: {said}") from None
        if not (isinstance(cls, type) and issubclass(cls, Backend)) or cls.name != self.name:
            raise UsageError(f"backend {self.name!r} ({self.origin}): {self.target} is not a Backend class "
                             f"named {self.name!r}")
        return cls


@functools.lru_cache(maxsize=1)
def entries() -> dict[str, Entry]:
    """Every registered backend by name: the built-in ones, then plugins sorted by name."""
    found = {name: Entry(name, target) for name, target in BUILTIN.items()}
    for ep in sorted(_entry_points(), key=lambda ep: ep.name):
        if ep.name not in found and _NAME_RE.match(ep.name):
            dist = getattr(ep, "dist", None)
            origin = f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"
            found[ep.name] = Entry(ep.name, ep.value, origin)
    return found


def backend_names() -> list[str]:
    """Registered names, sorted (flags are added in :func:`entries` order: built-in ones first)."""
    return sorted(entries())


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``; :class:`UsageError` naming the known ones."""
    entry = entries().get(name)
    if entry is None:
        raise UsageError(f"unknown backend {name!r}: expected one of {', '.join(backend_names())}")
    return entry.load()


def backend_help(name: str) -> str:
    """The help line of ``name`` (for a plugin that cannot be loaded: why)."""
    try:
        cls = get_backend(name)
    except UsageError as e:
        return f"unusable: {e}"
    return cls.help or f"run on {name}"


def detection_order() -> list[type[Backend]]:
    """Backends that can be loaded, highest ``detect_priority`` first (ties by name)."""
    classes = []
    for name in backend_names():
        try:
            classes.append(get_backend(name))
        except UsageError:
            continue  # a broken plugin is reported only when selected
    return sorted(classes, key=lambda c: (-c.detect_priority, c.name))


def detect_backend(path: str | None = None) -> str:
    """The backend a bare ``jobdispatch`` uses: the highest-priority one whose :meth:`detect` says
    it is usable here (``path``: the PATH to search, default the environment's), else local."""
    for cls in detection_order():
        try:
            if cls.detect(path):
                return cls.name
        except Exception:  # a plugin's detect() must not break jobdispatch
            continue
    return DEFAULT_BACKEND


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points()
    if hasattr(eps, "select"):  # Python >= 3.10
        return list(eps.select(group=ENTRY_POINT_GROUP))
    return list(eps.get(ENTRY_POINT_GROUP, []))  # type: ignore[attr-defined]
