"""What the schedule, status and view commands share: opening the store, checking the experiment."""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..params.resolve import resolve_experiment
from ..store.base import Store
from ..store.urls import DbUrl, parse_url

# Below this many jobs a live progress line is not worth it.
PROGRESS_MIN_JOBS = 2000


_RST_ROLE_RE = re.compile(r":[a-z]+:`~?([^`]+)`")
_RST_LITERAL_RE = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """A docstring's reStructuredText markup removed for a terminal: ``x`` → x, :mod:`a.b` → a.b."""
    return _RST_LITERAL_RE.sub(r"\1", _RST_ROLE_RE.sub(r"\1", text))


class CommandParser(argparse.ArgumentParser):
    """The parser of every ``jobman`` command: a usage error is one line (the message and where help
    is) with exit status 2, not argparse's usage block; ``rewrite_argv`` registers a function that
    adjusts the arguments before parsing (e.g. an optional value argparse would take greedily)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for field in ("description", "epilog"):  # docstrings serve as help: show them as plain text
            if kwargs.get(field):
                kwargs[field] = plain_text(kwargs[field])
        super().__init__(*args, **kwargs)
        self._rewriters: list[Callable[[list[str]], list[str]]] = []

    def rewrite_argv(self, fn: Callable[[list[str]], list[str]]) -> None:
        self._rewriters.append(fn)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        for fn in self._rewriters:
            argv = fn(argv)
        return super().parse_known_args(argv, namespace)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 1, else one line naming ``what`` and the bad text."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected an integer >= 1")
        return value
    return parse


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
