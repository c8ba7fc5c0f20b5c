"""A throwaway PgBouncer (Debian's ``pgbouncer``) in front of a :class:`~tests.infra.pgserver.PgServer`,
on 127.0.0.1, for tests and benchmarks: transaction pooling by default, a fixed pool of server
connections, trust authentication like the server behind it.

PgBouncer refuses to run as root, so as root it runs as ``postgres`` (``runuser``), like the server.
"""
from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time

from tests.infra.pgserver import PgServer, PgServerError, _free_port

PGBOUNCER = "/usr/sbin/pgbouncer"


class PgBouncer:
    """``pool_size`` server connections per database, up to ``max_clients`` clients."""

    def __init__(self, server: PgServer, *, pool_size: int = 20, max_clients: int = 2000,
                 mode: str = "transaction") -> None:
        if not os.path.exists(PGBOUNCER):
            raise PgServerError(f"{PGBOUNCER} not found (apt-get install pgbouncer; tests/infra/up.sh does it)")
        self.server = server
        self.pool_size = pool_size
        self.base = tempfile.mkdtemp(prefix="jobman-pgbouncer.")
        os.chmod(self.base, 0o755)
        self.port = _free_port()
        self.ini = os.path.join(self.base, "pgbouncer.ini")
        self.log = os.path.join(self.base, "pgbouncer.log")
        with open(os.path.join(self.base, "userlist.txt"), "w") as f:
            f.write('"postgres" ""\n')
        with open(self.ini, "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.base}
auth_type = trust
auth_file = {self.base}/userlist.txt
pool_mode = {mode}
default_pool_size = {pool_size}
max_db_connections = {pool_size}
max_client_conn = {max_clients}
ignore_startup_parameters = extra_float_digits
logfile = {self.log}
pidfile = {self.base}/pgbouncer.pid
""")
        as_user: dict[str, str] = {}
        if os.geteuid() == 0:
            for name in os.listdir(self.base):
                shutil.chown(os.path.join(self.base, name), "postgres", "postgres")
            shutil.chown(self.base, "postgres", "postgres")
            as_user = {"user": "postgres", "group": "postgres"}
        fds = max_clients + pool_size + 64  # one file descriptor per client and per server connection

        def raise_fd_limit() -> None:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = fds if hard == resource.RLIM_INFINITY else min(fds, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

        # The process itself is pgbouncer (no wrapper), so that stop() signals the server.
        self.proc = subprocess.Popen([PGBOUNCER, self.ini], cwd="/tmp", stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit, **as_user)  # type: ignore[call-overload]
        self._wait_listening()

    def _wait_listening(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgServerError(f"pgbouncer exited ({self.proc.returncode}): {self._log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise PgServerError(f"pgbouncer not listening on 127.0.0.1:{self.port}: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-10:])
        except OSError:
            return ""

    def url(self, dbname: str, table: str = "jobs", **params: str) -> str:
        """A jobstore URL for ``table`` in ``dbname`` through this PgBouncer."""
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}?table={table}{extra}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)
