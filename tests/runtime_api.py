"""A small Lambda Runtime API on 127.0.0.1, for running a function under the real runtime interface
client (``awslambdaric``) as the Lambda service does (tests/test_layer_runtime.py).

The endpoints of the 2018-06-01 API that a runtime uses:

- ``GET /2018-06-01/runtime/invocation/next``: blocks until an event is queued, then answers 200
  with the event as the body and the headers ``Lambda-Runtime-Aws-Request-Id``,
  ``Lambda-Runtime-Deadline-Ms`` (epoch milliseconds), ``Lambda-Runtime-Invoked-Function-Arn`` and
  ``Lambda-Runtime-Trace-Id``;
- ``POST /2018-06-01/runtime/invocation/{request id}/response``: the handler's result (202);
- ``POST /2018-06-01/runtime/invocation/{request id}/error``: the handler raised (202), with the
  ``Lambda-Runtime-Function-Error-Type`` header;
- ``POST /2018-06-01/runtime/init/error``: the handler could not even be loaded (202).

An unknown request id is answered 400 and a path the API does not have 404, as Lambda's does.
``invoke(event)`` queues one event and waits for its outcome.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API = "/2018-06-01/runtime"
_RESULT = re.compile(rf"^{API}/invocation/([^/]+)/(response|error)$")
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111122223333:function:AWS-Generic-Security-eu-west-1"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a runtime killed at the end of a test resets its connection: not worth a traceback


@dataclass
class Outcome:
    """What the runtime posted for one invocation: ``kind`` is "response" or "error"."""

    request_id: str
    kind: str
    body: Any
    headers: dict[str, str]


@dataclass
class RuntimeApi:
    timeout_ms: int = 300_000  # the template's default Timeout
    init_errors: list[Any] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path), in order

    def __post_init__(self) -> None:
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._outcomes: dict[str, queue.Queue[Outcome]] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """What ``AWS_LAMBDA_RUNTIME_API`` holds: host:port."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def invoke(self, event: Any, timeout: float = 60.0) -> Outcome:
        """Hand ``event`` to the runtime's next ``/next`` and wait for its response or error."""
        request_id = str(uuid.uuid4())
        waiting: queue.Queue[Outcome] = queue.Queue()
        with self._lock:
            self._outcomes[request_id] = waiting
        self._events.put((request_id, json.dumps(event).encode()))
        try:
            return waiting.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no response to invocation {request_id} in {timeout:g} s") from None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection open between calls

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads api.requests instead of a request log on stderr

            def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path))
                if self.path != f"{API}/invocation/next":
                    self._reply(404, {"errorType": "NotFound"})
                    return
                request_id, body = api._events.get()  # long poll, as Lambda's: the runtime waits here
                deadline = int(time.time() * 1000) + api.timeout_ms
                self._reply(
                    200,
                    body,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                api.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                if self.path == f"{API}/init/error":
                    api.init_errors.append(body)
                    self._reply(202, {"status": "OK"})
                    return
                match = _RESULT.match(self.path)
                if match is None:
                    self._reply(404, {"errorType": "NotFound"})
                    return
                request_id, kind = match.groups()
                with api._lock:
                    waiting = api._outcomes.pop(request_id, None)
                if waiting is None:
                    self._reply(400, {"errorType": "InvalidRequestID", "errorMessage": "unknown request id"})
                    return
                self._reply(202, {"status": "OK"})
                waiting.put(Outcome(request_id, kind, body, dict(self.headers.items())))

        return Handler
