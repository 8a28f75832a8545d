"""An HTTP server on 127.0.0.1 that refuses every request and repeats it back, as careless servers and
proxies do: the path and query in the reason phrase, in a response header and in a JSON body, with
every request header (``Authorization`` included). Webhook URLs and headers are secrets, so this is
what a channel's error message must not pass on (tests/test_hostile_e2e.py).

    with EchoServer(403) as server:
        post(server.url + "/services/T0/B0/token", b"{}")  # raises; the error must not quote the token
        assert server.requests[0].path == "/services/T0/B0/token"
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .http_server import RecordedRequest


class EchoServer:
    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[RecordedRequest] = []
        self.replies: list[bytes] = []  # each answer's body, to show what was echoed
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EchoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: EchoServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner = self.server.owner
        url = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
        # The credentials first: an error body is quoted only in part, and this is the part that is.
        error = f"invalid credentials {headers.get('authorization', '')!r} for {url}"
        reply = json.dumps({"error": error, "url": url, "path": self.path, "headers": headers}).encode()
        with owner.lock:
            owner.requests.append(RecordedRequest(self.command, self.path, headers, body))
            owner.replies.append(reply)
        self.send_response(owner.status, f"Rejected {self.path}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("X-Echo-Url", url)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
