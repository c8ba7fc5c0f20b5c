"""``jobman dashboard``: a live web page on a job table, served by the package itself (its
assets ship inside it: login nodes are offline). :mod:`.api` holds the JSON endpoints,
:mod:`.server` the HTTP server (standard library), ``static/`` the page and uPlot (MIT)."""
from __future__ import annotations

from .server import serve

__all__ = ["serve"]
