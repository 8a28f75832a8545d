"""``trailguard remediate``: in-process against moto and its server, and as a separate process against
the moto server on 127.0.0.1 (``AWS_ENDPOINT_URL``) for a representative set of actions: the exit codes, the plan
printed, ``--apply`` acting only for rules set to ``apply``, and the second run a no-op."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .moto_server import MotoServer
from .remediation_scenarios import SCENARIOS, assert_cli_fixes, ingress_ids, open_group
from .remediation_world import Remediation, fake_aws, remediation

__all__ = ["fake_aws", "remediation"]  # the fixtures, used by name (moto in-process and its server)
RULE = "sg.ingress-open-to-world"


def test_the_cli_alone_fixes_and_the_second_run_does_nothing(remediation: Remediation) -> None:
    group, kept, _opened, record = open_group(remediation)

    def fixed() -> None:
        assert ingress_ids(remediation, group) == {kept}

    assert_cli_fixes(remediation, record, RULE, fixed)


def test_a_failed_action_exits_2_and_says_why(remediation: Remediation, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from trailguard.utils.aws_helpers import AwsClients

    group, _kept, opened, record = open_group(remediation)
    made = AwsClients.client

    def refuse(model: Any, **_kwargs: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, model.name)

    def refusing(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = made(self, service, region)
        if self is not remediation.aws:
            client.meta.events.register("before-call.*.*", refuse, unique_id="refuse")
        return client

    monkeypatch.setattr(AwsClients, "client", refusing)
    code, output = remediation.cli(record, RULE, "apply", "--apply")
    assert code == 2
    assert "[apply] failed: Remediation failed: AccessDenied on ec2 RevokeSecurityGroupIngress" in output
    assert opened in ingress_ids(remediation, group)


def test_nothing_turned_on_is_nothing_to_do(remediation: Remediation) -> None:
    _group, _kept, _opened, record = open_group(remediation)
    code, output = remediation.cli(record, RULE, "off", "--apply")
    assert code == 0 and "sets no rule to dry-run or apply" in output
    assert remediation.recorder.calls == []


def test_the_rate_limit_is_kept_in_the_state_file_across_runs(remediation: Remediation, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    first_group, kept, first, first_record = open_group(remediation)
    second_group, _kept, second, second_record = open_group(remediation)
    second_record["eventID"] = second_record["eventID"][:-1] + "9"
    config = tmp_path / "limit.toml"
    config.write_text(f'remediation_max_per_hour = 1\n[remediation]\n"{RULE}" = "apply"\n', encoding="utf-8")
    from trailguard import cli

    for record in (first_record, second_record):
        events = tmp_path / f"{record['eventID']}.json"
        events.write_text(json.dumps({"Records": [record]}), encoding="utf-8")
        assert cli.main(["remediate", str(events), "--config", str(config), "--apply", "--state", str(state)]) == 0
    assert ingress_ids(remediation, first_group) == {kept}
    assert second in ingress_ids(remediation, second_group)
    assert first not in ingress_ids(remediation, first_group)


def test_each_outcome_goes_into_the_state_files_history(remediation: Remediation, tmp_path: Path) -> None:
    group, kept, _opened, record = open_group(remediation)
    state = str(tmp_path / "state.sqlite")
    from trailguard import cli

    def stored() -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        assert cli.main(["history", "--state", state, "--format", "json"], out, err) == 0, err.getvalue()
        [finding] = json.loads(out.getvalue())
        assert finding["rule_id"] == RULE and finding["history"]["outcome"] == "reported"
        return dict(finding["history"])

    code, output = remediation.cli(record, RULE, "dry-run", "--state", state)
    assert code == 0 and "[dry-run] planned: " in output, output
    assert stored()["remediation"].startswith("Dry run, nothing changed: would call ec2 RevokeSecurityGroupIngress")
    code, output = remediation.cli(record, RULE, "apply", "--apply", "--state", state)
    assert code == 0 and "[apply] done: " in output, output
    assert ingress_ids(remediation, group) == {kept}
    done = stored()
    assert done["remediation"].startswith("Remediated: revoked ") and done["attempts"] == 2
    # The second run has nothing to do: it does not overwrite what the first one did.
    code, output = remediation.cli(record, RULE, "apply", "--apply", "--state", state)
    assert code == 0 and "[apply] nothing: " in output, output
    assert stored() == done


# -- a separate process, against a moto server ------------------------------------------------------


def _run(endpoint: str, tmp_path: Path, rule_id: str, record: dict[str, Any], *flags: str) -> tuple[int, str]:
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [record]}), encoding="utf-8")
    config = tmp_path / "trailguard.toml"
    config.write_text(f'[remediation]\n"{rule_id}" = "apply"\n', encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    env["AWS_ENDPOINT_URL"] = endpoint
    done = subprocess.run(
        [sys.executable, "-m", "trailguard", "remediate", str(events), "--config", str(config), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("fake_aws", ["moto_server"], indirect=True)
@pytest.mark.parametrize("name", ["sg", "cloudtrail", "s3-bucket-block-off", "rds-instance"])
def test_in_its_own_process_against_a_moto_server(
    remediation: Remediation, shared_moto_server: MotoServer, tmp_path: Path, name: str
) -> None:
    """``python -m trailguard remediate`` as a user runs it: its own process, AWS over HTTP."""
    found = SCENARIOS[name].build(remediation, None)
    code, output = _run(shared_moto_server.url, tmp_path, found.rule_id, found.record)
    assert code == 0 and "[apply] planned: " in output, output
    found.broken()
    code, output = _run(shared_moto_server.url, tmp_path, found.rule_id, found.record, "--apply")
    assert code == 0 and "[apply] done: Remediated: " in output, output
    found.fixed()
    code, output = _run(shared_moto_server.url, tmp_path, found.rule_id, found.record, "--apply")
    assert code == 0 and "[apply] nothing: " in output, output
    found.fixed()
