"""The dashboard's web server: three static assets and one JSON endpoint, from this process only.

``GET /`` (the page), ``/app.js``, ``/app.css`` (package data, no CDN, nothing remote), and
``GET /api/findings``: the stored findings as ``trailguard history --format json`` prints them, read
from the store at most once per ``MIN_READ_SECONDS`` however many pages poll. The page polls it
every ``refresh`` seconds, so a new finding shows up within ``refresh`` seconds of being stored
(a state file: once the scan that found it has ended and released the file).

Hardening: a Content-Security-Policy that allows this origin's script and style only (no inline
script, no frames), ``X-Content-Type-Options: nosniff``, no referrer; a request whose ``Host``
header names another host is refused (a web page elsewhere cannot reach the server through DNS
rebinding); only GET and HEAD. The page puts event text in the DOM as text, never as markup.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import IO, Any

from trailguard.services.history import HistoryQuery, HistorySource, parse_when, record_dict
from trailguard.services.stores.base import HistoryRecord, iso
from trailguard.services.stores.sqlite import StateFileBusy

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
MIN_READ_SECONDS = 1.0
# A table is read whole at most this often; in between, only the findings of the last
# ``RECENT_SECONDS`` of event time (what the Lambda is storing now), merged in: a poll of a
# 30-day history every few seconds would read every item each time.
FULL_READ_SECONDS = 300.0
RECENT_SECONDS = 86_400
# The most findings the page gets: the newest, so that a long history stays a quick page.
MAX_FINDINGS = 5000
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def asset(name: str) -> bytes:
    return resources.files("trailguard.dashboard").joinpath("assets", name).read_bytes()


class Findings:
    """The store's findings for the page, read at most once per ``MIN_READ_SECONDS``; when the store
    cannot be read (a scan holds the state file), the last answer with the reason."""

    def __init__(self, source: HistorySource, since: str, refresh: int) -> None:
        self.source = source
        self.since = since
        self.refresh = refresh
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._full_at = -FULL_READ_SECONDS
        self._body = b""
        self._records: dict[tuple[str, ...], HistoryRecord] = {}
        self._findings: list[dict[str, Any]] = []
        self._read_ok_at = ""
        self.problem: Exception | None = None  # why the last read failed

    def body(self) -> bytes:
        with self._lock:
            now = time.monotonic()
            if not self._body or now - self._read_at >= MIN_READ_SECONDS:
                self._read_at = now
                self._body = self._read()
            return self._body

    def _read(self) -> bytes:
        from trailguard.core.exceptions import ConfigError

        problem = ""
        try:
            since = parse_when(self.since) if self.since else ""
            now = time.monotonic()
            full = not self.source.incremental or now - self._full_at >= FULL_READ_SECONDS
            if not full:
                since = max(since, iso(time.time() - RECENT_SECONDS))
            records = self.source.read(HistoryQuery(since=since))
            if full:
                self._records = {}
                self._full_at = now
            for record in records:
                self._records[_identity(record)] = record
            newest = sorted(self._records.values(), key=lambda r: (r.event_time, _identity(r)))[-MAX_FINDINGS:]
            self._findings = [record_dict(record) for record in newest]
            self._read_ok_at = iso(time.time())
        except ConfigError as exc:  # busy, or gone: the page says so and keeps what it has
            problem = str(exc)
            self.problem = exc
        else:
            self.problem = None
        document = {
            "source": self.source.label,
            "read_at": self._read_ok_at,
            "refresh": self.refresh,
            "problem": problem,
            "limit": MAX_FINDINGS,
            "findings": self._findings,
        }
        return json.dumps(document, ensure_ascii=True).encode("ascii")


def _identity(record: HistoryRecord) -> tuple[str, ...]:
    resource = record.resource_arn or record.resource_id
    return (record.account_id, record.region, record.event_id, record.rule_id, resource)


def make_handler(findings: Findings, allowed_hosts: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trailguard-dashboard"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: the terminal shows the address and errors only

        def _send(self, status: HTTPStatus, body: bytes, content_type: str, head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _answer(self, head: bool) -> None:
            host = (self.headers.get("Host") or "").strip().lower()
            if host not in allowed_hosts:
                self._send(HTTPStatus.MISDIRECTED_REQUEST, b"unknown host\n", "text/plain; charset=utf-8", head)
                return
            path = self.path.split("?", 1)[0]
            if path == "/api/findings":
                self._send(HTTPStatus.OK, findings.body(), "application/json", head)
            elif path in ASSETS:
                name, content_type = ASSETS[path]
                self._send(HTTPStatus.OK, asset(name), content_type, head)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _refuse(self) -> None:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read only\n", "text/plain; charset=utf-8")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    return Handler


def allowed_hosts_for(host: str, port: int) -> set[str]:
    """The ``Host`` headers a browser sends for this server: its address, and localhost for loopback."""
    name = host.lower()
    names = {f"[{name}]" if ":" in name else name}
    if name in LOOPBACK_NAMES or name.startswith("127."):
        names |= LOOPBACK_NAMES
    return {f"{n}:{port}" for n in names} | (names if port == 80 else set())


def make_server(source: HistorySource, since: str, host: str, port: int, refresh: int) -> ThreadingHTTPServer:
    """The server, bound (``port`` 0: a free one; ``server.server_address`` says which)."""
    findings = Findings(source, since, refresh)
    findings.body()
    if findings.problem is not None and not isinstance(findings.problem, StateFileBusy):
        raise findings.problem  # not trailguard's, no such table...: said before anything listens
    allowed: set[str] = set()  # known once bound: the port may be the system's choice
    server = ThreadingHTTPServer((host, port), make_handler(findings, allowed))
    allowed |= allowed_hosts_for(host, int(server.server_address[1]))
    server.daemon_threads = True
    return server


def serve(source: HistorySource, since: str, host: str, port: int, *, refresh: int, stderr: IO[str]) -> int:
    """``trailguard dashboard``: serve until Ctrl-C."""
    try:
        server = make_server(source, since, host, port, refresh)
    except OSError as exc:
        from trailguard.core.exceptions import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    bound_port = int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    if not (host in LOOPBACK_NAMES or host.startswith("127.")):
        stderr.write(
            f"trailguard: warning: listening on {host}: anyone who can reach this address sees the findings "
            "(there is no login); the default 127.0.0.1 keeps it to this machine\n"
        )
    stderr.write(f"trailguard: dashboard of {source.label} at http://{shown}:{bound_port}/ (Ctrl-C to stop)\n")
    stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
