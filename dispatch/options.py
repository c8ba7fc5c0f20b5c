"""The ``jobdispatch`` command line: Jobman's option spellings, modern aliases, value parsing.

Options come first; everything from the first argument that is not an option (or after ``--``)
is the command. Only options that were given appear in the parsed namespace
(``argparse.SUPPRESS``), so that :mod:`dispatch.config` can layer built-in defaults < conf files <
``$JOBDISPATCH_DEFAULT_OPTION`` < flags.

The value parsers here (:func:`parse_mem`, :func:`parse_duration`, ...) are also applied to the
values of conf files, so a conf file accepts exactly what the command line accepts.
"""
from __future__ import annotations

import argparse
import functools
import re
import shlex
import string
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from backends import registry

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

EPILOG = """\
Defaults, from lowest to highest precedence: built-in < conf files (conf/dispatch*.yaml shipped with
the package, then $JOBDISPATCH_CONF, then --conf; 'defaults:' and the selected 'profiles:' entry)
< $JOBDISPATCH_DEFAULT_OPTION (shell-split, prepended to the options) and $JOBDISPATCH_LOGDIR
< the flags given here. Without a backend flag the backend comes from those defaults, else from the
PATH: $autodetect.

The command is split into arguments by your shell and passed on exactly (each argument quoted);
use --file=FILE for shell syntax (pipes, redirections): one command line per line.
{{a,b}} in the command (or in a --file line) expands to one task per combination.

Logs: $JOBDISPATCH_LOGDIR (default LOGS)/<--exp_dir or command_timestamp>/ holds launcher.sh,
the backend's script or submit file, <task>.out/.err/.rc per task, and manifest.json.

Examples:
  jobdispatch --local=4 --repeat_jobs=8 jobman sql -n 0 'postgres://u@h/db?table=t' .
  jobdispatch --slurm --gpu --mem=8G --time=12:00:00 --repeat_jobs=3 --exp_dir=sweep jobman sql -n 5 DB .
  jobdispatch --ssh=2 --machine=alice@node1,node2:2222 python train.py lr={{0.1,0.01}}
  jobdispatch --status LOGS/sweep             # later: each task's status, exit code, scheduler id
  jobdispatch --cancel LOGS/sweep
"""


class OptionParser(argparse.ArgumentParser):
    """argparse that raises one-line :class:`UsageError` instead of printing usage and exiting, and
    keeps ``by_option``: every option spelling → its action, for :func:`split_argv` (argparse has
    no public lookup by spelling). Options are added to it or to its :meth:`section` groups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.by_option: dict[str, argparse.Action] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return self.remember(super().add_argument(*args, **kwargs))

    def remember(self, action: argparse.Action) -> argparse.Action:
        self.by_option.update(dict.fromkeys(action.option_strings, action))
        return action

    def section(self, title: str) -> _Section:
        """A titled group of options in the help, whose options this parser remembers."""
        return _Section(self, self.add_argument_group(title))

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see jobdispatch --help)")


class _Section:
    """An argument group whose options are also recorded in their parser's ``by_option``."""

    def __init__(self, parser: OptionParser, group: Any) -> None:
        self.parser, self.group = parser, group

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return self.parser.remember(self.group.add_argument(*args, **kwargs))


class _BackendAction(argparse.Action):
    """``--local[=N]``: choose the backend; ``=N`` also sets ``--nb_proc=N``."""

    def __init__(self, *args: Any, backend: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backend = backend

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        namespace.backend = self.backend
        if values is not None:
            namespace.nb_proc = values


class _AppendAction(argparse.Action):
    """Append to a list that may not exist yet (argument_default is SUPPRESS)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        current = list(getattr(namespace, self.dest, []) or [])
        current.extend(values if isinstance(values, list) else [values])
        setattr(namespace, self.dest, current)


# ----------------------------------------------------------------------------- value parsers --

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


def build_parser(prog: str = "jobdispatch", with_backends: bool = True) -> OptionParser:
    """The parser of every option; ``with_backends``: with a ``--<name>`` flag per registered backend."""
    p = OptionParser(prog=prog, usage=f"{prog} [options] COMMAND [ARGS...] | {prog} [options] --file=FILE | "
                                 f"{prog} --status|--cancel DIR",
                description="Launch a command N times (or one task per {{a,b}} combination) on the local "
                            "machine, ssh hosts, SLURM or HTCondor, and keep its logs and a manifest.",
                epilog=_epilog() if with_backends else None, formatter_class=argparse.RawDescriptionHelpFormatter,
                argument_default=argparse.SUPPRESS, allow_abbrev=False)
    g = p.section("backend")
    if with_backends:
        _add_backend_flags(g)
    g.add_argument("--backend", choices=None, metavar="NAME",
                   help=f"the backend by name ({', '.join(registry.entries())})")
    g.add_argument("--profile", metavar="NAME", help="a named profile of the conf files (profiles: NAME)")
    g.add_argument("--conf", action=_AppendAction, type=LIST_CONVERTERS["conf"], metavar="FILE",
                   help="one more conf file (YAML), read after the shipped ones")
    g.add_argument("--backend_option", "--backend-option", dest="backend_option", action=_AppendAction,
                   type=LIST_CONVERTERS["backend_option"], metavar="KEY=VALUE",
                   help="a backend setting (e.g. gpu_directive=gpus for slurm); repeatable")

    g = p.section("tasks")
    g.add_argument("--repeat_jobs", "--repeat-jobs", dest="repeat_jobs", type=CONVERTERS["repeat_jobs"], metavar="N",
                   help="launch the whole list of commands N times")
    g.add_argument("--nb_proc", "--nb-proc", dest="nb_proc", type=CONVERTERS["nb_proc"], metavar="N",
                   help="at most N tasks running at once (-1: no limit; ssh: per host); "
                        "default: CPUs for local, 1 per host for ssh, no limit for schedulers")
    g.add_argument("--file", action=_AppendAction, type=LIST_CONVERTERS["file"], metavar="FILE",
                   help="read commands from FILE, one shell command line per line (repeatable)")
    g.add_argument("--only_n_first", "--only-n-first", dest="only_n_first", type=CONVERTERS["only_n_first"],
                   metavar="N", help="keep only the first N expanded commands (before --repeat_jobs)")
    g.add_argument("--tasks_filename", "--tasks-filename", dest="tasks_filename", action=_AppendAction,
                   type=parse_tasks_filename, metavar="P1,P2",
                   help="names of the per-task log files, patterns joined by '.': nb0, nb1, compact (the "
                        "varying arguments), explicit (the whole command), none (reset); default nb0,compact")
    g.add_argument("--exp_dir", "--exp-dir", dest="exp_dir", metavar="DIR",
                   help="log directory name under the log root (default: <program>-<date>-<n>, e.g. jobman-2026-11-27-3)")
    g.add_argument("--logdir", "--log_dir", "--log-dir", dest="logdir", metavar="DIR",
                   help="log root (default $JOBDISPATCH_LOGDIR, else LOGS)")
    g.add_argument("--group_access", "--group-access", dest="group_access", action="store_const", const=True,
                   help="make the launch directory readable by your group (0750; default 0700: yours only)")
    g.add_argument("--no_command_check", "--no-command-check", dest="command_check", action="store_const",
                   const=False, help="submit even if the command is not found here (it exists only on the nodes)")
    g.add_argument("--test", "--testdbi", dest="test", action="store_const", const=True,
                   help="write every file (scripts, submit file, manifest), submit nothing, print where they are")
    g.add_argument("--wait", dest="wait", action="store_const", const=True,
                   help="wait for the tasks and report their exit statuses (local always waits)")
    g.add_argument("--no_wait", "--no-wait", dest="wait", action="store_const", const=False,
                   help="return once submitted (not for local)")

    g = p.section("preemption")
    g.add_argument("--requeue", dest="requeue", action="store_const", const=True,
                   help="a worker (jobman sql) stopped by a signal while jobs wait has its task run again: "
                        "SLURM asks for --requeue and the worker runs scontrol requeue; HTCondor keeps a job "
                        "that exits 75 in the queue (conf: requeue: true)")
    g.add_argument("--no_requeue", "--no-requeue", dest="requeue", action="store_const", const=False,
                   help="no self-requeue (the default)")
    g.add_argument("--max_requeues", "--max-requeues", dest="max_requeues", type=CONVERTERS["max_requeues"],
                   metavar="N", help="with --requeue: requeue one task at most N times (default 10)")

    g = p.section("an earlier launch (no command)")
    g.add_argument("--status", dest="status_of", metavar="DIR", nargs="?", const="",
                   help="the tasks of the launch logged in DIR (its LOGS/<exp_dir>/, or 'last' for the newest) "
                        "as they are now; with --wait, until they end. Exit 1 if a task failed, was lost or "
                        "canceled. Without DIR: the recent launches under the log root")
    g.add_argument("--cancel", dest="cancel_of", metavar="DIR",
                   help="cancel the unfinished tasks of the launch logged in DIR ('last': the newest)")

    g = p.section("resources (per task)")
    g.add_argument("--cpu", type=CONVERTERS["cpu"], metavar="N", help="cores per task (-1: do not ask)")
    g.add_argument("--mem", type=parse_mem, metavar="SIZE", help="memory per task: MB, or with K/M/G/T (4G)")
    g.add_argument("--gpu", nargs="?", const=1, type=CONVERTERS["gpu"], metavar="N",
                   help="GPUs per task (default 1); each task sees only its own in CUDA_VISIBLE_DEVICES")
    g.add_argument("--no_gpu", "--no-gpu", dest="gpu", action="store_const", const=0, help="no GPU")
    g.add_argument("--duree", "--time", dest="time", type=parse_duration, metavar="TIME",
                   help="wall time per task, in SLURM's forms (MM:SS, H:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; "
                        "a bare number is minutes) or 90m, 2h, 1d")
    g.add_argument("--env", action=_AppendAction, type=parse_env, metavar="VAR=VALUE",
                   help="environment of every task (repeatable; 'A=1 B=2' also accepted)")
    g.add_argument("--set_special_env", "--set-special-env", dest="set_special_env", action="store_const",
                   const=True, help="export OMP/MKL/OPENBLAS_NUM_THREADS = --cpu (default on)")
    g.add_argument("--no_set_special_env", "--no-set-special-env", dest="set_special_env",
                   action="store_const", const=False, help="do not export the *_NUM_THREADS variables")
    g.add_argument("--raw", action=_AppendAction, type=LIST_CONVERTERS["raw"], metavar="LINE",
                   help="a line copied verbatim into the script or submit file (repeatable)")
    g.add_argument("--queue", "--partition", dest="queue", metavar="Q", help="queue / SLURM partition")
    g.add_argument("--project", "--account", dest="project", metavar="P", help="project / account to charge")
    g.add_argument("--jobs_name", "--jobs-name", "--job_name", "--job-name", dest="jobs_name", metavar="NAME",
                   help="job name shown by the scheduler (default: jobdispatch)")
    g.add_argument("--req", action=_AppendAction, type=LIST_CONVERTERS["req"], metavar="EXPR",
                   help="HTCondor requirement expression, AND'ed (repeatable)")
    g.add_argument("--os", action=_AppendAction, type=parse_list, metavar="OS1,OS2",
                   help="HTCondor: OpSys must be one of these")
    g.add_argument("--machine", action=_AppendAction, type=parse_list, metavar="HOST[,HOST]",
                   help="ssh: the hosts ([user@]host[:port]); HTCondor: Machine == HOST (OR'ed); repeatable")
    g.add_argument("--machines", action=_AppendAction, type=LIST_CONVERTERS["machines"], metavar="HOSTS",
                   help="HTCondor: a regex on Machine (OR'ed with --machine); ssh: a comma list of hosts")

    g = p.section("ssh")
    g.add_argument("--ssh_key", "--ssh-key", dest="ssh_key", metavar="FILE",
                   help="private key to offer (default: the ssh agent and ~/.ssh keys)")
    g.add_argument("--ssh_known_hosts", "--ssh-known-hosts", dest="ssh_known_hosts", metavar="FILE",
                   help="known_hosts file read after /etc/ssh/ssh_known_hosts and ~/.ssh/known_hosts")
    g.add_argument("--ssh_accept_new_host_keys", "--ssh-accept-new-host-keys", dest="ssh_accept_new_host_keys",
                   action="store_const", const=True,
                   help="trust hosts seen for the first time and remember their keys (a changed key is "
                        "still refused)")
    g.add_argument("--ssh_connect_timeout", "--ssh-connect-timeout", dest="ssh_connect_timeout",
                   type=CONVERTERS["ssh_connect_timeout"], metavar="S", help="seconds to reach a host (10)")
    return p


def _add_backend_flags(group: _Section) -> None:
    """``--<name>[=N]`` for each backend of the registry, built-in ones first. A plugin whose name
    is already an option (``--test``) gets no flag: ``--backend=NAME`` still selects it."""
    taken = _option_names()
    for name in registry.entries():
        if f"--{name}" in taken:
            continue
        group.add_argument(f"--{name}", action=_BackendAction, nargs="?", backend=name, metavar="N",
                           type=CONVERTERS["nb_proc"],
                           help=f"{registry.backend_help(name)} (=N: at most N tasks at once)")


@functools.lru_cache(maxsize=1)
def _option_names() -> frozenset[str]:
    """Every option spelling but the backend flags (which may not take one of these)."""
    return frozenset(build_parser(with_backends=False).by_option)


def _epilog() -> str:
    """:data:`EPILOG` with the registry's autodetection order."""
    order = [f"{cls.detect_command} -> {cls.name}" for cls in registry.detection_order() if cls.detect_command]
    return string.Template(EPILOG).safe_substitute(autodetect=", ".join([*order, f"else {registry.DEFAULT_BACKEND}"]))


# Options with an optional value that takes the next word (``--status [DIR]``: no command follows it);
# the others (``--local [N]``, ``--gpu [N]``) take only ``=N``, the next word being the command.
_OPTIONAL_VALUE_TAKES_WORD = frozenset({"status_of"})


def split_argv(parser: OptionParser, argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into (options, command): options end at the first argument that is not an
    option, or at ``--``. An option that takes a separate value (``--mem 4G``) keeps it. An
    unknown option is an error here (it would otherwise be taken for the command)."""
    actions = parser.by_option
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return list(argv[:i]), list(argv[i + 1:])
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, _ = arg.partition("=")
        action = actions.get(name)
        if action is None:
            raise UsageError(f"unknown option {arg!r} (options come before the command; see jobdispatch --help)")
        # nargs None: exactly one value (flags, --help and store_const actions have nargs 0)
        takes_separate_value = not has_value and (action.nargs is None or (
            action.dest in _OPTIONAL_VALUE_TAKES_WORD and i + 1 < len(argv) and not argv[i + 1].startswith("-")))
        i += 2 if takes_separate_value else 1
    return list(argv[:i]), list(argv[i:])
