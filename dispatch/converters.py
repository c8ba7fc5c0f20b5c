"""What jobdispatch's option values mean: each converter turns the text of one option (from the
command line, a conf profile or ``$JOBDISPATCH_DEFAULT_OPTION``) into its value, or raises a
one-line :class:`~dispatch.errors.UsageError` naming the option and what it accepts."""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from .errors import UsageError

_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_MEM_FACTOR_MB = {"": 1.0, "k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0 * 1024}
# SLURM's --time forms, each with the seconds of its fields (a bare number is the unit regex's minutes).
_SLURM_TIME_FORMS = (
    (re.compile(r"^(\d+)-(\d+):(\d{1,2}):(\d{1,2})$"), (86400, 3600, 60, 1)),
    (re.compile(r"^(\d+)-(\d+):(\d{1,2})$"), (86400, 3600, 60)),
    (re.compile(r"^(\d+)-(\d+)$"), (86400, 3600)),
    (re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})$"), (3600, 60, 1)),
    (re.compile(r"^(\d+):(\d{2})$"), (60, 1)),
)
_UNIT_TIME_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$", re.IGNORECASE)
_UNIT_TIME_S = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}
_ENV_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
TASKS_FILENAME_PATTERNS = ("nb0", "nb1", "compact", "explicit", "none")


def parse_int(option: str, minimum: int | None = None, allow_minus_one: bool = False) -> Callable[[str], int]:
    def conv(text: str) -> int:
        value: int | None
        try:
            value = int(str(text).strip())
        except ValueError:
            value = None
        ok = value is not None and (minimum is None or value >= minimum or (allow_minus_one and value == -1))
        if value is None or not ok:
            accepted = f"an integer >= {minimum}" if minimum is not None else "an integer"
            raise UsageError(f"bad {option} value {str(text)!r}: expected {accepted}"
                             + (" (or -1 for no limit)" if allow_minus_one else ""))
        return value
    return conv


def parse_mem(text: str) -> int:
    """A memory size in MiB: ``4G`` → 4096, ``500M``/``500`` → 500, ``2048K`` → 2."""
    m = _MEM_RE.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"bad --mem value {str(text)!r}: expected a size in MB, or with a unit K, M, G or T "
                         "(e.g. 500M, 4G, 1.5G)")
    return max(1, int(round(float(m.group(1)) * _MEM_FACTOR_MB[m.group(2).lower()])))


def parse_duration(text: str) -> int:
    """A wall time in seconds, in any of SLURM's forms (``MM``, ``MM:SS``, ``H:MM:SS``, ``D-HH``,
    ``D-HH:MM``, ``D-HH:MM:SS``: a bare number is minutes), or a number with a unit s/m/h/d."""
    s = str(text).strip()
    for pattern, unit_s in _SLURM_TIME_FORMS:
        m = pattern.match(s)
        if m:
            fields = [int(x) for x in m.groups()]
            total = sum(f * u for f, u in zip(fields, unit_s))
            # minutes and seconds after a colon stay below 60 (the leading field may be any size)
            if total > 0 and all(f < 60 for f, u in zip(fields[1:], unit_s[1:]) if u < 3600):
                return total
            break
    m = _UNIT_TIME_RE.match(s)
    if m and float(m.group(1)) > 0:
        return int(round(float(m.group(1)) * _UNIT_TIME_S[m.group(2).lower()]))
    raise UsageError(f"bad --time/--duree value {s!r}: expected SLURM's MM:SS, H:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS "
                     "(e.g. 30:00, 12:00:00, 2-00) or a number with a unit s, m, h or d (e.g. 90m, 2h; "
                     "a bare number is minutes)")


def parse_env(text: str) -> list[tuple[str, str]]:
    """``VAR=value``, or several space-separated ones as in Jobman (``"A=1 B=2"``)."""
    s = str(text)
    try:
        parts = shlex.split(s)
    except ValueError:
        parts = []
    if len(parts) > 1 and all(_ENV_RE.match(p) for p in parts):
        return [_ENV_RE.match(p).groups() for p in parts]  # type: ignore[union-attr,misc]
    m = _ENV_RE.match(s)
    if not m:
        raise UsageError(f"bad --env value {s!r}: expected VAR=value (VAR: letters, digits, _), "
                         "e.g. --env=OMP_NUM_THREADS=2")
    return [(m.group(1), m.group(2))]


def parse_key_value(option: str) -> Callable[[str], tuple[str, str]]:
    def conv(text: str) -> tuple[str, str]:
        key, sep, value = str(text).partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {option} value {str(text)!r}: expected KEY=VALUE")
        return key.strip(), value
    return conv


def parse_tasks_filename(text: str) -> list[str]:
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    for p in items:
        if p not in TASKS_FILENAME_PATTERNS:
            raise UsageError(f"bad --tasks_filename pattern {p!r}: expected a comma list of "
                             f"{', '.join(TASKS_FILENAME_PATTERNS)}")
    return items


def parse_list(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def parse_bool(option: str) -> Callable[[Any], bool]:
    def conv(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"bad {option} value {value!r}: expected true or false")
    return conv


# ------------------------------------------------------------------------------------ parser --

# dest -> converter for conf-file values (scalars; list options convert each element)
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "backend": str,
    "repeat_jobs": parse_int("--repeat_jobs", 1),
    "nb_proc": parse_int("--nb_proc", 1, allow_minus_one=True),
    "cpu": parse_int("--cpu", 1, allow_minus_one=True),
    "mem": parse_mem,
    "gpu": parse_int("--gpu", 0),
    "time": parse_duration,
    "queue": str, "project": str, "jobs_name": str, "exp_dir": str, "logdir": str,
    "only_n_first": parse_int("--only_n_first", 1),
    "test": parse_bool("--test"), "wait": parse_bool("--wait"), "group_access": parse_bool("--group_access"),
    "command_check": parse_bool("--command_check"),
    "set_special_env": parse_bool("--set_special_env"),
    "ssh_key": str, "ssh_known_hosts": str,
    "ssh_accept_new_host_keys": parse_bool("--ssh_accept_new_host_keys"),
    "ssh_connect_timeout": parse_int("--ssh_connect_timeout", 1),
    "profile": str,
    "requeue": parse_bool("--requeue"),
    "max_requeues": parse_int("--max_requeues", 0),
    "allow": lambda v: ",".join(v) if isinstance(v, list) else str(v),
}
# list options: dest -> converter of one item (returning a list of items)
LIST_CONVERTERS: dict[str, Callable[[Any], list[Any]]] = {
    "env": parse_env,
    "raw": lambda v: [str(v)],
    "req": lambda v: [str(v)],
    "os": parse_list,
    "machine": parse_list,
    "machines": lambda v: [str(v)],
    "file": lambda v: [str(v)],
    "tasks_filename": parse_tasks_filename,
    "conf": lambda v: [str(v)],
    "backend_option": lambda v: [parse_key_value("--backend_option")(v)],
}
