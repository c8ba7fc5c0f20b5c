"""Which experiments a worker may import: ``jobman sql --allow PREFIX[,PREFIX...]`` / ``$JOBMAN_ALLOW``.

Without a list, a worker imports whatever ``jobman.experiment`` a row names (Jobman's behaviour):
anyone who can write a row chooses the code every worker runs. With one, an experiment is run only
if its dotted name is one of the prefixes or lies under one (``models`` allows
``models.mlp_jobman.experiment``, not ``models_x.f``); any other job ends ERR_START with one line
naming the experiment and the list, and nothing of it is imported: the check reads the name only.
"""
from __future__ import annotations

import re

from ..errors import ExperimentError, UsageError

__all__ = ["ALLOW_ENV", "NotAllowedError", "check_allowed", "parse_allow"]

ALLOW_ENV = "JOBMAN_ALLOW"
_DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class NotAllowedError(ExperimentError):
    """A job names an experiment outside the worker's ``--allow`` list."""


def parse_allow(text: str | None, where: str = "--allow") -> tuple[str, ...]:
    """The prefixes of a comma-separated list (empty: no restriction); a bad one is a UsageError."""
    prefixes = tuple(p.strip() for p in (text or "").split(",") if p.strip())
    for p in prefixes:
        if not _DOTTED_RE.match(p):
            raise UsageError(f"invalid {where} prefix {p!r}: expected dotted module names such as "
                             "models or mylab.experiments, separated by commas")
    return prefixes


def check_allowed(experiment: str, prefixes: tuple[str, ...]) -> None:
    """Raise :class:`NotAllowedError` unless ``experiment`` is under one of ``prefixes`` (or the
    list is empty)."""
    if not prefixes:
        return
    name = experiment.strip()
    if any(name == p or name.startswith(p + ".") for p in prefixes):
        return
    raise NotAllowedError(f"experiment {name!r} is not allowed on this worker: --allow/{ALLOW_ENV} "
                          f"admits {','.join(prefixes)} (and what lies under them)")
