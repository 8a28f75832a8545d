"""JSON Schemas of trailguard's own output, shipped with the package: ``trailguard schema NAME`` prints one.

- ``finding``: one finding as ``scan --format json`` prints it (``Finding.to_dict()``);
- ``webhook``: the body the webhook channel POSTs (``rendering.webhook.render_webhook``).

The files refer to each other by relative ``$ref`` (``finding.schema.json#/$defs/...``), resolved
against their ``$id``; ``bundled`` gives one self-contained document instead, for tools that read a
single file.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMAS = ("finding", "webhook")
_FILE_REF = "finding.schema.json#/$defs/"


def load(name: str) -> dict[str, Any]:
    """The schema as shipped (``name``: one of ``SCHEMAS``)."""
    if name not in SCHEMAS:
        raise KeyError(name)
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def bundled(name: str) -> dict[str, Any]:
    """The schema with what it refers to in the other file copied into its own ``$defs``."""
    document = load(name)
    if name == "finding":
        return document
    definitions = load("finding")["$defs"]
    text = json.dumps(document).replace(f'"{_FILE_REF}', '"#/$defs/')
    result: dict[str, Any] = json.loads(text)
    result["$defs"] = {**definitions, **result.get("$defs", {})}
    return result
