"""Provenance of the code: which version of the experiment was scheduled, and which one ran.

At schedule time (``jobman sqlschedule(s)``, ``sqlsearch``) every job gets ``jobman.code.*`` keys
describing the experiment's module as it is imported there: its file, the git commit of its
repository, whether the tracked files differ from that commit (``git_dirty``) and then the diff
itself (``git diff HEAD``, cut at :data:`DIFF_MAX_BYTES`, with the sha256 of the whole diff), the
Python version and the versions of a few key packages. These keys are not parameters: the content
hash that deduplicates jobs leaves them out (``store/codec.py``), so re-scheduling a sweep after a
commit still skips the jobs already in the table.

At the start of every attempt the worker records the same description of what it actually
imported as ``jobman.sql.code_*`` keys and, when it differs from what was scheduled (another
commit, a dirty tree, another diff, another Python or package version), writes one warning line
to the job's stderr and into ``jobman.sql.code_warning``. The description is computed once per
experiment per worker.
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from importlib import metadata
from typing import Any

__all__ = ["SCHEDULED", "ATTEMPT", "DIFF_MAX_BYTES", "KEY_PACKAGES", "describe", "schedule_keys",
           "AttemptCode"]

SCHEDULED = "jobman.code."  # keys written at schedule time (left out of the content hash)
ATTEMPT = "jobman.sql.code_"  # what one attempt imported
DIFF_MAX_BYTES = 64 * 1024
GIT_TIMEOUT_S = 20.0
# distributions whose version is recorded when installed (the project itself, the array and
# learning libraries an experiment's results depend on)
KEY_PACKAGES: tuple[str, ...] = ("jobman-ng", "numpy", "scipy", "cupy", "cupy-cuda11x", "cupy-cuda12x",
                                 "torch", "jax", "jaxlib", "tensorflow", "optuna")
# the keys compared between schedule time and an attempt
COMPARED: tuple[str, ...] = ("git_commit", "git_dirty", "git_diff_sha256", "python", "packages")
WARNING = "warning"


def _git_run(directory: str, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """``git -C directory ARGS``, its output captured; None when git cannot be run."""
    try:
        return subprocess.run(["git", "-C", directory, *args], capture_output=True, timeout=GIT_TIMEOUT_S,
                              env={**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None


def _git(directory: str, *args: str) -> str | None:
    """stdout of ``git -C directory ARGS``, or None (no git, not a repository, an error)."""
    done = _git_run(directory, *args)
    return done.stdout.decode("utf-8", "replace") if done is not None and done.returncode == 0 else None


_GIT_USAGE_ERROR = 129  # git's exit status for an option it does not know
# a git object id (SHA-1 or SHA-256), and a sha256 hex digest: what _short() cuts to 12 characters
_HEX_ID_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def _commit_and_changes(directory: str) -> tuple[str | None, bool]:
    """The commit checked out in ``directory`` (None: not in a repository, or no commit yet) and
    whether a tracked file may differ from it, from one ``git status``, which does not count how
    far the branch is from its upstream (``--branch`` alone walks the commits between them: 67 ms
    per call on a branch 20,000 commits behind, ``bench/bench_provenance.py``). A git older than
    2.17 (porcelain v2 came in 2.11, ``--no-ahead-behind`` in 2.17) answers through ``rev-parse``,
    and the diff decides the rest."""
    done = _git_run(directory, "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "--untracked-files=no")
    if done is not None and done.returncode == _GIT_USAGE_ERROR:
        commit = _git(directory, "rev-parse", "HEAD")
        return (commit.strip() if commit else None), True
    if done is None or done.returncode != 0:
        return None, False
    commit, changed = None, False
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            commit = line[len("# branch.oid "):].strip()
        elif line and not line.startswith("#"):
            changed = True  # a tracked file changed, staged or not (or a conflict)
    return (commit if commit is not None and _HEX_ID_RE.fullmatch(commit) else None), changed  # "(initial)"


def _git_keys(path: str) -> dict[str, Any]:
    """The commit of the repository holding ``path``, whether its tracked files differ, the diff.

    ``git status`` gives the commit and whether any tracked file changed; only then does
    ``git diff HEAD`` run, and it decides (a change that shows no diff is none). A clean tree
    costs one git process, not two (``rev-parse`` then ``diff``)."""
    directory = os.path.dirname(path)
    commit, changed = _commit_and_changes(directory)
    if commit is None:
        return {}
    diff = (_git(directory, "diff", "HEAD", "--no-color", "--no-ext-diff") or "") if changed else ""
    keys: dict[str, Any] = {"git_commit": commit, "git_dirty": bool(diff)}
    if diff:
        raw = diff.encode("utf-8")
        keys["git_diff_sha256"] = hashlib.sha256(raw).hexdigest()
        if len(raw) > DIFF_MAX_BYTES:
            cut = raw[:DIFF_MAX_BYTES].decode("utf-8", "ignore")
            diff = f"{cut}\n[jobman: diff cut at {DIFF_MAX_BYTES} of {len(raw)} bytes]\n"
        keys["git_diff"] = diff
    return keys


_VERSION_LINE = re.compile(r"^Version:[ \t]*(\S+)[ \t]*$", re.MULTILINE)
_HEADER_READ = 16 * 1024  # a metadata header is a few hundred bytes; the description follows it


def _header_version(text: str) -> str | None:
    """The ``Version:`` of a metadata text's header (up to its first blank line), or None."""
    header_end = text.find("\n\n")
    found = _VERSION_LINE.search(text, 0, header_end if header_end >= 0 else len(text))
    return found.group(1) if found else None


def _version(name: str) -> str:
    """The installed version of the distribution ``name`` (:class:`metadata.PackageNotFoundError`
    if none), read from the header of its metadata: ``metadata.version`` parses the whole file
    as an e-mail message, which took about 7 ms of every worker's first job for the key packages
    (numpy's the longest)."""
    dist = metadata.distribution(name)
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    return _header_version(text) or dist.version


_NAME_SEPARATORS = re.compile(r"[-_.]+")


def _normalize(name: str) -> str:
    """A distribution name as importlib.metadata files it (PEP 503, dashes as underscores)."""
    return _NAME_SEPARATORS.sub("_", name).lower()


def _scanned_versions(names: tuple[str, ...]) -> dict[str, str] | None:
    """The versions of the installed distributions among ``names``, found the way importlib.metadata
    finds them (the first ``*.dist-info`` or ``*.egg-info`` of that name along ``sys.path``) but
    with one listing per directory: looked up one name at a time, the key packages cost 3.5 ms of
    every worker's first job, most of it for the packages not installed. None where the path holds
    something else than directories (a zip file, an egg) or another finder could know of
    distributions: :func:`_version` then decides, one name at a time."""
    finders = [f for f in sys.meta_path if hasattr(f, "find_distributions")]
    if len(finders) != 1 or getattr(finders[0], "__name__", "") != "PathFinder":
        return None
    wanted = {_normalize(n): n for n in names}
    found: dict[str, str] = {}  # name → its metadata directory, the first along the path
    for entry in sys.path:
        root = entry or "."
        if root.lower().endswith(".egg") or not os.path.isdir(root):
            if os.path.exists(root):
                return None
            continue
        try:
            children = os.listdir(root)
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = wanted.get(_normalize(low.rpartition(".")[0].partition("-")[0]))
                if name is not None and name not in found:
                    found[name] = os.path.join(root, child)
    versions = {}
    for name, where in found.items():
        text = ""
        for filename in ("METADATA", "PKG-INFO"):
            try:
                with open(os.path.join(where, filename), encoding="utf-8") as f:
                    text = f.read(_HEADER_READ)
                break
            except OSError:
                continue
        # A "Version:" line at the start of a line before the first blank one is the header's (the
        # continuation lines of a long field start with a blank), even when the header is longer
        # than what was read (numpy's holds its licence).
        version = _header_version(text)
        if version is None:  # not in what was read: importlib's parsing decides
            return None
        versions[name] = version
    return versions


def _packages() -> str:
    versions = _scanned_versions(KEY_PACKAGES)
    if versions is None:
        versions = {}
        for name in KEY_PACKAGES:
            try:
                versions[name] = _version(name)
            except metadata.PackageNotFoundError:
                continue
    return " ".join(f"{name}=={versions[name]}" for name in KEY_PACKAGES if name in versions)


def describe(experiment: str) -> dict[str, Any]:
    """The code behind ``experiment`` (a dotted name, its module already imported) as it is here:
    keys without prefix (module_file, git_*, python, packages)."""
    module = sys.modules.get(experiment.rsplit(".", 1)[0]) if "." in experiment else None
    path = os.path.realpath(getattr(module, "__file__", None) or "") if module is not None else ""
    keys: dict[str, Any] = {"module_file": path} if path else {}
    if path:
        keys.update(_git_keys(path))
    keys["python"] = platform.python_version()
    keys["packages"] = _packages()
    return keys


def schedule_keys(experiment: str) -> dict[str, Any]:
    """The ``jobman.code.*`` keys of the jobs of ``experiment`` scheduled now."""
    return {SCHEDULED + k: v for k, v in describe(experiment).items()}


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if _HEX_ID_RE.fullmatch(text) else text


def differences(scheduled: Mapping[str, Any], ran: Mapping[str, Any]) -> list[str]:
    """``git_commit 1a2b3c4d5e6f (scheduled 9f8e...)`` for each compared key that differs; keys the
    schedule did not record (jobs scheduled before this existed) are not compared."""
    if not any(SCHEDULED + k in scheduled for k in COMPARED):
        return []
    out = []
    for key in COMPARED:
        was = scheduled.get(SCHEDULED + key, False if key == "git_dirty" else None)
        now = ran.get(key, False if key == "git_dirty" else None)
        if was != now:
            out.append(f"{key} {_short(now) if now not in (None, '') else 'none'} "
                       f"(scheduled {_short(was) if was not in (None, '') else 'none'})")
    return out


class AttemptCode:
    """What each attempt of this worker imported, described once per experiment."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # experiment → (description, its keys)

    def record(self, job_id: int, experiment: str, flat: MutableMapping[str, Any]) -> str | None:
        """Write this attempt's ``jobman.sql.code_*`` keys into ``flat`` (replacing an earlier
        attempt's); the warning line when the code differs from what was scheduled, else None."""
        seen = self._seen.get(experiment)
        if seen is None:
            ran = describe(experiment)  # the scheduled diff is kept; an attempt records its sha256
            seen = self._seen[experiment] = (ran, {ATTEMPT + k: v for k, v in ran.items() if k != "git_diff"})
        ran, keys = seen
        for key in [k for k in flat if k.startswith(ATTEMPT)]:
            del flat[key]
        flat.update(keys)
        diff = differences(flat, ran)
        if not diff:
            return None
        warning = f"job {job_id}: the code differs from what was scheduled: {', '.join(diff)}"
        flat[ATTEMPT + WARNING] = warning
        return warning
