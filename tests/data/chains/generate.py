"""Writes the attack-chain scenarios of tests/test_correlation.py (run: python tests/data/chains/generate.py).

Each step is the record of a test event under tests/events (real CloudTrail shapes), replayed by
another caller at another time: the caller's identity, access key and address, the time, and fresh
ids change, nothing else. Every scenario is a folder of CloudTrail log files named as CloudTrail
names them (``<account>_CloudTrail_<region>_<YYYYMMDDTHHMM>Z_<16 chars>.json``), one file per step,
so ``scan --jobs 2`` has files to share out.

- ``leaked-key``: the access key of the IAM user build-bot, from one address, within the hour:
  another user's access key (persistence), SSH opened to the world (defense evasion), a Lambda
  function's code replaced (INFO, execution: listed, not counted), CloudTrail stopped (defense
  evasion), a bucket made public (collection: the third tactic, the incident), a snapshot shared
  with a stranger (exfiltration: folds into the incident); a bucket deleted two hours later
  (impact, alone in its hour: no second incident).
- ``spread``: the same steps by the same key, more than an hour apart each: no hour holds three tactics.
- ``three-principals``: the same steps at the same times, by three users, each with its own key and address.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EVENTS = HERE.parent.parent / "events"
ACCOUNT = "111122223333"

STEPS = (
    "iam/create_access_key_other_user.json",
    "security_group/ingress_ssh_world_simplified.json",
    "lambda/update_function_code.json",
    "cloudtrail/stop_logging.json",
    "s3/put_bucket_policy_public_get_object.json",
    "ec2/modify_snapshot_share_external.json",
    "s3/delete_bucket.json",
)
WITHIN_THE_HOUR = ("09:02:11", "09:11:37", "09:19:05", "09:27:48", "09:41:16", "09:52:03", "11:58:40")
SPREAD = ("06:02:11", "07:04:37", "08:07:05", "09:09:48", "10:12:16", "11:15:03", "12:17:40")

ATTACKER = ("build-bot", "AIDAQXAMPLEBUILDBOT1", "AKIAQXAMPLEBUILDBOT1", "198.51.100.77")
PEOPLE = (
    ("alice", "AIDAQXAMPLEALICE0001", "AKIAQXAMPLEALICE0001", "192.0.2.10"),
    ("bob", "AIDAQXAMPLEBOB000001", "AKIAQXAMPLEBOB000001", "192.0.2.20"),
    ("carol", "AIDAQXAMPLECAROL0001", "AKIAQXAMPLECAROL0001", "192.0.2.30"),
)
DAY = "2026-11-09"


def step(path: str, caller: tuple[str, str, str, str], at: str, scenario: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((EVENTS / path).read_text(encoding="utf-8"))["record"]
    name, principal_id, key, address = caller
    record["userIdentity"] = {
        "type": "IAMUser",
        "principalId": principal_id,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": name,
    }
    record["eventTime"] = f"{DAY}T{at}Z"
    record["sourceIPAddress"] = address
    seed = f"{scenario}/{path}"
    record["eventID"] = str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))
    record["requestID"] = str(uuid.UUID(hashlib.sha256(f"request {seed}".encode()).hexdigest()[:32]))
    return record


def write(scenario: str, records: list[dict[str, Any]]) -> None:
    folder = HERE / scenario
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for record in records:
        stamp = record["eventTime"][:16].replace("-", "").replace(":", "")
        suffix = hashlib.sha256(record["eventID"].encode()).hexdigest()[:16]
        name = f"{ACCOUNT}_CloudTrail_{record['awsRegion']}_{stamp}Z_{suffix}.json"
        (folder / name).write_text(json.dumps({"Records": [record]}, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    write(
        "leaked-key", [step(path, ATTACKER, at, "leaked-key") for path, at in zip(STEPS, WITHIN_THE_HOUR, strict=True)]
    )
    write("spread", [step(path, ATTACKER, at, "spread") for path, at in zip(STEPS, SPREAD, strict=True)])
    write(
        "three-principals",
        [
            step(path, PEOPLE[index % 3], at, "three-principals")
            for index, (path, at) in enumerate(zip(STEPS, WITHIN_THE_HOUR, strict=True))
        ],
    )


if __name__ == "__main__":
    main()
