"""Database passwords out of everything a launch writes or passes on.

A URL such as ``postgres://user:pw@host/db?table=t`` in the command, a ``--file`` line or an
``--env`` value would otherwise reach the launch directory's name, ``launcher.sh``, the submit
script, ``manifest.json`` and the command line of every process of the launch (``ps`` shows it to
every user of the node). :class:`Credentials` strips the password from each such URL and keeps it
for one pgpass-format file, mode 0600, in the launch directory; the launcher exports ``PGPASSFILE``
so that libpq (hence ``jobman sql``) finds it there.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobstore.store.urls import PgPassEntry, strip_passwords_in

__all__ = ["PGPASS_NAME", "Credentials"]

PGPASS_NAME = "pgpass"


class Credentials:
    """The passwords found while cleaning a launch's words, lines and environment."""

    def __init__(self) -> None:
        self.entries: list[PgPassEntry] = []

    def text(self, value: str) -> str:
        """``value`` with the password of every postgres URL in it removed (and remembered)."""
        clean, found = strip_passwords_in(value)
        for entry in found:
            if entry not in self.entries:
                self.entries.append(entry)
        return clean

    def words(self, words: Sequence[str]) -> list[str]:
        return [self.text(w) for w in words]

    def commands(self, commands: Sequence[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        """Expanded ``(command line, varying arguments)`` pairs, cleaned (``--file`` lines included)."""
        return [(self.text(cmd), self.words(varying)) for cmd, varying in commands]

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        return {k: self.text(v) for k, v in env.items()}

    def pgpass(self) -> str | None:
        """The pgpass file's text, or None when no password was found (nothing to write)."""
        if not self.entries:
            return None
        return "".join(e.line() + "\n" for e in self.entries)
