"""Lambda entry point: ``trailguard.main.lambda_handler(event, context)``.

Accepts an EventBridge event carrying a CloudTrail record, or a bare CloudTrail record. Settings and
the engine are built once per container, on the first invocation, so importing this module stays
cheap (the cold start is part of the product). Findings are written as one JSON line each
to stdout (CloudWatch Logs) and returned.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

_engine: Engine | None = None


def get_engine() -> Engine:
    """The container's engine, built from the environment on first use."""
    global _engine
    if _engine is None:
        _engine = Engine(Settings.load(), lazy=True)
    return _engine


def cloudtrail_record(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CloudTrail record inside an EventBridge envelope, or the event itself when bare."""
    detail = event.get("detail")
    if "detail-type" in event and isinstance(detail, Mapping):
        return detail
    return event


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    engine = get_engine()
    record = cloudtrail_record(event if isinstance(event, Mapping) else {})
    findings = engine.evaluate(record)
    # One JSON line per finding on stdout, which Lambda sends to CloudWatch Logs.
    for finding in findings:
        sys.stdout.write(json.dumps({"finding": finding.to_dict()}, ensure_ascii=False) + "\n")
    return {"findings": [finding.to_dict() for finding in findings]}
