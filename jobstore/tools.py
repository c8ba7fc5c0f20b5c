"""Jobman's ``jobman.tools`` names, for scripts written against the original:
``from jobstore.tools import DD, flatten``."""
from __future__ import annotations

from .params.resolve import resolve
from .params.state import DD, defaults_merge, expand, flatten

__all__ = ["DD", "flatten", "expand", "defaults_merge", "resolve"]
