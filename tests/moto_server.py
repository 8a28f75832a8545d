"""moto's server on 127.0.0.1 (a free port), for code that reaches AWS through ``AWS_ENDPOINT_URL``
as it would reach AWS itself: real HTTP, real botocore, no in-process mock.

    server = servers.start(MotoServer())
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
"""

from __future__ import annotations

from typing import Any


class MotoServer:
    def __init__(self) -> None:
        self._server: Any = None
        self.url = ""

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.reset()
        return self

    def reset(self) -> None:
        """Forget every resource: moto's backends are the process's, shared by every server started in it."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str, region: str = "eu-west-1") -> Any:
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=self.url)
