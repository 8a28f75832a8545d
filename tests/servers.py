"""The test servers one test started (SMTP, HTTP, echo), every one stopped when the test ends,
passed or failed. The ``servers`` fixture (conftest) is one:

    server = servers.start(SmtpServer(tmp_path / "smtp"))
    server.stop()  # an outage, on purpose: stopping it again at the end does nothing
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, TypeVar


class Server(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...  # idempotent, and harmless on a server that never started


S = TypeVar("S", bound=Server)


class Servers:
    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack

    def start(self, server: S) -> S:
        # Registered before it starts: a server that fails half-way through starting is stopped too.
        self._stack.callback(server.stop)
        server.start()
        return server
