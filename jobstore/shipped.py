"""The files shipped with the package: ``conf/`` (the dispatch defaults and cluster profiles, the
tutorial's ``mlp_jobman.conf``), found from any directory whether the package is installed from a
wheel or used from a checkout (where ``jobstore/conf`` links to the top-level ``conf/``)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["CONF_DIR", "shipped_conf"]

CONF_DIR = Path(__file__).resolve().parent / "conf"


def shipped_conf(name: str) -> Path | None:
    """The shipped conf file called ``name`` (a bare file name), or None."""
    if not name or Path(name).name != name:
        return None
    path = CONF_DIR / name
    return path if path.is_file() else None
