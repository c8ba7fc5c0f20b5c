"""Where each ``jobdispatch`` setting comes from, in one place.

Precedence, lowest first:

1. :data:`BUILTIN_DEFAULTS` (and the chosen backend's ``default_nb_proc``);
2. conf files, read in order: the package's ``conf/dispatch*.yaml``, then ``$JOBDISPATCH_CONF``
   (``os.pathsep``-separated), then each ``--conf FILE``; in each file the ``defaults:`` mapping,
   then the entry of ``profiles:`` selected by ``--profile`` (or ``profile:`` in the defaults);
3. the environment: ``$JOBDISPATCH_DEFAULT_OPTION`` (shell-split options, as if prepended to the
   command line; ``$DBIDISPATCH_DEFAULT_OPTION`` as a fallback) and ``$JOBDISPATCH_LOGDIR``
   (``$DBIDISPATCH_LOGDIR``);
4. the flags on the command line.

A scalar from a higher layer replaces a lower one. ``env``, ``raw`` and ``req`` accumulate
(a later ``VAR=`` wins for the same variable); other lists (``machine``, ``tasks_filename``...)
are replaced by the highest layer that sets them.
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from backends import registry
from jobstore.shipped import CONF_DIR as SHIPPED_CONF_DIR

from .errors import UsageError
from .options import CONVERTERS, LIST_CONVERTERS, build_parser, split_argv

CONF_DIR = SHIPPED_CONF_DIR
CONF_GLOB = "dispatch*.yaml"
DEFAULT_LOGDIR = "LOGS"
ACCUMULATED = ("env", "raw", "req", "backend_option")

BUILTIN_DEFAULTS: dict[str, Any] = {
    "backend": None,  # None: detected from the PATH
    "repeat_jobs": 1,
    "nb_proc": None,  # None: the backend's default
    "cpu": None, "mem": None, "gpu": 0, "time": None,
    "queue": None, "project": None, "jobs_name": "jobdispatch",
    "exp_dir": None, "logdir": DEFAULT_LOGDIR,
    "only_n_first": None, "tasks_filename": ["nb0", "compact"],
    "test": False, "wait": None, "set_special_env": True, "group_access": False, "command_check": True,
    "ssh_key": None, "ssh_known_hosts": None, "ssh_accept_new_host_keys": False, "ssh_connect_timeout": 10,
    "profile": None, "allow": None, "requeue": False, "max_requeues": 10,
    "env": [], "raw": [], "req": [], "os": [], "machine": [], "machines": [], "file": [], "conf": [],
    "backend_option": [],
}
# conf-file spellings accepted besides the option names
ALIASES = {"duree": "time", "partition": "queue", "account": "project", "job_name": "jobs_name",
           "hosts": "machine", "repeat-jobs": "repeat_jobs", "nb-proc": "nb_proc", "backend_options": "backend_option",
           "max-requeues": "max_requeues"}


def detect_backend(path: str | None = None) -> str:
    """The backend a bare ``jobdispatch`` uses: the highest-priority backend of the registry that
    detects itself on the PATH (condor_submit -> condor, sbatch -> slurm, plugins...), else local."""
    return registry.detect_backend(path)


def conf_files(extra: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    files = sorted(CONF_DIR.glob(CONF_GLOB))
    for p in env.get("JOBDISPATCH_CONF", "").split(os.pathsep):
        if p:
            files.append(Path(p).expanduser())
    files += [Path(p).expanduser() for p in extra]
    return files


def load_conf(path: Path) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise UsageError(f"conf file {str(path)!r} does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot read conf file {str(path)!r}: {first}") from None
    if not isinstance(data, dict) or not set(data) <= {"defaults", "profiles"}:
        raise UsageError(f"conf file {str(path)!r}: expected a mapping with 'defaults:' and/or 'profiles:'")
    return data


def normalize(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Conf-file values → the same types the command line produces."""
    out: dict[str, Any] = {}
    for raw_key, value in (values or {}).items():
        key = ALIASES.get(str(raw_key), str(raw_key).replace("-", "_"))
        key = ALIASES.get(key, key)
        if key == "backend_option" and isinstance(value, Mapping):
            out[key] = [(str(k), v) for k, v in value.items()]  # typed YAML values kept as they are
        elif key in LIST_CONVERTERS:
            if key == "env" and isinstance(value, Mapping):
                items: list[Any] = [f"{k}={v}" for k, v in value.items()]
            else:
                items = value if isinstance(value, list) else [value]
            conv = LIST_CONVERTERS[key]
            out[key] = [x for item in items for x in conv(item)]
        elif key in CONVERTERS:
            out[key] = None if value is None else CONVERTERS[key](value)
        else:
            known = sorted(set(CONVERTERS) | set(LIST_CONVERTERS))
            raise UsageError(f"unknown setting {raw_key!r} in {where}: expected one of {', '.join(known)}")
    return out


def merge(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(BUILTIN_DEFAULTS)
    for layer in layers:
        for key, value in layer.items():
            if key in ACCUMULATED:
                merged[key] = list(merged.get(key) or []) + list(value or [])
            else:
                merged[key] = value
    return merged


def resolve(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Every setting for this run, and the command words. Raises :class:`UsageError`."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    opt_args, command = split_argv(parser, argv)
    flags = vars(parser.parse_args(opt_args))
    env_text = env.get("JOBDISPATCH_DEFAULT_OPTION", env.get("DBIDISPATCH_DEFAULT_OPTION", ""))
    try:
        env_args = shlex.split(env_text)
    except ValueError as e:
        raise UsageError(f"bad $JOBDISPATCH_DEFAULT_OPTION {env_text!r}: {e}") from None
    env_opts, leftover = split_argv(parser, env_args)
    if leftover:
        raise UsageError(f"$JOBDISPATCH_DEFAULT_OPTION may hold only options, not {leftover[0]!r}")
    from_env = vars(parser.parse_args(env_opts))
    logdir = env.get("JOBDISPATCH_LOGDIR", env.get("DBIDISPATCH_LOGDIR"))
    if logdir:
        from_env.setdefault("logdir", logdir)

    layers: list[dict[str, Any]] = []
    files = conf_files([*from_env.get("conf", []), *flags.get("conf", [])], env)
    confs = [load_conf(p) for p in files]
    profile = flags.get("profile") or from_env.get("profile")
    for path, data in zip(files, confs):
        layers.append(normalize(data.get("defaults") or {}, f"{path} (defaults)"))
        profile = profile or layers[-1].get("profile")
    if profile:
        found = False
        for path, data in zip(files, confs):
            profiles = data.get("profiles") or {}
            if profile in profiles:
                layers.append(normalize(profiles[profile] or {}, f"{path} (profile {profile})"))
                found = True
        if not found:
            names = sorted({n for d in confs for n in (d.get("profiles") or {})})
            raise UsageError(f"unknown profile {profile!r}: expected one of {', '.join(names) or '(none defined)'} "
                             f"from {', '.join(map(str, files))}")
    layers += [from_env, flags]
    settings = merge(layers)
    settings["profile"] = profile
    return settings, command
