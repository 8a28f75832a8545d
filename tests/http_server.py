"""A real HTTP server on 127.0.0.1 for channel tests: it records every request and answers from a script.

Each request gets the next ``Reply`` of the script; the last one repeats forever. So ``[Reply(429),
Reply(200)]`` is "throttled once, then fine" and ``[Reply(500)]`` is "down for good". A reply with a
``delay`` holds the answer back (for client timeouts); the wait ends early when the server stops.

    with RecordingServer.ok() as server:
        post(server.url + "/hook", b"{}")
        assert server.requests[0].json() == {}
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple


class RecordedRequest(NamedTuple):
    method: str
    path: str  # path and query, as sent
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Reply(NamedTuple):
    status: int = 200
    body: bytes = b"ok"
    headers: Mapping[str, str] = {}
    delay: float = 0.0
    content_type: str = "text/plain; charset=utf-8"
    reason: str | None = None  # the reason phrase; None: the standard one


# A script step: a fixed reply, or one made from the request (a server that echoes it back).
Step = Reply | Callable[[RecordedRequest], Reply]


class RecordingServer:
    def __init__(self, script: Sequence[Step]) -> None:
        if not script:
            raise ValueError("a script needs at least one reply")
        self.script = list(script)
        self.requests: list[RecordedRequest] = []
        self.replies: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # The modes channel tests need --------------------------------------------------------------
    @classmethod
    def ok(cls, status: int = 200, body: bytes = b"ok") -> RecordingServer:
        return cls([Reply(status, body)])

    @classmethod
    def throttled_then_ok(cls, times: int = 1, retry_after: str = "1") -> RecordingServer:
        throttled = Reply(429, b"rate_limited", {"Retry-After": retry_after})
        return cls([throttled] * times + [Reply(200, b"ok")])

    @classmethod
    def failing(cls, status: int = 500, body: bytes = b"internal error") -> RecordingServer:
        return cls([Reply(status, body)])

    @classmethod
    def rejecting(cls, status: int = 400, body: bytes = b"invalid_payload") -> RecordingServer:
        return cls([Reply(status, body)])

    @classmethod
    def slow(cls, delay: float = 5.0) -> RecordingServer:
        return cls([Reply(200, b"ok", delay=delay)])

    # -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The server's root, without a trailing slash: append a path."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; again, or before it started, nothing happens (see SmtpServer.stop)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which only a started server runs
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            step = self.script[min(len(self.requests), len(self.script) - 1)]
            reply = step if isinstance(step, Reply) else step(request)
            self.requests.append(request)
            self.replies.append(reply)
            return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) makes the late answer fail: expected, not news


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner = self.server.owner
        reply = owner._next_reply(RecordedRequest(self.command, self.path, headers, body))
        if reply.delay and owner._stopping.wait(reply.delay):
            return
        self.send_response(reply.status, reply.reason)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = True

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
