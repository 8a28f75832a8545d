"""trailguard's own JSON Schemas (src/trailguard/schemas, `trailguard schema`) hold for real output:
`scan --format json` of samples/, and webhook bodies as the tests' HTTP server received them. OCSF
output against the OCSF requirements (tests/data/schemas/ocsf_detection_finding.schema.json)."""

from __future__ import annotations

import copy
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from trailguard import schemas
from trailguard.cli import main as trailguard_main
from trailguard.core.exceptions import ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.rendering.ocsf import (
    CLASS_UID,
    MAX_BODY_BYTES,
    OCSF_VERSION,
    SEVERITY_IDS,
    finding_uid,
    ocsf_bodies,
    render_ocsf,
)

from .conftest import DATA_DIR
from .http_server import RecordingServer
from .test_channels_http import HOSTILE, LOW, NORMAL, channel

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
OCSF_SCHEMA = json.loads((DATA_DIR / "schemas" / "ocsf_detection_finding.schema.json").read_text(encoding="utf-8"))


def registry() -> Registry:
    """The shipped files, each under its $id, as a consumer resolving their relative $refs sees them."""
    resources = [(s["$id"], Resource.from_contents(s)) for s in map(schemas.load, schemas.SCHEMAS)]
    return Registry().with_resources(resources)


def validator(name: str, *, bundled: bool = False) -> jsonschema.Draft202012Validator:
    schema = schemas.bundled(name) if bundled else schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry())


def run(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = trailguard_main(list(argv), stdout=out, stderr=err)
    assert code in (0, 1), err.getvalue()
    return out.getvalue()


@cache
def scanned(output_format: str) -> list[dict[str, Any]]:
    document: list[dict[str, Any]] = json.loads(
        run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--format", output_format, "--quiet")
    )
    return document


def test_scan_json_of_the_samples_matches_the_finding_schema() -> None:
    findings = scanned("json")
    assert len(findings) > 10
    for check in (validator("finding"), validator("finding", bundled=True)):
        for finding in findings:
            check.validate(finding)
    # The schema is no rubber stamp: a missing key, an unknown one and a wrong type are each rejected.
    check = validator("finding")
    broken = [copy.deepcopy(findings[0]) for _ in range(3)]
    del broken[0]["rule_id"]
    broken[1]["surprise"] = 1
    broken[2]["severity"] = "SEVERE"
    assert all(not check.is_valid(item) for item in broken)


def test_the_schema_command_prints_the_bundled_schemas() -> None:
    for name in schemas.SCHEMAS:
        printed = json.loads(run("schema", name))
        assert printed == schemas.bundled(name)
        # Self-contained: it validates with no registry at all.
        jsonschema.Draft202012Validator.check_schema(printed)
        assert "finding.schema.json#" not in json.dumps(printed)
    assert json.loads(run("schema"))["title"] == "trailguard finding"


def test_webhook_bodies_as_received_match_the_webhook_schema() -> None:
    with RecordingServer.ok(204, b"") as server:
        webhook = channel({"type": "webhook", "url": server.url + "/hook"})
        webhook.send(Alert((HOSTILE,)))
        webhook.send(Alert((NORMAL, HOSTILE, LOW), digest=True))
        webhook.send(Alert((LOW,), test=True))
    bodies = [request.json() for request in server.requests]
    assert len(bodies) == 3
    for check in (validator("webhook"), validator("webhook", bundled=True)):
        for body in bodies:
            check.validate(body)
    assert not validator("webhook").is_valid({**bodies[0], "findings": [{"rule_id": "x"}]})


def ocsf_validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(OCSF_SCHEMA)
    return jsonschema.Draft202012Validator(OCSF_SCHEMA, format_checker=jsonschema.FormatChecker())


def assert_ocsf(events: list[dict[str, Any]]) -> None:
    check = ocsf_validator()
    for event in events:
        check.validate(event)
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        assert event["metadata"]["version"] == OCSF_VERSION
        assert event["finding_info"]["title"], "required up to OCSF 1.3, recommended since: always filled"


def test_scan_ocsf_of_the_samples_is_one_valid_detection_finding_per_finding() -> None:
    findings, events = scanned("json"), scanned("ocsf")
    assert len(events) == len(findings)
    assert_ocsf(events)
    # In the same order as --format json: each event is that finding.
    by_name = {severity.name: severity_id for severity, (severity_id, _name) in SEVERITY_IDS.items()}
    for finding, event in zip(findings, events, strict=True):
        assert event["class_uid"] == CLASS_UID and event["finding_info"]["types"] == [finding["rule_id"]]
        assert event["severity_id"] == by_name[finding["severity"]]
        assert event["api"]["operation"] == finding["event_name"]
        assert event["cloud"]["account"]["uid"] == finding["account_id"]
    uids = [event["finding_info"]["uid"] for event in events]
    assert len(set(uids)) == len(uids)
    assert not ocsf_validator().is_valid({**events[0], "class_uid": 2001})


def test_ocsf_of_hostile_text_is_valid_and_keeps_a_stable_uid() -> None:
    events = render_ocsf([HOSTILE, NORMAL])
    assert_ocsf(events)
    assert events[0]["finding_info"]["uid"] == finding_uid(HOSTILE) == render_ocsf([HOSTILE])[0]["finding_info"]["uid"]
    assert events[1]["src_endpoint"] == {"ip": "203.0.113.45"}
    service_call = NORMAL._replace(source_ip="ec2.amazonaws.com", event_time="not a time")
    [event] = render_ocsf([service_call])
    assert_ocsf([event])
    assert event["src_endpoint"] == {"domain": "ec2.amazonaws.com"}


def test_the_webhook_can_post_ocsf() -> None:
    with RecordingServer.ok(200) as server:
        webhook = channel({"type": "webhook", "url": server.url + "/ocsf", "format": "ocsf"})
        webhook.send(Alert((NORMAL, LOW), digest=True))
    [request] = server.requests
    events = request.json()
    assert isinstance(events, list) and len(events) == 2
    assert_ocsf(events)
    with pytest.raises(ConfigError, match="format: must be one of trailguard, ocsf"):
        channel({"type": "webhook", "url": "https://h.example/a", "format": "cef"})


def test_a_large_ocsf_digest_is_posted_in_bodies_of_at_most_256_kib() -> None:
    many = [HOSTILE._replace(event_id=f"e-{index:04d}", description="d" * 3000) for index in range(300)]
    bodies = ocsf_bodies(many)
    assert len(bodies) > 1 and all(len(body) <= MAX_BODY_BYTES for body in bodies)
    events = [event for body in bodies for event in json.loads(body)]
    assert [event["api"]["request"]["uid"] for event in events] == [f"e-{index:04d}" for index in range(300)]
    assert_ocsf(events[:3])
    with RecordingServer.ok(200) as server:
        receipt = channel({"type": "webhook", "url": server.url + "/ocsf", "format": "ocsf"}).send(
            Alert(tuple(many), digest=True)
        )
    assert len(server.requests) == len(bodies) and receipt.count("HTTP 200") == len(bodies)

    def uids(body: bytes) -> list[str]:
        return [event["finding_info"]["uid"] for event in json.loads(body)]

    # (Not byte for byte: the hostile finding's time is no time, so each rendering says "now".)
    assert [uids(request.body) for request in server.requests] == [uids(body) for body in bodies]
