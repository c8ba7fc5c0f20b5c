"""Files and directories on shared machines: never half a file, never someone else's.

:func:`atomic_write` never leaves half a file. On a cluster's /tmp, scratch or a group project
directory, another user may have created the entry we are about to use (a symbolic link to our
``~/.bashrc``, a directory of theirs): :func:`own_dir` creates a directory or reuses it only if it
is ours and nobody else can write in it; :func:`open_append` and :func:`write_new` never follow a
link and never write into a file someone else owns or links to.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
from typing import TextIO

from .errors import UsageError

__all__ = ["LINK", "UnsafePathError", "atomic_create", "atomic_write", "check_own_dir", "create_new", "open_append",
           "own_dir", "read_unlinked", "warn_if_world_writable", "write_new"]

PRIVATE_DIR_MODE = 0o700
GROUP_DIR_MODE = 0o750


class UnsafePathError(UsageError):
    """A path that another user could have prepared for us (a link, their directory or file)."""


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644, fsync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never a truncated one; on failure (disk full) the
    temporary file is removed and ``path`` is left as it was. ``mode`` is filtered by the umask as
    for any new file. The temporary name is unpredictable and created exclusively (never through a
    link someone else left there). No fsync unless asked: the callers' files are copies of what the
    table holds, and a flush per write would dominate short jobs."""
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        _write_all(fd, raw)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_create(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644) -> bool:
    """Create ``path`` holding ``data`` unless it exists (False then, the file left as it was).

    For files written once and never replaced (``orig.conf``): the data goes to a temporary file
    beside ``path`` that is then hard-linked into place, which fails rather than replace an existing
    file, so a crash or a full disk leaves no file or the whole one, never a truncated one. Where the
    file system has no hard links the temporary file is renamed into place after a check that
    ``path`` is still absent (a race only with another writer of the same file)."""
    path = os.fspath(path)
    if os.path.lexists(path):
        return False
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    # Written in place: only the link below makes it visible as ``path`` (an atomic_write of the
    # temporary file would add a second temporary name and a rename, per orig.conf per job).
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, raw)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    finally:
        os.close(fd)
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK) or os.path.lexists(path):
            raise
        os.rename(tmp, path)
    finally:
        _unlink_quietly(tmp)
    return True


def _write_all(fd: int, raw: bytes) -> None:
    view = memoryview(raw)
    while view:
        view = view[os.write(fd, view):]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _refuse_unsafe(path: str, st: os.stat_result, *, kind: str, group_ok: bool) -> None:
    """Raise unless ``st`` is a ``kind`` ('dir' or 'file') we own that others cannot write."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{path!r} is a symbolic link: refusing to use it (remove it, or choose another path)")
    is_kind = stat.S_ISDIR(st.st_mode) if kind == "dir" else stat.S_ISREG(st.st_mode)
    if not is_kind:
        raise UnsafePathError(f"{path!r} exists and is not a {'directory' if kind == 'dir' else 'regular file'}")
    if st.st_uid != os.geteuid():
        raise UnsafePathError(f"{path!r} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): refusing "
                              "to use it; choose another path")
    writable_by_others = stat.S_IWOTH | (0 if group_ok else stat.S_IWGRP)
    if st.st_mode & writable_by_others:
        raise UnsafePathError(f"{path!r} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}): "
                              "refusing to use it; chmod go-w it or choose another path")


def own_dir(path: str | os.PathLike[str], *, group: bool = False, fresh: bool = False) -> bool:
    """Create directory ``path`` (mode 0700, 0750 with ``group``), its missing parents normally.

    An existing ``path`` is reused only if it is a real directory (not a link) owned by the user
    and not writable by others (group-writable allowed with ``group``); ``fresh`` refuses any
    existing one (``FileExistsError``). True when it was created here."""
    path = os.fspath(path)
    try:
        os.mkdir(path, GROUP_DIR_MODE if group else PRIVATE_DIR_MODE)
        return True
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return own_dir(path, group=group, fresh=fresh)
    except FileExistsError:
        if fresh:
            raise
    check_own_dir(path, group=group)
    return False


def check_own_dir(path: str | os.PathLike[str], *, group: bool = False) -> None:
    """Raise :class:`UnsafePathError` unless ``path`` is a directory (not a link) of the user's
    that others cannot write in (the group can, with ``group``)."""
    _refuse_unsafe(os.fspath(path), os.lstat(path), kind="dir", group_ok=group)


def _check_opened(path: str, fd: int) -> None:
    st = os.fstat(fd)
    try:
        _refuse_unsafe(path, st, kind="file", group_ok=True)
        if st.st_nlink != 1:
            raise UnsafePathError(f"{path!r} has {st.st_nlink} hard links: refusing to write through it")
    except BaseException:
        os.close(fd)
        raise


def open_append(path: str | os.PathLike[str], mode: int = 0o644, *, fresh: bool = False) -> int:
    """A descriptor appending to ``path`` (created if missing), never through a link and never into
    a file someone else owns or that has another name (a hard link to a file of the user's).

    ``fresh``: the directory was just made by this process, so nobody else has an entry in it: the
    file is created there (``O_EXCL``) and needs no check. One that exists all the same (restored
    into the directory) is checked as anywhere."""
    path = os.fspath(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    if fresh:
        try:
            return os.open(path, flags | os.O_EXCL, mode)
        except FileExistsError:
            pass
    fd = os.open(path, flags, mode)
    _check_opened(path, fd)
    return fd


LINK = b"<a symbolic link>"
"""What :func:`read_unlinked` returns for a symbolic link (never a file's contents: the caller
compares it with ``is``)."""


def read_unlinked(path: str | os.PathLike[str], limit: int | None = None) -> bytes | None:
    """The bytes of the file at ``path`` (up to ``limit``); None when there is none, and
    :data:`LINK` when it is a symbolic link, which is never followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return LINK
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read(limit) if limit is not None else f.read()


def create_new(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644, exact_mode: bool = False) -> None:
    """Create ``path`` holding ``data``: it must not exist (``O_EXCL``, no link followed). ``mode``
    is filtered by the umask, unless ``exact_mode`` (set with ``fchmod``, for files such as a 0600
    password file whatever the umask). A write that fails part-way removes the file: never half
    of it. For a directory nobody else can write in, where no temporary name is needed."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path = os.fspath(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600 if exact_mode else mode)
    try:
        if exact_mode:
            os.fchmod(fd, mode)
        _write_all(fd, raw)
    except BaseException:
        _unlink_quietly(path)
        raise
    finally:
        os.close(fd)


def write_new(path: str | os.PathLike[str], data: bytes | str, *, mode: int) -> None:
    """Create ``path`` (it must not exist: ``O_EXCL``, no link followed) with exactly ``mode``."""
    create_new(path, data, mode=mode, exact_mode=True)


def warn_if_world_writable(path: str | os.PathLike[str], what: str, out: TextIO | None = None) -> None:
    """One warning line when ``path`` is a directory every user can write in (/tmp-like): entries
    there may have been prepared by someone else, and are checked before use."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if st.st_mode & stat.S_IWOTH:
        print(f"warning: {what} {os.fspath(path)!r} is writable by every user (mode "
              f"{stat.S_IMODE(st.st_mode):04o}): keep logs and job directories in a directory of your own",
              file=out or sys.stderr)
