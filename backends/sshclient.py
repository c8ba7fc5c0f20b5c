"""SSH through paramiko: :class:`SshTarget` (``[user@]host[:port]``), :class:`SshAuth` (keys and
known_hosts) and :class:`SshRunner`, the :class:`~backends.runner.Runner` that runs shell lines on one
host over one kept-open connection and uploads files over SFTP.

Host keys are checked strictly: paramiko's ``RejectPolicy`` against the system and user known_hosts
(plus an extra file), unless ``accept_new_host_keys`` (OpenSSH's ``accept-new``); a key that changed
is always refused. Every failure becomes one line: :class:`~backends.errors.HostKeyError`,
:class:`~backends.errors.AuthError` or :class:`~backends.errors.ConnectError`. paramiko is imported
only when a connection is made, so that the local backend never pays for it.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import known_hosts
from .errors import AuthError, CommandError, ConnectError, HostKeyError, UsageError
from .runner import Completed, Runner

__all__ = ["SshTarget", "SshAuth", "SshRunner"]

SSH_CONNECT_TIMEOUT_S = 10.0
SSH_DEFAULT_PORT = 22
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
USER_KNOWN_HOSTS = "~/.ssh/known_hosts"

_TARGET_RE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\s\[\]]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class SshTarget:
    """One ssh host: ``[user@]host[:port]`` (``[v6addr]:port`` for IPv6)."""

    host: str
    port: int = SSH_DEFAULT_PORT
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        m = _TARGET_RE.match(text.strip())
        if not m or not (1 <= int(m.group("port") or SSH_DEFAULT_PORT) <= 65535):
            raise UsageError(f"bad ssh host {text!r}: expected [user@]host[:port], e.g. alice@node1:2222")
        return cls(m.group("v6") or m.group("host"), int(m.group("port") or SSH_DEFAULT_PORT), m.group("user"))

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host: the bare host on port 22, ``[host]:port`` otherwise."""
        return self.host if self.port == SSH_DEFAULT_PORT else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.user}@" if self.user else "") + host + ("" if self.port == SSH_DEFAULT_PORT else f":{self.port}")


@dataclass
class SshAuth:
    """How to authenticate and which host keys to trust.

    ``key_file``: a private key to offer (else the agent and ``~/.ssh/id_*``). ``known_hosts``: an
    extra known_hosts file, read after the system and user ones. ``accept_new_host_keys``: trust a
    host seen for the first time and append its key to ``known_hosts`` (or the user's file); a key
    that *changed* is always refused."""

    key_file: str | None = None
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    connect_timeout_s: float = SSH_CONNECT_TIMEOUT_S
    known_hosts_files: list[str] = field(default_factory=list)  # filled by SshRunner: what was read


class SshRunner(Runner):
    """Shell lines on one remote host through paramiko, on one connection kept open.

    :meth:`connect` checks the host key against known_hosts with paramiko's ``RejectPolicy``
    (unless ``accept_new_host_keys``) and turns every failure into one line: :class:`HostKeyError`,
    :class:`AuthError` or :class:`ConnectError`."""

    def __init__(self, target: SshTarget, auth: SshAuth | None = None) -> None:
        super().__init__()
        self.target = target
        self.auth = auth or SshAuth()
        self.where = str(target)
        self._client: Any = None

    @property
    def connected(self) -> bool:
        """Whether a connection is open (:meth:`connect` makes one; :meth:`close` ends it)."""
        return self._client is not None

    def connect(self) -> SshRunner:
        import paramiko  # imported here: the local backend must not pay for it

        client = paramiko.SSHClient()
        files = [SYSTEM_KNOWN_HOSTS, os.path.expanduser(USER_KNOWN_HOSTS)]
        extra = os.path.expanduser(self.auth.known_hosts) if self.auth.known_hosts else None
        if extra:
            files.append(extra)
        known = known_hosts.read(files)
        known.install(client)
        self.auth.known_hosts_files = files
        if self.auth.accept_new_host_keys:
            client.set_missing_host_key_policy(_AcceptNewPolicy(extra or os.path.expanduser(USER_KNOWN_HOSTS), known))
        else:
            client.set_missing_host_key_policy(_RejectPolicy(known))
        start = time.monotonic()
        try:
            client.connect(self.target.host, port=self.target.port, username=self.target.user,
                           key_filename=self.auth.key_file, look_for_keys=self.auth.key_file is None,
                           allow_agent=self.auth.key_file is None, timeout=self.auth.connect_timeout_s,
                           banner_timeout=self.auth.connect_timeout_s, auth_timeout=self.auth.connect_timeout_s)
        except (paramiko.SSHException, HostKeyError, OSError, socket.timeout, EOFError) as e:
            client.close()
            raise self._failure(e, files) from None
        finally:
            self.time_in_commands_s += time.monotonic() - start
        self._client = client
        return self

    def _failure(self, e: Exception, files: Sequence[str]) -> Exception:
        """A failed connection as one line: a host key unknown or changed, a refused key, or the host
        out of reach."""
        import paramiko

        if isinstance(e, paramiko.BadHostKeyException):
            return HostKeyError(
                f"ssh host {self.target} presented a {e.key.get_name()} key that does NOT match known_hosts "
                f"({', '.join(files)}); refusing to connect (remove the stale line if the host was reinstalled)")
        if isinstance(e, HostKeyError):
            return e
        if isinstance(e, paramiko.SSHException) and "not found in known_hosts" in str(e):
            ca = " (@cert-authority lines are not used)" if "@cert-authority" in str(e) else ""
            return HostKeyError(
                f"ssh host {self.target} is not in known_hosts ({', '.join(files)}){ca}; add its key "
                f"(ssh-keyscan -p {self.target.port} {self.target.host} >> ~/.ssh/known_hosts, after checking "
                "it) or pass --ssh_accept_new_host_keys")
        if isinstance(e, paramiko.AuthenticationException):
            how = self.auth.key_file or "the ssh agent and ~/.ssh keys"
            return AuthError(f"ssh host {self.target} refused authentication as "
                             f"{self.target.user or _login()} with {how}: {e}")
        if isinstance(e, paramiko.SSHException):
            return ConnectError(f"cannot reach ssh host {self.target}: {e}")
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        return ConnectError(f"cannot reach ssh host {self.target}: {reason}")

    def _run(self, command: Sequence[str] | str, *, input: str | None, timeout_s: float | None,
             cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> tuple[int, str, str]:
        if self._client is None:
            self.connect()
        line = command if isinstance(command, str) else shlex.join(command)
        if env:
            line = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())) + " " + line
        if cwd is not None:
            line = f"cd {shlex.quote(os.fspath(cwd))} && {line}"
        try:
            stdin, stdout, stderr = self._client.exec_command(line, timeout=timeout_s)
            if input is not None:
                stdin.write(input)
            stdin.channel.shutdown_write()
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            status = stdout.channel.recv_exit_status()
        except (OSError, EOFError, socket.timeout) as e:
            return 124 if isinstance(e, (socket.timeout, TimeoutError)) else 255, "", f"ssh: {e or type(e).__name__}"
        return status, out, err

    def put(self, path: str | os.PathLike[str], text: str, mode: int = 0o644) -> None:
        """Write ``text`` to ``path`` on the remote host (SFTP), atomically: a temporary name, then
        a rename, so that a shell already reading the old file (a shared filesystem seen by several
        hosts) keeps reading a whole file."""
        if self._client is None:
            self.connect()
        path = os.fspath(path)
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"  # unpredictable, created exclusively
        start = time.monotonic()
        rc, err = 0, ""
        try:
            with self._client.open_sftp() as sftp:
                with sftp.open(tmp, "wx") as fh:
                    fh.chmod(mode)  # before the content: a 0600 file is never readable by others
                    fh.write(text)
                sftp.posix_rename(tmp, path)
        except (OSError, EOFError) as e:
            rc, err = 1, f"{path}: {e}"
        done = Completed(f"sftp put {path}", rc, "", err, time.monotonic() - start, self.where, start)
        self.log(done)
        if rc:
            raise CommandError(done.command, rc, "", err, self.where)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _login() -> str:
    try:
        return os.getlogin()
    except OSError:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name


class _RejectPolicy:
    """paramiko's ``RejectPolicy``, saying why: a revoked key, or a host known only through a
    ``@cert-authority`` line (host certificates cannot be checked here)."""

    def __init__(self, known: known_hosts.KnownHosts) -> None:
        self.known = known

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        import paramiko

        if self.known.is_revoked(key):
            raise HostKeyError(f"ssh host {hostname} presented a {key.get_name()} key marked @revoked in "
                               "known_hosts; refusing to connect")
        why = (" (its @cert-authority lines are not used: host certificates cannot be checked here; "
               "list the host's own key)" if self.known.cert_authority_lines else "")
        raise paramiko.SSHException(f"Server {hostname!r} not found in known_hosts{why}")


class _AcceptNewPolicy(_RejectPolicy):
    """OpenSSH's ``StrictHostKeyChecking=accept-new``: trust a host never seen before and remember
    it in ``path``; a revoked key is still refused. A host whose key changed never reaches a
    missing-key policy: paramiko raises ``BadHostKeyException`` first."""

    def __init__(self, path: str, known: known_hosts.KnownHosts) -> None:
        super().__init__(known)
        self.path = path

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if self.known.is_revoked(key):
            super().missing_host_key(client, hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
