"""The installed version, for ``jobman --version`` and ``jobdispatch --version``."""
from __future__ import annotations

DISTRIBUTION = "jobman-ng"


def version_line(tool: str) -> str:
    """``jobman (jobman-ng 0.1.0)``: the tool and the distribution it belongs to."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        number = "unknown (not installed)"
    return f"{tool} ({DISTRIBUTION} {number})"
