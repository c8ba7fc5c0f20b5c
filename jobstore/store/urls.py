"""Database URLs: ``postgres[ql]://user[:pass]@host[:port]/db?table=T`` and
``sqlite:///relative.db?table=T`` / ``sqlite:////abs/path.db?table=T``.

The password is never printed: :meth:`DbUrl.display` and ``str()`` hide it. Without a password in
the URL, libpq reads ``~/.pgpass`` (or ``PGPASSFILE``) itself.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UrlError

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Side objects are named <table>__keys, <table>__views...: keep room for the suffix under 63.
MAX_IDENTIFIER_LEN = 48

ACCEPTED_FORMS = (
    "postgresql://user[:password]@host[:port]/dbname?table=NAME, "
    "sqlite:///relative/path.db?table=NAME or sqlite:////absolute/path.db?table=NAME"
)


def check_identifier(name: str, what: str = "table") -> str:
    """A table or view name: letters, digits and underscores, not starting with a digit."""
    if not IDENTIFIER_RE.match(name or "") or len(name) > MAX_IDENTIFIER_LEN:
        raise UrlError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, starting with a letter "
            f"or underscore, at most {MAX_IDENTIFIER_LEN} characters"
        )
    return name


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL. ``dialect`` is ``'postgresql'`` or ``'sqlite'``."""

    dialect: str
    table: str
    dbname: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str | None = None  # sqlite: absolute path of the database file
    options: tuple[tuple[str, str], ...] = ()  # other query parameters (passed to libpq)

    def display(self) -> str:
        """The URL with the password hidden, for messages."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.path}?table={self.table}"
        auth = ""
        if self.user:
            auth = self.user + (":***" if self.password else "") + "@"
        hostport = (self.host or "") + (f":{self.port}" if self.port else "")
        return f"postgresql://{auth}{hostport}/{self.dbname}?table={self.table}"

    __str__ = display

    def conninfo(self) -> dict[str, object]:
        """Keyword arguments for ``psycopg.connect``."""
        kw: dict[str, object] = {"dbname": self.dbname}
        if self.user:
            kw["user"] = self.user
        if self.password is not None:
            kw["password"] = self.password
        if self.host:
            kw["host"] = self.host
        if self.port:
            kw["port"] = self.port
        kw.update(dict(self.options))
        return kw

    def with_table(self, table: str) -> DbUrl:
        return DbUrl(self.dialect, check_identifier(table), self.dbname, self.user, self.password,
                     self.host, self.port, self.path, self.options)


def parse_url(url: str) -> DbUrl:
    """Parse and check a database URL; raise :class:`UrlError` naming the bad part."""
    if not isinstance(url, str) or "://" not in url:
        raise UrlError(f"malformed database URL {url!r}: expected {ACCEPTED_FORMS}")
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("sqlite", "sqlite3"):
        return _parse_sqlite(url)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        return _parse_postgres(url)
    raise UrlError(f"unsupported database URL scheme {scheme!r} in {_redact(url)!r}: expected {ACCEPTED_FORMS}")


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _query(url: str, query: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    try:
        q = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise UrlError(f"malformed query string {query!r} in {_redact(url)!r}: expected ?table=NAME") from None
    table = q.pop("table", [None])[-1]
    return table, tuple((k, v[-1]) for k, v in sorted(q.items()))


def _parse_sqlite(url: str) -> DbUrl:
    rest = url.split("://", 1)[1]
    path_part, _, query = rest.partition("?")
    table, options = _query(url, query)
    if options:
        raise UrlError(f"unknown option(s) {', '.join(k for k, _ in options)!r} in {url!r}: sqlite URLs take only ?table=NAME")
    if not path_part.startswith("/") or path_part in ("/", ""):
        raise UrlError(f"malformed sqlite URL {url!r}: expected {ACCEPTED_FORMS}")
    rel = unquote(path_part[1:])  # sqlite:///rel.db → rel.db ; sqlite:////abs.db → /abs.db
    if table is None:
        raise UrlError(f"no table in {url!r}: add ?table=NAME")
    check_identifier(table)
    path = os.path.abspath(os.path.expanduser(rel))
    dbname = os.path.splitext(os.path.basename(path))[0] or "SQLITE_DB"
    return DbUrl("sqlite", table, dbname, path=path)


def _parse_postgres(url: str) -> DbUrl:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UrlError(f"malformed database URL {_redact(url)!r} ({e}): expected {ACCEPTED_FORMS}") from None
    table, options = _query(url, parts.query)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if table is None and len(segments) == 2:  # legacy form postgres://user@host/dbname/tablename
        segments, table = segments[:1], segments[1]
    if len(segments) != 1:
        raise UrlError(f"malformed database URL {_redact(url)!r}: expected one database name after the host "
                       f"({ACCEPTED_FORMS})")
    if table is None:
        raise UrlError(f"no table in {_redact(url)!r}: add ?table=NAME")
    check_identifier(table)
    return DbUrl(
        "postgresql",
        table,
        segments[0],
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        options=options,
    )


# A postgres URL inside any text (a command line, a conf value): stops at whitespace and quotes.
_PG_URL_IN_TEXT_RE = re.compile(r"postgres(?:ql)?(?:\+psycopg2?)?://[^\s'\"]+", re.IGNORECASE)


@dataclass(frozen=True)
class PgPassEntry:
    """One line of a libpq password file (``host:port:db:user:password``), ``*`` where the URL
    names nothing."""

    host: str
    port: str
    dbname: str
    user: str
    password: str = field(repr=False)

    def line(self) -> str:
        """The line, with ``:`` and ``\\`` escaped as libpq expects."""
        head = [f if f == "*" else _pgpass_escape(f) for f in (self.host, self.port, self.dbname, self.user)]
        return ":".join([*head, _pgpass_escape(self.password)])


def _pgpass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def strip_password(url: str) -> tuple[str, PgPassEntry | None]:
    """``url`` without its password, and the password as a pgpass entry (None when it had none).

    Used for everything passed on or written (command lines, scripts, manifests): the password then
    travels in a 0600 pgpass file that libpq reads through ``PGPASSFILE``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url, None
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = (user + "@" if user else "") + host
    segments = [unquote(s) for s in parts.path.split("/") if s]
    entry = PgPassEntry(host=unquote(parts.hostname) if parts.hostname else "*",
                        port=str(port) if port else "*",
                        dbname=segments[0] if segments else "*",
                        user=unquote(user) if user else "*",
                        password=unquote(parts.password))
    return parts._replace(netloc=netloc).geturl(), entry


def strip_passwords_in(text: str) -> tuple[str, list[PgPassEntry]]:
    """Every postgres URL in ``text`` without its password, and the passwords found."""
    found: list[PgPassEntry] = []

    def one(m: re.Match[str]) -> str:
        clean, entry = strip_password(m.group(0))
        if entry is not None:
            found.append(entry)
        return clean
    return _PG_URL_IN_TEXT_RE.sub(one, text), found


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (for printing)."""
    return re.sub(r"([a-z][a-z0-9+.-]*://[^:/@\s'\"]*):[^@/\s'\"]*@", r"\1:***@", text, flags=re.IGNORECASE)
