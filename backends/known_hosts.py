"""OpenSSH known_hosts files read for paramiko, markers included.

paramiko's own reader does not know the ``@revoked`` and ``@cert-authority`` markers: it skips a
``@revoked`` line, so a revoked key would still be trusted by the line that lists it, and it can
stop on a line it cannot decode. Here every file is read line by line: plain lines become host
keys (minus any key marked ``@revoked`` in any file), ``@revoked`` keys are refused even where
another line lists them, and ``@cert-authority`` lines are counted and skipped (paramiko cannot
check host certificates: a host known only through a CA is refused as unknown, and the error says
why). An undecodable line is skipped, not fatal.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

REVOKED = "@revoked"
CERT_AUTHORITY = "@cert-authority"


@dataclass
class KnownHosts:
    """What a list of known_hosts files says: (hostnames, key) entries, revoked keys, CA lines."""

    entries: list[tuple[list[str], Any]] = field(default_factory=list)
    revoked: set[tuple[str, str]] = field(default_factory=set)  # (key type, base64)
    cert_authority_lines: int = 0

    def is_revoked(self, key: Any) -> bool:
        return (key.get_name(), key.get_base64()) in self.revoked

    def install(self, client: Any) -> None:
        """Give ``client`` (a paramiko SSHClient) every host key that is not revoked."""
        keys = client.get_host_keys()
        for names, key in self.entries:
            if not self.is_revoked(key):
                for name in names:
                    keys.add(name, key.get_name(), key)


def read(paths: Sequence[str]) -> KnownHosts:
    """Read the files of ``paths`` that exist, in order."""
    from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

    known = KnownHosts()
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("@"):
                    _marker(known, line)
                    continue
                try:
                    entry = HostKeyEntry.from_line(line)
                except (InvalidHostKey, ValueError):
                    entry = None
                if entry is not None and entry.key is not None:
                    known.entries.append((list(entry.hostnames), entry.key))
    return known


def _marker(known: KnownHosts, line: str) -> None:
    fields = line.split()
    if fields[0] == REVOKED and len(fields) >= 4:
        known.revoked.add((fields[2], fields[3]))
    elif fields[0] == CERT_AUTHORITY:
        known.cert_authority_lines += 1
