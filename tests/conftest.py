"""Shared fixtures. A real PostgreSQL server is started once per test session (as the
``postgres`` user when run as root); each test gets its own database. If PostgreSQL cannot start,
the tests that need it fail: they are never skipped."""
from __future__ import annotations

import os
import sys

import pytest

from tests.helpers.paths import EXPERIMENTS_DIR, ROOT
from tests.infra.pgserver import PgServer


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    yield server
    server.destroy()


@pytest.fixture
def pg_db(pg_server):
    """The name of a fresh, empty database on the session's server."""
    name = pg_server.createdb()
    yield name
    pg_server.dropdb(name)


@pytest.fixture
def pg_url(pg_server, pg_db):
    """A jobstore URL (table ``jobs``) in a fresh database."""
    return pg_server.url(pg_db, "jobs")


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/jobs.db?table=jobs"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request, tmp_path):
    """Both dialects: a fresh PostgreSQL database or a fresh SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db?table=jobs"
    server = request.getfixturevalue("pg_server")
    name = server.createdb()
    request.addfinalizer(lambda: server.dropdb(name))
    return server.url(name, "jobs")


@pytest.fixture
def cli_env(tmp_path):
    """Environment for running the console scripts in subprocesses: the repository and the test
    experiments (tests/experiments) importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, str(EXPERIMENTS_DIR)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python():
    return sys.executable
