"""An HTTP server on 127.0.0.1 that refuses every request and repeats it back, as careless servers and
proxies do: the path and query in the reason phrase, in a response header and in a JSON body, with
every request header (``Authorization`` included). Webhook URLs and headers are secrets, so this is
what a channel's error message must not pass on (tests/test_hostile_e2e.py).

    with EchoServer(403) as server:
        post(server.url + "/services/T0/B0/token", b"{}")  # raises; the error must not quote the token
        assert server.requests[0].path == "/services/T0/B0/token"
        server.replies[0].body  # what was echoed
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .http_server import RecordedRequest, RecordingServer, Reply


def echo(status: int) -> Callable[[RecordedRequest], Reply]:
    def reply(request: RecordedRequest) -> Reply:
        url = f"http://{request.headers.get('host', '127.0.0.1')}{request.path}"
        # The credentials first: an error body is quoted only in part, and this is the part that is.
        error = f"invalid credentials {request.headers.get('authorization', '')!r} for {url}"
        body = json.dumps({"error": error, "url": url, "path": request.path, "headers": dict(request.headers)})
        return Reply(
            status,
            body.encode(),
            headers={"X-Echo-Url": url},
            content_type="application/json",
            reason=f"Rejected {request.path}",
        )

    return reply


class EchoServer(RecordingServer):
    def __init__(self, status: int) -> None:
        super().__init__([echo(status)])
