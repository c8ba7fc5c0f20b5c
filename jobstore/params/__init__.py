"""Jobman's parameter language: ``key=value``, ``key:=@callable(...)`` (evaluated at schedule time and
stored), ``key::builder``, ``prefix <- file.conf``, ``{{a,b}}`` cartesian products; ``DD``,
``flatten``/``expand``, and resolving dotted names to Python objects.

- :mod:`.parser`: command-line and ``.conf`` tokens → a flat dict of typed values.
- :mod:`.expansion`: ``{{a,b}}`` segments → the list of command lines they stand for.
- :mod:`.state`: ``DD`` (a dict with attribute access), ``flatten``, ``expand``, ``defaults_merge``.
- :mod:`.resolve`: ``module.attr`` names → objects, and an experiment's dotted name.
"""
from __future__ import annotations

from .expansion import count_combinations, expand_arg, expand_braces
from .parser import ParamParser, convert, parse_params, parse_select
from .resolve import experiment_name, resolve, resolve_experiment
from .state import DD, defaults_merge, expand, flatten

__all__ = [
    "ParamParser", "convert", "parse_params", "parse_select",
    "expand_braces", "expand_arg", "count_combinations",
    "DD", "flatten", "expand", "defaults_merge",
    "resolve", "resolve_experiment", "experiment_name",
]
