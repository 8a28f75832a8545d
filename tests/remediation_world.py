"""What the remediation tests share: events of tests/events rewritten to name moto's resources, the
finding they raise, a remediator over moto, and a record of every AWS operation it makes.

moto plays the account of the events (``MOTO_ACCOUNT_ID`` = 111122223333), so ARNs, the owner of an
ACL and the account a Block Public Access setting belongs to are those the events name.
"""

from __future__ import annotations

import copy
import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from moto import mock_aws

from trailguard import cli
from trailguard.core.engine import Engine
from trailguard.core.event_types import Finding
from trailguard.core.settings import Settings
from trailguard.core.state import MemoryState
from trailguard.services.remediation.base import iam_action
from trailguard.services.remediation.runner import Remediator, Result
from trailguard.utils.aws_helpers import AwsClients

from .conftest import EVENTS_DIR
from .moto_server import MotoServer

ACCOUNT = "111122223333"
Record = dict[str, Any]


def event_record(name: str, change: Callable[[Record], None] | None = None) -> Record:
    """The record of tests/events/``name``, changed by ``change`` (moto's ids in place of the event's)."""
    record: Record = copy.deepcopy(json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))["record"])
    if change is not None:
        change(record)
    return record


def finding_of(record: Record, rule_id: str) -> Finding:
    (finding,) = [f for f in Engine(Settings.load(env={})).evaluate(record) if f.rule_id == rule_id]
    return finding


class Recorder:
    """Every operation the clients make, as IAM action names (``ec2:RevokeSecurityGroupIngress``)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def hook(self, model: Any, **_kwargs: Any) -> None:
        self.calls.append(iam_action(model.service_model.service_name, model.name))

    def writes(self) -> list[str]:
        return [call for call in self.calls if not call.split(":", 1)[1].startswith(("Get", "Describe", "List"))]


class Remediation(NamedTuple):
    aws: AwsClients  # the test's own clients (set-up and read-back: not recorded)
    recorder: Recorder  # every call of every other client: the remediator's, the CLI's
    clients: AwsClients
    state: MemoryState
    tmp_path: Path

    def run(
        self, finding: Finding, record: Record, mode: str = "apply", *, act: bool = True, **settings: Any
    ) -> Result:
        loaded = Settings.load(env={}, remediation={finding.rule_id: mode}, **settings)
        result = Remediator(loaded, lambda: self.clients, self.state, act=act).remediate(finding, record)
        assert result is not None
        return result

    def cli(self, record: Record, rule_id: str, mode: str, *flags: str) -> tuple[int, str]:
        """``trailguard remediate`` on a file holding ``record``, with ``[remediation]`` rule = mode."""
        events = self.tmp_path / "events.json"
        events.write_text(json.dumps({"Records": [record]}), encoding="utf-8")
        config = self.tmp_path / "trailguard.toml"
        config.write_text(f'[remediation]\n"{rule_id}" = "{mode}"\n', encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["remediate", str(events), "--config", str(config), *flags], out, err)
        return code, out.getvalue() + err.getvalue()


@pytest.fixture(params=["moto", "moto_server"])
def fake_aws(
    request: pytest.FixtureRequest, fake_aws_env: None, fake_aws_region: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsClients]:
    """AWS for a remediation test, twice: moto in-process, then moto's server reached over HTTP through
    ``AWS_ENDPOINT_URL`` (as every client the code makes, the CLI's and the Lambda's, reaches AWS).
    A test module imports it to override conftest's, and every fixture built on it follows."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    if request.param == "moto":
        with mock_aws():
            yield AwsClients(region=fake_aws_region)
        return
    server: MotoServer = request.getfixturevalue("shared_moto_server")
    server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    # S3 Control's endpoint rules put the account id before the host ("111122223333.127.0.0.1"),
    # which no resolver answers for an address: resolve such names as the address, as a wildcard
    # DNS entry for a local endpoint would.
    resolve = socket.getaddrinfo

    def local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".127.0.0.1"):
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)
    clients = AwsClients(region=fake_aws_region)
    assert clients.client("ec2").meta.endpoint_url == server.url  # over HTTP, not moto's in-process mock
    yield clients


@pytest.fixture
def remediation(fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Remediation]:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    recorder = Recorder()
    made = AwsClients.client

    def recorded(self: AwsClients, service: str, region: str | None = None) -> Any:
        fresh = (service, region or self.region) not in self._clients
        client = made(self, service, region)
        if fresh and self is not fake_aws:
            client.meta.events.register("before-call.*.*", recorder.hook)
        return client

    monkeypatch.setattr(AwsClients, "client", recorded)
    yield Remediation(fake_aws, recorder, AwsClients(region=fake_aws.region), MemoryState(), tmp_path)
