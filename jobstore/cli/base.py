"""What the schedule, status and view commands share: opening the store, checking the experiment."""
from __future__ import annotations

import argparse
import sys

from ..params.resolve import resolve_experiment
from ..store.base import Store
from ..store.urls import DbUrl, parse_url

# Below this many jobs a live progress line is not worth it.
PROGRESS_MIN_JOBS = 2000


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the message and where help is), not usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_url(text: str) -> DbUrl:
    """Parse the URL before anything else, so a bad one fails before any work or connection."""
    return parse_url(text)


def check_experiment(name: str) -> str:
    """Import the experiment now: a typo is an error at schedule time, not a job failing later."""
    resolve_experiment(name)
    return name.strip()


def open_store(url: str, *, create: bool) -> Store:
    """Open the table; with ``create``, create it (and migrate it) if needed, as Jobman did."""
    from ..store import open_db

    return open_db(url, create=create)


class Progress:
    """A live ``label n/total`` line on stderr, only when stderr is a terminal (quiet in logs)."""

    def __init__(self, label: str, total: int, every: int = 1000) -> None:
        self.label, self.total, self.every = label, total, every
        self.shown = 0
        self.enabled = total >= PROGRESS_MIN_JOBS and sys.stderr.isatty()

    def update(self, n: int) -> None:
        if self.enabled and (n - self.shown >= self.every or n == self.total):
            self.shown = n
            sys.stderr.write(f"\r{self.label} {n}/{self.total}")
            sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[K{text}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
