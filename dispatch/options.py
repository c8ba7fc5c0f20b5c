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
import string
from collections.abc import Sequence
from typing import Any, NoReturn

from backends import registry

from .converters import (
    CONVERTERS,
    LIST_CONVERTERS,
    parse_duration,
    parse_env,
    parse_list,
    parse_mem,
    parse_tasks_filename,
)
from .errors import UsageError

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

def build_parser(prog: str = "jobdispatch", with_backends: bool = True) -> OptionParser:
    """The parser of every option; ``with_backends``: with a ``--<name>`` flag per registered backend."""
    p = OptionParser(prog=prog, usage=f"{prog} [options] COMMAND [ARGS...] | {prog} [options] --file=FILE | "
                                 f"{prog} --status|--cancel DIR",
                description="Launch a command N times (or one task per {{a,b}} combination) on the local "
                            "machine, ssh hosts, SLURM or HTCondor, and keep its logs and a manifest.",
                epilog=_epilog() if with_backends else None, formatter_class=argparse.RawDescriptionHelpFormatter,
                argument_default=argparse.SUPPRESS, allow_abbrev=False)
    _backend_options(p, with_backends)
    _tasks_options(p)
    _preemption_options(p)
    _follow_options(p)
    _resource_options(p)
    _ssh_options(p)
    return p


def _backend_options(p: OptionParser, with_backends: bool) -> None:
    """The options of the help's "backend" section."""
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



def _tasks_options(p: OptionParser) -> None:
    """The options of the help's "tasks" section."""
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



def _preemption_options(p: OptionParser) -> None:
    """The options of the help's "preemption" section."""
    g = p.section("preemption")
    g.add_argument("--requeue", dest="requeue", action="store_const", const=True,
                   help="a worker (jobman sql) stopped by a signal while jobs wait has its task run again: "
                        "SLURM asks for --requeue and the worker runs scontrol requeue; HTCondor keeps a job "
                        "that exits 75 in the queue (conf: requeue: true)")
    g.add_argument("--no_requeue", "--no-requeue", dest="requeue", action="store_const", const=False,
                   help="no self-requeue (the default)")
    g.add_argument("--max_requeues", "--max-requeues", dest="max_requeues", type=CONVERTERS["max_requeues"],
                   metavar="N", help="with --requeue: requeue one task at most N times (default 10)")



def _follow_options(p: OptionParser) -> None:
    """The options of the help's "an earlier launch (no command)" section."""
    g = p.section("an earlier launch (no command)")
    g.add_argument("--status", dest="status_of", metavar="DIR", nargs="?", const="",
                   help="the tasks of the launch logged in DIR (its LOGS/<exp_dir>/, or 'last' for the newest) "
                        "as they are now; with --wait, until they end. Exit 1 if a task failed, was lost or "
                        "canceled. Without DIR: the recent launches under the log root")
    g.add_argument("--cancel", dest="cancel_of", metavar="DIR",
                   help="cancel the unfinished tasks of the launch logged in DIR ('last': the newest)")



def _resource_options(p: OptionParser) -> None:
    """The options of the help's "resources (per task)" section."""
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



def _ssh_options(p: OptionParser) -> None:
    """The options of the help's "ssh" section."""
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
