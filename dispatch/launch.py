"""From settings and command words to a launch: the task list, the log directory, the manifest.

The command's ``{{a,b}}`` segments expand with :func:`jobstore.params.expansion.expand_braces` (the
same rules as ``jobman sqlschedules``: a cartesian product over arguments, several segments per
argument allowed). Command-line words are shell-quoted one by one; ``--file`` lines are shell
command lines kept as written.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import re
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from backends import Backend, Resources, Submission, Task
from jobstore.errors import ParamError
from jobstore.files import UnsafePathError, atomic_write, check_own_dir, warn_if_world_writable
from jobstore.params.expansion import expand_braces

from .errors import UsageError

REQUEUE_ENV = "JOBMAN_REQUEUE"  # read by jobman sql (jobstore.worker.selfrequeue)
DEFAULT_MAX_REQUEUES = 10
REQUEUE_BACKENDS = ("slurm", "condor")

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
MAX_PROGRAM_CHARS = 40
MAX_LOG_NAME_CHARS = 120
SPECIAL_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_DIR_UNSAFE_RE = re.compile(r"[^a-zA-Z0-9\-.,]")
_LOG_UNSAFE_RE = re.compile(r"[^a-zA-Z0-9=\-.,+]")


def _expand(words: Sequence[str], where: str) -> list[tuple[list[str], list[str]]]:
    try:
        return expand_braces(list(words))
    except ParamError as e:
        raise UsageError(f"{where}: {e}") from None


def build_commands(words: Sequence[str], files: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``(shell command line, varying arguments)`` for every task, before ``--repeat_jobs``:
    first the ``--file`` lines (in file order), then the expansion of ``words``."""
    out: list[tuple[str, list[str]]] = []
    for path in files:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as e:
            raise UsageError(f"cannot read --file {path!r}: {e.strerror or e}") from None
        for n, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            # split on single spaces so that joining back restores the line exactly
            for parts, varying in _expand(text.split(" "), f"{path}:{n}"):
                out.append((" ".join(parts), varying))
    if words:
        for parts, varying in _expand(words, "command"):
            out.append((shlex.join(parts), varying))
    if not out or not any(cmd.strip() for cmd, _ in out):
        raise UsageError("empty command: give a command after the options (e.g. jobdispatch --local echo hi) "
                         "or --file=FILE with one command per line")
    return out


# Words a shell runs itself: never looked up on the PATH.
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_WORDS = frozenset("""! . : [ [[ { alias bg break builtin case cd command continue declare echo eval exec
exit export false fg for function getopts hash if kill let local printf pwd read readonly return set shift
source test time trap true type ulimit umask unalias unset wait while until""".split())


def missing_programs(commands: Sequence[tuple[str, list[str]]], cwd: str | None = None) -> list[str]:
    """One line per program of ``commands`` not found here (on the PATH, or as a path from ``cwd``):
    a typo would otherwise show only as exit status 127 in every task's log. Shell words and
    variable assignments are not checked."""
    seen: set[str] = set()
    missing: list[str] = []
    for line, _ in commands:
        try:
            words = shlex.split(line)
        except ValueError:
            continue  # an unbalanced quote: the shell will say so in the task's log
        program = next((w for w in words if not _ASSIGNMENT_RE.match(w)), None)
        if program is None or program in seen or program in _SHELL_WORDS:
            continue
        seen.add(program)
        if "/" in program:
            path = os.path.join(cwd or os.getcwd(), os.path.expanduser(program))
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                missing.append(f"command {program!r} is not an executable file here; check the path")
        elif shutil.which(program) is None:
            missing.append(f"command {program!r} not found on the PATH here; check the spelling")
    return missing


def select(commands: list[tuple[str, list[str]]], only_n_first: int | None,
           repeat_jobs: int) -> list[tuple[str, list[str]]]:
    """``--only_n_first`` keeps the first N expanded commands; ``--repeat_jobs`` repeats the list."""
    kept = commands[:only_n_first] if only_n_first else commands
    return kept * repeat_jobs


def task_names(commands: Sequence[tuple[str, list[str]]], patterns: Sequence[str]) -> list[str]:
    """Base names of the per-task log files from ``--tasks_filename`` patterns (Jobman's
    ``nb0,compact`` by default: ``3.lr=0.1_n=20``). Names are made unique by the index if needed."""
    active: list[str] = []
    for p in patterns:
        active = [] if p == "none" else active + [p]
    names = []
    for i, (cmd, varying) in enumerate(commands):
        pieces = []
        for p in active:
            if p == "nb0":
                pieces.append(str(i))
            elif p == "nb1":
                pieces.append(str(i + 1))
            elif p == "compact":
                pieces.append("_".join(_LOG_UNSAFE_RE.sub("_", v) for v in varying))
            elif p == "explicit":
                pieces.append(_LOG_UNSAFE_RE.sub("_", cmd))
        name = ".".join(x for x in pieces if x)[:MAX_LOG_NAME_CHARS].strip(".") or str(i)
        names.append(name)
    if len(set(names)) != len(names):
        names = [n if n.startswith(f"{i}.") or n == str(i) else f"{i}.{n}" for i, n in enumerate(names)]
    return names


def auto_exp_dir(words: Sequence[str], files: Sequence[str], now: _dt.datetime) -> str:
    """The stem of a launch's default directory name: the program's basename (or the first --file's,
    without its extension), unsafe characters → '_', then the date: ``jobman-2026-11-27``;
    :func:`launch_dir` appends the launch's number that day (``-1``, ``-2``...)."""
    program = os.path.basename(words[0]) if words else os.path.splitext(os.path.basename(files[0]))[0] if files else ""
    stem = _DIR_UNSAFE_RE.sub("_", program).strip("._")[:MAX_PROGRAM_CHARS] or "launch"
    return f"{stem}-{now.strftime('%Y-%m-%d')}"


def launch_dir(settings: Mapping[str, Any], words: Sequence[str], now: _dt.datetime, err: Any = None) -> Path:
    """The launch directory to use; the backend creates it when it writes the first file (0700,
    0750 with ``--group_access``), so that bad input writes nothing.

    An automatic name is ``<program>-<date>-<n>``, ``n`` one more than the day's last launch of that
    program; an existing ``--exp_dir`` is reused only if it holds no launch yet and is the user's own,
    not writable by others: a directory someone else prepared in a shared log root is never used."""
    root = Path(os.path.abspath(os.path.expanduser(settings["logdir"] or "LOGS")))
    warn_if_world_writable(root, "the log root", err)
    if settings.get("exp_dir"):
        d = root / settings["exp_dir"]
        if (d / MANIFEST_NAME).exists():
            raise UsageError(f"--exp_dir {settings['exp_dir']!r}: {d} already holds a launch ({MANIFEST_NAME}); "
                             "choose another name")
        if os.path.lexists(d):
            try:
                check_own_dir(d, group=bool(settings.get("group_access")))
            except UnsafePathError as e:
                raise UsageError(f"--exp_dir: {e}") from None
        return d
    stem = auto_exp_dir(words, settings.get("file") or [], now)
    numbered = re.compile(re.escape(stem) + r"-(\d+)")
    taken = [int(m.group(1)) for name in (os.listdir(root) if root.is_dir() else [])
             if (m := numbered.fullmatch(name))]
    n = max(taken, default=0) + 1
    while os.path.lexists(root / f"{stem}-{n}"):
        n += 1
    return root / f"{stem}-{n}"


def make_resources(settings: Mapping[str, Any], nb_proc: int | None) -> Resources:
    env: dict[str, str] = {}
    cpu = settings.get("cpu")
    cpu = None if cpu in (None, -1) else cpu
    if cpu and settings.get("set_special_env", True):
        env.update({k: str(cpu) for k in SPECIAL_ENV_VARS})
    env.update(dict(settings.get("env") or []))
    if settings.get("allow"):  # a profile's `allow:`: the experiments its workers may import
        env.setdefault("JOBMAN_ALLOW", settings["allow"])
    if settings.get("requeue"):  # jobman sql reads it: self-requeue on, at most this many times
        env.setdefault(REQUEUE_ENV, str(settings.get("max_requeues", DEFAULT_MAX_REQUEUES)))
    reqs = list(settings.get("req") or [])
    if settings.get("os"):
        reqs.append("(" + " || ".join(f'OpSys == "{_classad_str(o)}"' for o in settings["os"]) + ")")
    machines = list(settings.get("machine") or [])
    machines += [m for item in settings.get("machines") or [] for m in item.split(",") if m.strip()]
    return Resources(cpu=cpu, mem_mb=settings.get("mem"), gpus=settings.get("gpu") or 0, time_s=settings.get("time"),
                     queue=settings.get("queue"), account=settings.get("project"), env=env,
                     raw=tuple(settings.get("raw") or ()), requirements=tuple(reqs), machines=tuple(machines),
                     nb_proc=nb_proc, job_name=settings.get("jobs_name") or "jobdispatch")


def _classad_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def backend_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings handed to the backend (``self.options``): ``--backend_option`` pairs and the ssh ones."""
    opts: dict[str, Any] = dict(settings.get("backend_option") or [])
    if settings.get("group_access"):
        opts["group_access"] = True
    if settings.get("requeue"):
        opts["requeue"] = int(settings.get("max_requeues", DEFAULT_MAX_REQUEUES))
    for key, opt in (("ssh_key", "key_file"), ("ssh_known_hosts", "known_hosts"),
                     ("ssh_accept_new_host_keys", "accept_new_host_keys"),
                     ("ssh_connect_timeout", "connect_timeout_s")):
        if settings.get(key) not in (None, ""):
            opts[opt] = os.path.expanduser(settings[key]) if isinstance(settings[key], str) else settings[key]
    return opts


class Manifest:
    """``manifest.json`` of a launch, rewritten atomically each time the submission changes."""

    def __init__(self, directory: Path, argv: Sequence[str], settings: Mapping[str, Any]) -> None:
        self.path = directory / MANIFEST_NAME
        self.head = {
            "version": MANIFEST_VERSION,
            "argv": list(argv),
            "created": _now_iso(),
            "created_epoch": time.time(),  # orders launches made within one second (jobdispatch --status)
            "cwd": os.getcwd(),
            "submit_host": socket.gethostname(),
            "user": _user(),
            "profile": settings.get("profile"),
        }

    @classmethod
    def reopen(cls, path: Path, data: Mapping[str, Any]) -> Manifest:
        """The manifest of an earlier launch, to be rewritten with what was found since."""
        manifest = cls.__new__(cls)
        manifest.path = path
        manifest.head = {k: data[k] for k in ("version", "argv", "created", "created_epoch", "cwd", "submit_host", "user", "profile")
                         if k in data}
        return manifest

    def write(self, sub: Submission) -> None:
        data = {**self.head, "updated": _now_iso(), **sub.to_dict()}
        data["counts"] = sub.counts()
        atomic_write(self.path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def build_tasks(commands: Sequence[tuple[str, list[str]]], patterns: Sequence[str]) -> list[Task]:
    names = task_names(commands, patterns)
    return [Task(i, cmd, name=name) for i, ((cmd, _), name) in enumerate(zip(commands, names))]


def warn_unsupported(backend: type[Backend], resources: Resources, out: Any = sys.stderr) -> None:
    """Jobman's warning for options the chosen backend ignores."""
    flag = {"cpu": "--cpu", "mem_mb": "--mem", "gpus": "--gpu", "time_s": "--time", "queue": "--queue",
            "account": "--project", "raw": "--raw", "requirements": "--req/--os", "machines": "--machine(s)",
            "nb_proc": "--nb_proc"}
    for name in resources.requested():
        if name in flag and name not in backend.supports:
            print(f"jobdispatch: warning: {flag[name]} is ignored by the {backend.name} backend", file=out)
    if resources.env.get(REQUEUE_ENV) and backend.name not in REQUEUE_BACKENDS:
        print(f"jobdispatch: warning: --requeue is ignored by the {backend.name} backend (only "
              f"{', '.join(REQUEUE_BACKENDS)} run a task again)", file=out)
