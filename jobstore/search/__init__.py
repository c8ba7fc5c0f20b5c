"""Adaptive search on the job table: a space of ``key~distribution(...)`` dimensions
(:mod:`.space`) and Optuna's samplers asked once per new job from the table's history
(:mod:`.samplers`). The searches themselves live in the store (``store/searches.py``); the
unchanged workers serve them when no scheduled job is left. Importing this package never
imports Optuna."""
from __future__ import annotations

from .space import Dimension, is_dimension, parse_dimension, parse_space, split_tokens

__all__ = ["Dimension", "is_dimension", "parse_dimension", "parse_space", "split_tokens"]
