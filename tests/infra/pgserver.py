"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temp dir.

Debian's server binaries refuse to run as root, so as root they run through ``runuser -u postgres``.
Used by ``tests/conftest.py`` (one server per test session, one database per test) and by the
scripts in ``bench/``. ``python -m tests.infra.pgserver`` starts one and prints its URL until ^C or SIGTERM.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


class PgServerError(RuntimeError):
    pass


def _bindir() -> str:
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not cands:
        raise PgServerError("PostgreSQL server binaries not found under /usr/lib/postgresql "
                            "(apt-get install postgresql; .ci/run does it)")
    return cands[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster on 127.0.0.1, trust authentication, fsync off."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bindir = _bindir()
        self.base = tempfile.mkdtemp(prefix="jobman-pg.")
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, "data")
        self.sock = os.path.join(self.base, "sock")
        self.log = os.path.join(self.base, "server.log")
        os.mkdir(self.sock)
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self.settings = {"max_connections": "300", "fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off", **(settings or {})}
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")
        self.start()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.prefix + [os.path.join(self.bindir, tool), *args], cwd="/tmp",
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise PgServerError(f"{tool} {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}\n"
                                f"{self._log_tail()}")
        return proc

    def _log_tail(self) -> str:
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def start(self) -> None:
        opts = f"-k {self.sock} -c listen_addresses=127.0.0.1 -p {self.port} " + " ".join(
            f"-c {k}={v}" for k, v in self.settings.items())
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (closing every connection), stay down ``down_s`` seconds, start again."""
        self.stop("fast")
        time.sleep(down_s)
        self.start()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def execute(self, query: str, params: tuple | None = None) -> tuple | None:
        """One statement in the ``postgres`` database, on a connection of its own in autocommit
        (``create database`` cannot run in a transaction); its first row, None when it returns none."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as c:
            cur = c.execute(query, params)
            return cur.fetchone() if cur.description is not None else None

    def createdb(self, name: str | None = None, owner: str | None = None) -> str:
        name = name or "t_" + uuid.uuid4().hex[:12]
        self.execute(f'create database "{name}"' + (f' owner "{owner}"' if owner else ""))
        return name

    def add_password_role(self, role: str, password: str) -> None:
        """A login role that must authenticate with ``password`` (scram-sha-256) over TCP; the
        other roles keep trust authentication. Idempotent."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute("set password_encryption = 'scram-sha-256'")
            exists = c.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            verb = "alter" if exists else "create"
            c.execute(sql.SQL(verb + " role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
        hba = os.path.join(self.data, "pg_hba.conf")
        line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        with open(hba) as f:
            text = f.read()
        if line not in text:  # first matching line wins: before the trust lines
            with open(hba, "w") as f:
                f.write(line + text)
            self._run("pg_ctl", "-D", self.data, "reload")

    def dropdb(self, name: str) -> None:
        self.execute(f'drop database if exists "{name}" with (force)')

    def url(self, dbname: str, table: str = "jobs", user: str = "postgres", password: str | None = None) -> str:
        """A jobstore URL for ``table`` in database ``dbname`` (with ``password`` in it if given)."""
        auth = user + (f":{password}" if password is not None else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}?table={table}"

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except PgServerError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)


def _stop_on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (and SIGINT, which a shell's background job ignores) end the server


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _stop_on_term)
    server = PgServer()
    db = server.createdb("jobman")
    print(server.url(db, "jobs"), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.destroy()
