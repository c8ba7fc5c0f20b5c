"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer``, the page and its
assets from ``static/``, the JSON endpoints of :class:`~.api.Api`.

Security: it binds 127.0.0.1 unless told otherwise (reach it through ``ssh -L``); a request whose
Host header names another host is refused (a page of another site cannot read it through DNS
rebinding); write actions need the token printed at start-up, sent in the ``X-Jobman-Token``
header (a cross-site form cannot set it), and are refused altogether with ``--read-only``. The
page puts every value from the table in the DOM as text, never as HTML, under a Content Security
Policy that allows scripts from this server only.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ...errors import JobmanError, UsageError
from .api import Api

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
MAX_BODY_BYTES = 65536
TOKEN_HEADER = "X-Jobman-Token"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

logger = logging.getLogger(__name__)


class DashboardServer(ThreadingHTTPServer):
    """One table's dashboard: ``api`` answers, ``token`` guards the actions."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: Api, token: str) -> None:
        self.api, self.token = api, token
        self.allowed_hosts = {address[0], *LOOPBACK_NAMES}
        # every file shipped in static/, by name: nothing else is ever read from disk
        self.static = {name: os.path.join(STATIC_DIR, name) for name in os.listdir(STATIC_DIR)
                       if os.path.splitext(name)[1] in CONTENT_TYPES}
        self.db_lock = threading.Lock()  # one connection, used by one request at a time
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        logger.debug("dashboard: " + format, *args)

    # -- routing --------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._host_ok():
            return
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        path = parts.path
        if path == "/":
            path = "/index.html"
        if path == "/api/jobs.csv":
            self._call(lambda: self.server.api.jobs_csv(query), "text/csv; charset=utf-8",
                       {"Content-Disposition": 'attachment; filename="jobs.csv"'})
        elif path.startswith("/api/"):
            view = self.server.api.views.get(path[len("/api/"):])
            if view is None:
                self._json(404, {"error": f"unknown view {path!r}"})
            else:
                self._call(lambda: view(query))
        elif path[1:] in self.server.static:
            self._file(self.server.static[path[1:]])
        else:
            self._json(404, {"error": f"not found: {path!r}"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/action":
            self._json(404, {"error": "not found"})
            return
        if self.server.api.read_only:
            self._json(403, {"error": "the dashboard is read-only (--read-only)"})
            return
        if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), self.server.token):
            self._json(403, {"error": f"missing or wrong token: send the token printed at start-up in {TOKEN_HEADER}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY_BYTES:
            self._json(400, {"error": f"bad body length {length}: expected 1 to {MAX_BODY_BYTES} bytes"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError as e:
            self._json(400, {"error": f"bad JSON body: {e}"})
            return
        if not isinstance(body, dict):
            self._json(400, {"error": "bad body: expected a JSON object"})
            return
        self._call(lambda: self.server.api.action(body))

    # -- answers --------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        host = urlsplit("//" + (self.headers.get("Host") or "")).hostname or ""
        if host in self.server.allowed_hosts:
            return True
        self._json(403, {"error": f"unexpected Host {host!r}: open the dashboard by the address it printed"})
        return False

    def _call(self, fn: Any, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        try:
            with self.server.db_lock:
                result = fn()
        except (UsageError, PermissionError) as e:
            self._json(403 if isinstance(e, PermissionError) else 400, {"error": str(e)})
            return
        except JobmanError as e:
            self._json(503, {"error": str(e)})
            return
        if isinstance(result, str):
            self._send(200, result.encode("utf-8"), content_type, headers)
        else:
            self._json(200, result)

    def _json(self, code: int, doc: Any) -> None:
        self._send(code, json.dumps(doc, allow_nan=False).encode("utf-8"), "application/json")

    def _file(self, path: str) -> None:
        with open(path, "rb") as f:
            data = f.read()
        self._send(200, data, CONTENT_TYPES[os.path.splitext(path)[1]])

    def _send(self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def make_server(api: Api, host: str = "127.0.0.1", port: int = 8080, token: str | None = None) -> DashboardServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving."""
    return DashboardServer((host, port), api, token or secrets.token_urlsafe(18))


def serve(server: DashboardServer) -> None:
    """Serve until interrupted."""
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
