"""The ``jobman`` command: ``jobman <command> [options] ...``.

Each command is a module of this package with ``HELP`` (one line), ``build_parser(prog)``
returning an ``argparse.ArgumentParser`` and ``run(args) -> int``. Errors of the package become one
line on stderr and their exit status (2 for bad input), never a traceback.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ..errors import JobmanError
from ..version import version_line

# command name -> module of this package (aliases point at the same module)
COMMANDS: dict[str, str] = {
    "sqlschedule": "sqlschedule",
    "sqlschedules": "sqlschedules",
    "sqlsearch": "sqlsearch",
    "sqlstatus": "sqlstatus",
    "sqlview": "sqlview",
    "sql": "worker",
    "worker": "worker",
    "plot": "plot",
    "export": "export",
    "dashboard": "dashboard",
    "jobdir": "jobdir",
}


def _usage() -> str:
    lines = ["usage: jobman <command> [options] ...", "       jobman --version", "", "commands:"]
    names: dict[str, list[str]] = {}
    for name, mod in COMMANDS.items():  # aliases on one line: "sql, worker"
        names.setdefault(mod, []).append(name)
    for mod, aliases in names.items():
        try:
            help_ = importlib.import_module(f"jobstore.cli.{mod}").HELP
        except ImportError:
            continue
        lines.append(f"  {', '.join(aliases):<14} {help_}")
    lines.append("\n'jobman <command> --help' describes a command. Exit status: 0 done, 1 a job or an action "
                 "failed, 2 bad input or a database that cannot be used, 130 interrupted.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        print(version_line("jobman"))
        return 0
    if not args or args[0] in ("-h", "--help", "help"):
        if len(args) > 1 and args[0] == "help":
            args = [args[1], "--help"]
        else:
            print(_usage())
            return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"jobman: error: unknown command {name!r}: expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"jobstore.cli.{COMMANDS[name]}")
    parser = module.build_parser(f"jobman {name}")
    opts = parser.parse_args(rest)  # argparse exits 2 with a one-line message on bad options
    try:
        return int(module.run(opts) or 0)
    except JobmanError as e:
        print(f"jobman {name}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"jobman {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jobman sqlstatus ... | head`
        return 0
