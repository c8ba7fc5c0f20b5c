"""Database URLs (jobstore/store/urls.py): the PostgreSQL and SQLite forms, the legacy table-in-path
form, one-line errors that quote the bad value (with the password hidden), and table names."""
from __future__ import annotations

import os

import pytest

from jobstore.errors import UrlError, UsageError
from jobstore.store.urls import MAX_IDENTIFIER_LEN, check_identifier, parse_url


def test_postgres_url_with_every_part():
    url = parse_url("postgres://alice:s3cret@db.example.org:6543/sweeps?table=mlp_jobs")
    assert url.dialect == "postgresql"
    assert (url.user, url.password, url.host, url.port) == ("alice", "s3cret", "db.example.org", 6543)
    assert (url.dbname, url.table) == ("sweeps", "mlp_jobs")
    assert url.conninfo() == {"dbname": "sweeps", "user": "alice", "password": "s3cret",
                              "host": "db.example.org", "port": 6543}


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "POSTGRESQL", "postgresql+psycopg"])
def test_postgres_scheme_spellings(scheme):
    assert parse_url(f"{scheme}://h/db?table=t").dialect == "postgresql"


def test_postgres_minimal_url_leaves_libpq_its_defaults():
    url = parse_url("postgresql:///db?table=t")
    assert (url.user, url.password, url.host, url.port) == (None, None, None, None)
    assert url.conninfo() == {"dbname": "db"}  # libpq then uses PGHOST, ~/.pgpass...


def test_postgres_percent_escapes_and_extra_options():
    url = parse_url("postgresql://al%40ice:p%2Fw%3A@h/my%20db?table=t&sslmode=require&connect_timeout=3")
    assert (url.user, url.password, url.dbname) == ("al@ice", "p/w:", "my db")
    assert url.options == (("connect_timeout", "3"), ("sslmode", "require"))
    assert url.conninfo()["sslmode"] == "require"


def test_postgres_legacy_table_in_path():
    url = parse_url("postgres://u@h/db/legacy_table")
    assert (url.dbname, url.table) == ("db", "legacy_table")


def test_empty_password_is_kept_apart_from_none():
    assert parse_url("postgresql://u:@h/db?table=t").password == ""
    assert parse_url("postgresql://u@h/db?table=t").password is None


def test_sqlite_absolute_and_relative_paths(tmp_path, monkeypatch):
    url = parse_url(f"sqlite:///{tmp_path}/jobs.db?table=t")  # four slashes: an absolute path
    assert url.dialect == "sqlite"
    assert (url.path, url.dbname, url.table) == (str(tmp_path / "jobs.db"), "jobs", "t")
    monkeypatch.chdir(tmp_path)
    rel = parse_url("sqlite:///sub/runs.sqlite?table=runs")
    assert rel.path == os.path.join(str(tmp_path), "sub", "runs.sqlite")
    assert rel.dbname == "runs"
    assert parse_url("sqlite3:///x.db?table=t").dialect == "sqlite"


def test_display_hides_the_password_and_str_is_display():
    url = parse_url("postgresql://alice:s3cret@h:5433/db?table=t")
    assert url.display() == "postgresql://alice:***@h:5433/db?table=t"
    assert str(url) == url.display()
    assert "s3cret" not in repr(url)
    assert parse_url("postgresql://alice@h/db?table=t").display() == "postgresql://alice@h/db?table=t"
    assert parse_url("sqlite:////tmp/j.db?table=t").display() == "sqlite:////tmp/j.db?table=t"


def test_with_table_keeps_the_rest_and_checks_the_name():
    url = parse_url("postgresql://u:pw@h/db?table=t&sslmode=require")
    other = url.with_table("t2")
    assert (other.table, other.dbname, other.password, other.options) == ("t2", "db", "pw", url.options)
    with pytest.raises(UrlError, match="invalid table name 'bad-name'"):
        url.with_table("bad-name")


@pytest.mark.parametrize("bad, quoted", [
    ("jobs.db", "'jobs.db'"),
    ("mysql://u@h/db?table=t", "'mysql'"),
    ("postgresql://u@h/db", "'postgresql://u@h/db'"),
    ("postgresql://u@h/?table=t", "'postgresql://u@h/?table=t'"),
    ("postgresql://u@h/a/b/c?table=t", "'postgresql://u@h/a/b/c?table=t'"),
    ("postgresql://u@h:notaport/db?table=t", "'postgresql://u@h:notaport/db?table=t'"),
    ("postgresql://u@h/db?table=1abc", "'1abc'"),
    ("sqlite:///jobs.db", "'sqlite:///jobs.db'"),
    ("sqlite:///jobs.db?table=t&mode=ro", "'mode'"),
    ("sqlite://?table=t", "'sqlite://?table=t'"),
    ("sqlite:///jobs.db?table=t;drop", "'t;drop'"),
])
def test_bad_urls_raise_one_line_url_errors_naming_the_value(bad, quoted):
    with pytest.raises(UrlError) as info:
        parse_url(bad)
    message = str(info.value)
    assert quoted in message
    assert "\n" not in message
    assert isinstance(info.value, UsageError) and info.value.exit_code == UsageError.exit_code


def test_a_newline_in_the_value_stays_on_one_line():
    with pytest.raises(UrlError) as info:
        parse_url("sqlite:///a\nb.db")
    assert "\n" not in str(info.value) and "a\\nb.db" in str(info.value)


@pytest.mark.parametrize("bad", [
    "postgresql://alice:s3cret@h/db",  # no table
    "mysql://alice:s3cret@h/db?table=t",  # unsupported scheme
    "postgresql://alice:s3cret@h:port/db?table=t",  # bad port
    "postgresql://alice:s3cret@h/a/b/c?table=t",  # too many path segments
])
def test_errors_never_show_the_password(bad):
    with pytest.raises(UrlError) as info:
        parse_url(bad)
    assert "s3cret" not in str(info.value)
    assert "alice:***@" in str(info.value)


def test_non_string_url_is_a_url_error():
    with pytest.raises(UrlError, match="malformed database URL None"):
        parse_url(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["jobs", "_private", "MLP_2024", "a" * MAX_IDENTIFIER_LEN])
def test_check_identifier_accepts_and_returns_plain_names(name):
    assert check_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1jobs", "jobs-2", "jobs table", 'jobs"', "jobs;drop table x", "tâble",
                                  "a" * (MAX_IDENTIFIER_LEN + 1)])
def test_check_identifier_refuses_others_with_what_is_accepted(name):
    with pytest.raises(UrlError) as info:
        check_identifier(name, what="view")
    message = str(info.value)
    assert message.startswith(f"invalid view name {name!r}")
    assert "letters, digits and underscores" in message and str(MAX_IDENTIFIER_LEN) in message
