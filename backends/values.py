"""Values that end up in rendered scripts and submit descriptions: one line each, no NUL.

``shlex.quote`` keeps a newline inside quotes, but a directive (``#SBATCH --job-name=...``) or a
submit-description line (``batch_name = ...``) ends at the newline: ``--jobs_name=$'x\\ntouch PWNED #'``
would add a shell line to the script (and silently turn the directives after it into comments), a
condor option an ``executable = ...`` line. Such values come from flags and from shared YAML
profiles; :func:`check_one_line` refuses them before anything is written, naming the option.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import UsageError
from .submission import Resources, Task

__all__ = ["check_one_line", "check_values"]

_BREAKS = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL character"}

# Resources field -> the option a user gives it with
_OPTION_OF = {"queue": "--queue", "account": "--project", "job_name": "--jobs_name", "raw": "--raw",
              "requirements": "--req/--os", "machines": "--machine(s)"}


def check_one_line(value: object, option: str) -> None:
    """Raise :class:`UsageError` if ``value`` (a string, or strings in a list) holds a line break or NUL."""
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if not isinstance(item, str):
            continue
        for ch, name in _BREAKS.items():
            if ch in item:
                raise UsageError(f"bad {option} value {item!r}: it holds {name}; a value written into a "
                                 "script or submit description must be one line")


def check_values(tasks: Iterable[Task], resources: Resources, options: Mapping[str, Any]) -> None:
    """Every value a backend renders: the resources, the environment, the backend options; NUL in
    commands (a command line may span lines: it is one quoted shell word)."""
    for field, option in _OPTION_OF.items():
        check_one_line(getattr(resources, field), option)
    for k, v in resources.env.items():
        check_one_line(v, f"--env {k}")
    for key, v in options.items():
        check_one_line(v, f"backend option {key!r}")
    for t in tasks:
        if "\0" in t.command:
            raise UsageError(f"bad command {t.command!r} of task {t.index}: it holds a NUL character")
        for k, v in t.env.items():
            check_one_line(v, f"environment variable {k} of task {t.index}")
