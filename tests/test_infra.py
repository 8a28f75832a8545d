"""The deployable stacks: infra/template.yaml (AWS SAM) and infra/forwarder.yaml.

Real parts throughout: cfn-lint's own validation (and its YAML decoder, which reads !Ref and !Sub),
aws-sam-translator (the library `sam deploy` and CloudFormation's SAM transform use) to turn the
SAM template into plain CloudFormation, and moto's CloudFormation to create that as a stack, read
back through moto's Lambda, EventBridge, SQS, IAM, DynamoDB, Logs and S3 APIs.

What moto cannot do, and how these tests deal with it:
- its CloudFormation does not implement AWS::CloudWatch::Alarm, AWS::SQS::QueuePolicy,
  AWS::Events::EventBusPolicy, AWS::SecretsManager::Secret, AWS::CloudTrail::Trail,
  AWS::S3::BucketPolicy and AWS::SNS::Subscription: those resources are dropped before the stack is
  created (with the outputs that name them) and checked in the translated template instead, after cfn-lint has validated
  them against CloudFormation's schemas;
- it ignores a function's Layers, Architectures, LoggingConfig and DeadLetterConfig, a layer's
  CompatibleArchitectures, a table's TimeToLiveSpecification and a bucket's versioning: those are
  checked in the (translated) template;
- its ``Ref`` to a Number parameter yields a number where CloudFormation yields a string, so its
  Fn::FindInMap cannot look a number up among mapping keys: the one such look-up (the queue's
  visibility timeout) is resolved here the way CloudFormation resolves it, before moto sees it.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint, lint_file  # type: ignore[import-untyped]
from cfnlint.decode import decode  # type: ignore[import-untyped]
from moto.cloudformation.parsing import NULL_MODELS, get_model_map
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from trailguard import custom_rules
from trailguard.cli import main as trailguard_main
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings
from trailguard.patterns import eventbridge_source
from trailguard.services.stores.dynamodb import TABLE_SCHEMA

from .conftest import DATA_DIR, EVENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
FORWARDER = ROOT / "infra" / "forwarder.yaml"
sys.path.insert(0, str(ROOT / "scripts"))

import template_patterns  # noqa: E402

HOME = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
MOTO_UNSUPPORTED = {
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::CloudTrail::Trail",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
}
RECIPIENTS = "secops@example.com, oncall@example.com"
SENDER = "alerts@example.com"
EVENTS: list[dict[str, Any]] = json.loads((DATA_DIR / "infra" / "eventbridge_events.json").read_text("utf-8"))["events"]


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def trailguard_patterns() -> list[dict[str, Any]]:
    """What `trailguard pattern` prints."""
    out = io.StringIO()
    assert trailguard_main(["pattern"], stdout=out) == 0
    patterns: list[dict[str, Any]] = json.loads(out.getvalue())
    return patterns


def load_template(path: Path) -> dict[str, Any]:
    """The template as cfn-lint reads it (short-form tags become their long forms), as plain data."""
    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def rules_by_pattern(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(pattern name, rule properties) of every EventBridge rule, in template order."""
    return [
        (resource["Metadata"][template_patterns.METADATA_KEY], resource["Properties"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Events::Rule"
    ]


def translate(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """SAM -> CloudFormation with the layer zip where `sam deploy` would have uploaded it."""
    sam = copy.deepcopy(template)
    sam["Resources"]["Layer"]["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    iam = boto3.client("iam", region_name=HOME)
    translated: dict[str, Any] = transform(sam, dict(parameters), ManagedPolicyLoader(iam))
    return translated


def logical_of_type(template: dict[str, Any], resource_type: str) -> list[str]:
    return [name for name, resource in template["Resources"].items() if resource["Type"] == resource_type]


def for_moto(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Drop what moto's CloudFormation does not implement; resolve the Number-keyed FindInMap."""
    result = copy.deepcopy(template)
    supported = set(get_model_map()) | set(NULL_MODELS)
    dropped = {name for name, res in result["Resources"].items() if res["Type"] not in supported}
    unexpected = {result["Resources"][name]["Type"] for name in dropped} - MOTO_UNSUPPORTED
    assert not unexpected, f"moto cannot create {unexpected}: handle them in this test"
    for name in dropped:
        del result["Resources"][name]
    result["Outputs"] = {
        key: value
        for key, value in result.get("Outputs", {}).items()
        if not any(f'"{name}"' in json.dumps(value) or f'"{name}.' in json.dumps(value) for name in dropped)
    }
    for queue in (result["Resources"].get(name) for name in ("Queue", "LogQueue")):
        if queue is None:
            continue
        mapping, key, attribute = queue["Properties"]["VisibilityTimeout"]["Fn::FindInMap"]
        timeout = parameters.get("Timeout", str(result["Parameters"]["Timeout"]["Default"]))
        assert key == {"Ref": "Timeout"}
        queue["Properties"]["VisibilityTimeout"] = result["Mappings"][mapping][timeout][attribute]
    return result


def create_stack(region: str, name: str, template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    """Create the stack in moto; returns {logical id: physical id} of what was created."""
    cloudformation = boto3.client("cloudformation", region_name=region)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns about each resource type it skips
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s["PhysicalResourceId"]}


def upload_layer() -> None:
    s3 = boto3.client("s3", region_name=HOME)
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": HOME})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as layer:
        layer.writestr("python/trailguard/__init__.py", "")
    s3.put_object(Bucket="artifacts", Key="layer.zip", Body=archive.getvalue())


def existing_secret() -> str:
    secrets = boto3.client("secretsmanager", region_name=HOME)
    arn: str = secrets.create_secret(Name="trailguard/smtp", SecretString='{"username": "u", "password": "p"}')["ARN"]
    return arn


def queue_arn(region: str, url: str) -> str:
    sqs = boto3.client("sqs", region_name=region)
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def put_test_events(region: str) -> None:
    events = boto3.client("events", region_name=region)
    for event in EVENTS:
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0


def received_event_ids(region: str, url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=region)
    ids: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            ids.append(json.loads(message["Body"])["detail"]["eventID"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return ids


def role_policy(role_name: str) -> list[dict[str, Any]]:
    iam = boto3.client("iam", region_name=HOME)
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):
        # moto keeps the policy a stack gave it as the Python dict and answers with its repr.
        document = ast.literal_eval(document)
    # CloudFormation removes a list element that is AWS::NoValue; moto leaves None in its place.
    statements: list[dict[str, Any]] = [s for s in document["Statement"] if s is not None]
    return statements


def function_log_groups() -> list[dict[str, Any]]:
    logs = boto3.client("logs", region_name=HOME)
    groups: list[dict[str, Any]] = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    return groups


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def fake_aws_region() -> str:
    return HOME  # the translator asks boto3 for the region of its pseudo parameters


@pytest.fixture(scope="module")
def home_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def forwarder_template() -> dict[str, Any]:
    return load_template(FORWARDER)


# ------------------------------------------------------------------------------------------------
# Lint and patterns
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [TEMPLATE, FORWARDER], ids=lambda p: p.name)
def test_templates_pass_cfn_lint_with_no_finding_at_all(path: Path) -> None:
    # Informational checks included: "no errors or warnings" with room to spare.
    matches = lint_file(path, config=ManualArgs(regions=LINT_REGIONS, include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_cfn_lint_would_catch_a_broken_template(home_template: dict[str, Any]) -> None:
    """The lint test above can fail: a rule state CloudFormation does not know is an error."""
    broken = copy.deepcopy(home_template)
    broken["Resources"]["RuleRootActivity"]["Properties"]["State"] = "ENABLED_WITH_READ_ONLY"
    matches = lint(json.dumps(broken), config=ManualArgs(regions=["us-east-1"]))
    assert any("ENABLED_WITH_READ_ONLY" in str(m) for m in matches)


@pytest.mark.parametrize("path", [TEMPLATE, FORWARDER], ids=lambda p: p.name)
def test_rules_are_exactly_trailguard_pattern(path: Path) -> None:
    rules = rules_by_pattern(load_template(path))
    expected = trailguard_patterns()
    assert [name for name, _ in rules] == [entry["name"] for entry in expected], "run `make generated`"
    for (name, properties), entry in zip(rules, expected, strict=True):
        assert properties["EventPattern"] == entry["pattern"], name
        if path == TEMPLATE:  # IngestionMode S3 turns them off: the log files bring every event
            assert properties["State"] == {"Fn::If": ["UseEventBridgeIngestion", entry["state"], "DISABLED"]}, name
        else:
            assert properties["State"] == entry["state"], name
        # The same text EventBridge gets, and within its default size limit.
        assert len(json.dumps(properties["EventPattern"], separators=(",", ":"))) <= 2048


def test_root_activity_and_read_only_rules_see_read_only_calls(home_template: dict[str, Any]) -> None:
    # Each State is !If [UseEventBridgeIngestion, <state>, DISABLED]: the state with EventBridge ingestion.
    states = {name: props["State"]["Fn::If"][1] for name, props in rules_by_pattern(home_template)}
    assert states.pop("root-activity") == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert states.pop("read-only-calls") == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert set(states.values()) == {"ENABLED"}  # the others stay off read-only calls, to keep invocations down
    assert "console-sign-in" in states


CUSTOM_RULES = DATA_DIR / "custom_rules"
CUSTOM_EVENTS = ("bucket_tagged", "bucket_tagging_denied", "table_deleted", "table_delete_not_found")


@pytest.fixture
def custom_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_custom_rules: None) -> dict[str, Path]:
    """Copies of both templates, synced as docs/deploy.md says for your own rules."""
    copies = {}
    for kind, source in (("home", TEMPLATE), ("forwarder", FORWARDER)):
        copies[source.name] = tmp_path / source.name
        copies[source.name].write_text(source.read_text("utf-8"), "utf-8")
        monkeypatch.setitem(template_patterns.TEMPLATES, kind, copies[source.name])
    assert template_patterns.main(["--config", str(CUSTOM_RULES / "trailguard.toml")]) == 0
    return copies


def test_custom_rules_events_reach_both_templates_which_still_lint_clean(custom_templates: dict[str, Path]) -> None:
    config = str(CUSTOM_RULES / "trailguard.toml")
    out = io.StringIO()
    assert trailguard_main(["pattern", "--config", config], stdout=out) == 0
    expected = json.loads(out.getvalue())
    for path in custom_templates.values():
        rules = rules_by_pattern(load_template(path))
        assert [(name, props["EventPattern"]) for name, props in rules] == [(e["name"], e["pattern"]) for e in expected]
        for service, event_name in (("s3", "PutBucketTagging"), ("dynamodb", "DeleteTable")):
            assert any(
                f"aws.{service}" in props["EventPattern"]["source"]
                and f"{service}.amazonaws.com" in props["EventPattern"]["detail"]["eventSource"]
                and event_name in props["EventPattern"]["detail"]["eventName"]
                for _, props in rules
                if "source" in props["EventPattern"]
            ), (path.name, event_name)
        matches = lint_file(path, config=ManualArgs(regions=LINT_REGIONS, include_checks=["I"]))
        assert [str(m) for m in matches] == [], path.name
    assert template_patterns.main(["--check", "--config", config]) == 0
    custom_rules.unload()  # as in a process of its own: without the configuration, the templates are stale
    assert template_patterns.main(["--check"]) == 1


@pytest.mark.usefixtures("fake_aws")
def test_a_stack_with_custom_rules_gives_the_function_their_modules_and_queues_their_events(
    custom_templates: dict[str, Path],
) -> None:
    upload_layer()
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "SmtpSecretArn": existing_secret(),
        "CreateTrail": "false",
        "RuleModules": "/opt/python/trailguard_rules",
    }
    template = load_template(custom_templates["template.yaml"])
    created = create_stack(HOME, "custom", for_moto(translate(template, parameters), parameters), parameters)
    configuration = boto3.client("lambda", region_name=HOME).get_function(FunctionName=f"AWS-Generic-Security-{HOME}")[
        "Configuration"
    ]
    assert configuration["Environment"]["Variables"]["TRAILGUARD_RULE_MODULES"] == "/opt/python/trailguard_rules"
    events = boto3.client("events", region_name=HOME)
    records = [
        json.loads((CUSTOM_RULES / "events" / f"{name}.json").read_text("utf-8"))["record"] for name in CUSTOM_EVENTS
    ]
    unwatched = {**records[0], "eventName": "GetBucketTagging", "eventID": "5d0c7e2a-1b3f-4a6d-8e9c-0f1a2b3c4d5e"}
    for record in [*records, unwatched]:
        entry = {
            "Source": eventbridge_source(record["eventSource"]),
            "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(record),
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    # The patterns do not look at errorCode: the failed calls arrive too, and the rules ignore them.
    assert sorted(received_event_ids(HOME, created["Queue"])) == sorted(r["eventID"] for r in records)


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------


def test_parameter_defaults_and_the_architectures_values(home_template: dict[str, Any]) -> None:
    params = home_template["Parameters"]
    memory = params["MemorySize"]
    assert memory["Default"] == 128  # docs/deploy.md, "Measured defaults"
    assert memory["MinValue"] <= 1500 <= memory["MaxValue"]  # the architecture's 1500 MB stays settable
    assert params["Timeout"]["Default"] == 300
    assert 900 in params["Timeout"]["AllowedValues"]  # and its 900 s
    assert params["Architecture"]["Default"] == "arm64"
    assert params["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    assert params["LogRetentionDays"]["Default"] == 7
    assert params["UseQueue"]["Default"] == params["UseTable"]["Default"] == "true"
    assert params["SmtpSecretArn"]["Default"] == ""
    assert params["CreateTrail"]["AllowedValues"] == ["true", "false"]


PARAMETER_VALUES: dict[str, Any] = json.loads((DATA_DIR / "infra" / "parameter_values.json").read_text("utf-8"))


@pytest.mark.parametrize("name", [key for key in PARAMETER_VALUES if key != "description"])
def test_parameter_patterns_accept_what_they_should(home_template: dict[str, Any], name: str) -> None:
    # CloudFormation matches AllowedPattern against the whole value (Java regex; these use the common subset).
    pattern = re.compile(home_template["Parameters"][name]["AllowedPattern"])
    assert [v for v in PARAMETER_VALUES[name]["valid"] if not pattern.fullmatch(v)] == []
    assert [v for v in PARAMETER_VALUES[name]["invalid"] if pattern.fullmatch(v)] == []


def test_every_timeout_has_a_queue_visibility_six_times_longer(home_template: dict[str, Any]) -> None:
    mapping = home_template["Mappings"]["QueueVisibility"]
    timeouts = home_template["Parameters"]["Timeout"]["AllowedValues"]
    assert sorted(mapping, key=int) == [str(t) for t in timeouts]
    for timeout in timeouts:
        assert mapping[str(timeout)]["Seconds"] == 6 * timeout


# ------------------------------------------------------------------------------------------------
# The SAM translation, and what moto's CloudFormation does not model
# ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_aws")
def test_translated_template_is_plain_cloudformation_and_lints_clean(home_template: dict[str, Any]) -> None:
    translated = translate(home_template, {"Recipients": RECIPIENTS, "Sender": SENDER})
    assert "Transform" not in translated
    assert not any(res["Type"].startswith("AWS::Serverless::") for res in translated["Resources"].values())
    matches = lint(json.dumps(translated), config=ManualArgs(regions=LINT_REGIONS, include_checks=["I"]))
    assert [str(m) for m in matches] == []


@pytest.mark.usefixtures("fake_aws")
def test_function_code_layer_logs_and_dead_letters(home_template: dict[str, Any]) -> None:
    translated = translate(home_template, {"Recipients": RECIPIENTS, "Sender": SENDER})
    resources = translated["Resources"]
    function = resources["Function"]["Properties"]
    (layer_id,) = logical_of_type(translated, "AWS::Lambda::LayerVersion")
    layer = resources[layer_id]["Properties"]
    assert function["Layers"] == [{"Ref": layer_id}]
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert layer["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert layer["CompatibleRuntimes"] == ["python3.14"]
    assert layer["Content"] == {"S3Bucket": "artifacts", "S3Key": "layer.zip"}
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    # The inline code, run as Lambda would run index.py with the layer on the path.
    namespace: dict[str, Any] = {}
    exec(compile(function["Code"]["ZipFile"], "index.py", "exec"), namespace)
    from trailguard.main import lambda_handler

    assert namespace["lambda_handler"] is lambda_handler
    assert function["Handler"] == "index.lambda_handler"


@pytest.mark.usefixtures("fake_aws")
def test_a_new_secret_holds_empty_placeholders_and_is_the_one_read(home_template: dict[str, Any]) -> None:
    translated = translate(home_template, {"Recipients": RECIPIENTS, "Sender": SENDER})
    secret = translated["Resources"]["SmtpSecret"]
    assert secret["Condition"] == "CreateSecret"
    assert json.loads(secret["Properties"]["SecretString"]) == {"username": "", "password": ""}
    chosen = {"Fn::If": ["SmtpSecretGiven", {"Ref": "SmtpSecretArn"}, {"Ref": "SmtpSecret"}]}
    variables = translated["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["TRAILGUARD_SMTP_SECRET_ID"] == {"Fn::If": ["UseSmtp", chosen, {"Ref": "AWS::NoValue"}]}
    statements = translated["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (read,) = [s["Fn::If"] for s in statements if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "ReadSmtpSecret"]
    assert read[0] == "UseSmtp", "only SMTP reads a secret"
    assert read[1]["Action"] == "secretsmanager:GetSecretValue"
    assert read[1]["Resource"] == chosen


def test_alarms_on_function_errors_and_dead_letters(home_template: dict[str, Any]) -> None:
    resources = home_template["Resources"]
    errors = resources["FunctionErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Function"}}]
    dead = resources["DeadLetterAlarm"]["Properties"]
    assert (dead["Namespace"], dead["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    for alarm in (errors, dead):
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        # The stack's own topic (its recipients subscribed: tests/test_infra_monitoring.py), and the user's.
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}], [{"Ref": "AlarmTopic"}]]
        }


def test_event_bus_admits_only_the_organization(home_template: dict[str, Any]) -> None:
    policy = home_template["Resources"]["OrganizationEventBusPolicy"]
    assert policy["Condition"] == "HasOrganization"
    statement = policy["Properties"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "events:PutEvents")
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


def test_trail_is_multi_region_validated_and_encrypted(home_template: dict[str, Any]) -> None:
    resources = home_template["Resources"]
    trail = resources["Trail"]["Properties"]
    assert trail["IsLogging"] is trail["IsMultiRegionTrail"] is trail["EnableLogFileValidation"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert trail["KMSKeyId"] == {
        "Fn::If": ["CreateTrailKey", {"Fn::GetAtt": ["TrailKey", "Arn"]}, {"Ref": "AWS::NoValue"}]
    }
    bucket = resources["TrailBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    statements = resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    writes = [s for s in statements if s["Effect"] == "Allow" and s["Action"] == "s3:PutObject"]
    (write,) = writes
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert "aws:SourceArn" in write["Condition"]["StringEquals"]  # this trail only (confused deputy)
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


# Actions IAM cannot scope to a resource (EC2's Describe* calls support no resource-level permissions;
# the account's Block Public Access setting has no resource): remediation's look-ups and that setting.
TAKE_NO_RESOURCE = frozenset(
    {
        "ec2:DescribeImageAttribute",
        "ec2:DescribeImages",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshotAttribute",
        "ec2:DescribeSnapshots",
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
    }
)


@pytest.mark.parametrize("path", [TEMPLATE, FORWARDER], ids=lambda p: p.name)
def test_roles_use_no_wildcard_actions_and_no_wildcard_resources(path: Path) -> None:
    template = load_template(path)
    for name in logical_of_type(template, "AWS::IAM::Role"):
        for policy in template["Resources"][name]["Properties"]["Policies"]:
            for written in policy["PolicyDocument"]["Statement"]:
                # A conditional statement: check the statement it adds.
                statement = written["Fn::If"][1] if "Fn::If" in written else written
                assert statement["Effect"] == "Allow"
                assert not any("*" in action for action in as_list(statement["Action"])), (name, statement)
                if not set(as_list(statement["Action"])) <= TAKE_NO_RESOURCE:
                    assert "*" not in as_list(statement["Resource"]), (name, statement)


# ------------------------------------------------------------------------------------------------
# The stacks, created in moto
# ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_aws")
def test_default_stack_in_moto(home_template: dict[str, Any]) -> None:
    upload_layer()
    secret = existing_secret()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "SmtpSecretArn": secret}
    created = create_stack(HOME, "trailguard", for_moto(translate(home_template, parameters), parameters), parameters)
    name = f"AWS-Generic-Security-{HOME}"
    queue, dead_letters = queue_arn(HOME, created["Queue"]), queue_arn(HOME, created["DeadLetterQueue"])

    configuration = boto3.client("lambda", region_name=HOME).get_function(FunctionName=name)["Configuration"]
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.14", "index.lambda_handler")
    assert (configuration["MemorySize"], configuration["Timeout"]) == (128, 300)
    assert configuration["Role"].endswith(f":role/{created['FunctionRole']}")
    # str(): moto passes a Number parameter on as a number, where CloudFormation passes its text.
    variables = {name: str(value) for name, value in configuration["Environment"]["Variables"].items()}
    # trailguard's own resources: test_stack_tells_the_function_its_own_resources.
    assert variables.pop("TRAILGUARD_SELF_RESOURCES")
    assert variables == {
        "TRAILGUARD_SMTP_SECRET_ID": secret,
        "TRAILGUARD_SENDER": SENDER,
        "TRAILGUARD_RECIPIENTS": RECIPIENTS,
        "TRAILGUARD_TABLE_NAME": created["Table"],
        "TRAILGUARD_HISTORY_TTL_DAYS": "90",
    }
    (layer,) = boto3.client("lambda", region_name=HOME).list_layers()["Layers"]
    assert layer["LatestMatchingVersion"]["CompatibleRuntimes"] == ["python3.14"]

    (group,) = function_log_groups()
    assert (group["logGroupName"], group["retentionInDays"]) == (f"/aws/lambda/{name}", 7)

    events = boto3.client("events", region_name=HOME)
    for entry in trailguard_patterns():
        rule_name = created[template_patterns.logical_id("Rule", entry["name"])]
        rule = events.describe_rule(Name=rule_name)
        assert rule["State"] == entry["state"]
        assert json.loads(rule["EventPattern"]) == entry["pattern"]
        (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert target["Arn"] == queue
        assert target["DeadLetterConfig"] == {"Arn": dead_letters}

    (mapping,) = boto3.client("lambda", region_name=HOME).list_event_source_mappings(FunctionName=name)[
        "EventSourceMappings"
    ]
    assert (mapping["EventSourceArn"], mapping["BatchSize"]) == (queue, 10)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    attributes = boto3.client("sqs", region_name=HOME).get_queue_attributes(
        QueueUrl=created["Queue"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "1800"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letters, "maxReceiveCount": 5}
    assert attributes["SqsManagedSseEnabled"] == "true"

    dynamodb = boto3.client("dynamodb", region_name=HOME)
    table = dynamodb.describe_table(TableName=created["Table"])["Table"]
    # The table the state store expects (its own test checks the template's text; this one what is created).
    assert table["KeySchema"] == TABLE_SCHEMA["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(TABLE_SCHEMA["AttributeDefinitions"], key=str)
    ((index, expected_index),) = zip(
        table["GlobalSecondaryIndexes"], TABLE_SCHEMA["GlobalSecondaryIndexes"], strict=True
    )
    assert (index["IndexName"], index["KeySchema"]) == (expected_index["IndexName"], expected_index["KeySchema"])
    assert index["Projection"] == {"ProjectionType": "ALL"}
    # moto's CloudFormation ignores TimeToLiveSpecification: checked in the template.
    ttl = home_template["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == TABLE_SCHEMA["TimeToLiveSpecification"]

    s3 = boto3.client("s3", region_name=HOME)
    (rule,) = s3.get_bucket_encryption(Bucket=created["TrailBucket"])["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].endswith(created["TrailKey"])

    # Least privilege, with every ARN resolved: only this secret, sender, table, queue and log group.
    grants = {statement["Sid"]: statement for statement in role_policy(created["FunctionRole"])}
    # SMTP (the default) sends with the secret's credentials: the role may not send through SES.
    assert set(grants) == {
        "WriteOwnLogs",
        "ReadSmtpSecret",
        "OwnTableOnly",
        "ConsumeOwnQueueOnly",
        "DeadLetterOwnQueueOnly",
    }
    assert grants["ReadSmtpSecret"]["Resource"] == secret
    assert grants["OwnTableOnly"]["Resource"] == table["TableArn"]
    assert grants["ConsumeOwnQueueOnly"]["Resource"] == queue
    assert grants["DeadLetterOwnQueueOnly"]["Resource"] == dead_letters
    assert grants["WriteOwnLogs"]["Resource"] == f"arn:aws:logs:{HOME}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"

    # EventBridge as moto runs it: the watched events reach the queue, the others do not.
    put_test_events(HOME)
    expected = sorted(e["detail"]["eventID"] for e in EVENTS if e["forwarded"])
    assert sorted(received_event_ids(HOME, created["Queue"])) == expected


@pytest.mark.usefixtures("fake_aws")
def test_stack_without_queue_table_or_trail_at_the_architectures_size(home_template: dict[str, Any]) -> None:
    upload_layer()
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "SmtpSecretArn": existing_secret(),
        "UseQueue": "false",
        "UseTable": "false",
        "CreateTrail": "false",
        "FunctionName": "trailguard-alerts",
        "MemorySize": "1500",
        "Timeout": "900",
        "Architecture": "x86_64",
        "LogRetentionDays": "30",
        "TrustedAccounts": "111122223333,444455556666",
    }
    created = create_stack(HOME, "small", for_moto(translate(home_template, parameters), parameters), parameters)
    assert not {"Queue", "Table", "TrailBucket", "TrailKey", "QueueEventSourceMapping"} & set(created)
    awslambda = boto3.client("lambda", region_name=HOME)
    configuration = awslambda.get_function(FunctionName="trailguard-alerts")["Configuration"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (1500, 900)
    variables = configuration["Environment"]["Variables"]
    assert not {"TRAILGUARD_TABLE_NAME", "TRAILGUARD_HISTORY_TTL_DAYS", "TRAILGUARD_ALLOWED_CIDRS"} & set(variables)
    assert variables["TRAILGUARD_TRUSTED_ACCOUNTS"] == "111122223333,444455556666"
    (group,) = function_log_groups()
    assert (group["logGroupName"], group["retentionInDays"]) == ("/aws/lambda/trailguard-alerts", 30)

    events = boto3.client("events", region_name=HOME)
    rule_arns = set()
    for entry in trailguard_patterns():
        rule_name = created[template_patterns.logical_id("Rule", entry["name"])]
        rule_arns.add(events.describe_rule(Name=rule_name)["Arn"])
        (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert target["Arn"] == configuration["FunctionArn"]
    # Only these rules may invoke the function: one permission per rule, naming it.
    statements = json.loads(awslambda.get_policy(FunctionName="trailguard-alerts")["Policy"])["Statement"]
    assert {s["Principal"]["Service"] for s in statements} == {"events.amazonaws.com"}
    assert {s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in statements} == rule_arns
    assert len(statements) == len(rule_arns)

    grants = {statement["Sid"] for statement in role_policy(created["FunctionRole"])}
    assert grants == {"WriteOwnLogs", "ReadSmtpSecret", "DeadLetterOwnQueueOnly"}


@pytest.mark.usefixtures("fake_aws")
def test_forwarder_brings_us_east_1_events_to_the_home_region(
    home_template: dict[str, Any], forwarder_template: dict[str, Any]
) -> None:
    """One account, many regions: IAM and sign-in events happen in us-east-1, trailguard runs in eu-west-1."""
    upload_layer()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "SmtpSecretArn": existing_secret()}
    home = create_stack(HOME, "trailguard", for_moto(translate(home_template, parameters), parameters), parameters)
    forwarder = create_stack("us-east-1", "forwarder", for_moto(forwarder_template, {}), {"HomeRegion": HOME})

    bus = f"arn:aws:events:{HOME}:{ACCOUNT}:event-bus/default"
    (grant,) = role_policy(forwarder["ForwarderRole"])
    assert (grant["Action"], grant["Resource"]) == ("events:PutEvents", bus)
    events = boto3.client("events", region_name="us-east-1")
    for entry in trailguard_patterns():
        rule_name = forwarder[template_patterns.logical_id("Rule", entry["name"])]
        (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert target["Arn"] == bus
        assert target["RoleArn"].endswith(f":role/{forwarder['ForwarderRole']}")

    put_test_events("us-east-1")
    expected = sorted(e["detail"]["eventID"] for e in EVENTS if e["forwarded"])
    assert sorted(received_event_ids(HOME, home["Queue"])) == expected


@pytest.mark.usefixtures("fake_aws")
def test_forwarder_in_the_home_region_forwards_nothing(forwarder_template: dict[str, Any]) -> None:
    """A StackSet over every region of every account may include the home one: no loop there."""
    created = create_stack(HOME, "trailguard-forwarder", for_moto(forwarder_template, {}), {"HomeRegion": HOME})
    assert set(created) <= {"Placeholder"}
    assert boto3.client("events", region_name=HOME).list_rules()["Rules"] == []
    assert boto3.client("iam", region_name=HOME).list_roles()["Roles"] == []
    # Elsewhere in the same region but for another home account, it does forward.
    other = {"HomeRegion": HOME, "HomeAccountId": "210987654321"}
    created = create_stack(HOME, "to-other-account", for_moto(forwarder_template, {}), other)
    assert "ForwarderRole" in created
    (grant,) = role_policy(created["ForwarderRole"])
    assert grant["Resource"] == f"arn:aws:events:{HOME}:210987654321:event-bus/default"


# ------------------------------------------------------------------------------------------------
# trailguard.pipeline-tampered, on the resources the stack really creates
# ------------------------------------------------------------------------------------------------

DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/trailguard-deploy"


def tampering_record(
    case: str, region: str, parameters: dict[str, Any], caller_role: str = "ci-admin"
) -> dict[str, Any]:
    """A test event of tests/events/ moved to moto's account and ``region``, naming another resource,
    made by an assumed-role session of ``caller_role``."""
    record: dict[str, Any] = json.loads((EVENTS_DIR / case).read_text("utf-8"))["record"]
    record.update(awsRegion=region, recipientAccountId=ACCOUNT, requestParameters=parameters, responseElements=None)
    record["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROAQXAMPLEROLEID0009:session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{caller_role}/session",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAQXAMPLEKEY000009",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAQXAMPLEROLEID0009",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{caller_role}",
                "accountId": ACCOUNT,
                "userName": caller_role,
            },
            "attributes": {"creationDate": "2026-03-10T08:55:02Z", "mfaAuthenticated": "false"},
        },
    }
    return record


def pipeline_findings(engine: Engine, record: dict[str, Any]) -> dict[str, str]:
    return {f.rule_id: f.severity.name for f in engine.evaluate(record) if f.rule_id.startswith("trailguard.")}


@pytest.mark.usefixtures("fake_aws")
def test_stack_tells_the_function_its_own_resources(
    home_template: dict[str, Any], forwarder_template: dict[str, Any]
) -> None:
    """The function's environment, as the stack resolves it, makes every resource the home and forwarder
    stacks create trailguard's own, and their deployer's changes upgrades."""
    upload_layer()
    secret = existing_secret()
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "SmtpSecretArn": secret,
        "OrganizationId": "o-a1b2c3d4e5",
        "DeployerPrincipal": DEPLOYER,
    }
    home = create_stack(HOME, "trailguard", for_moto(translate(home_template, parameters), parameters), parameters)
    forwarder = create_stack("us-east-1", "trailguard-fwd", for_moto(forwarder_template, {}), {"HomeRegion": HOME})
    function = f"AWS-Generic-Security-{HOME}"
    configuration = boto3.client("lambda", region_name=HOME).get_function(FunctionName=function)["Configuration"]
    variables = {name: str(value) for name, value in configuration["Environment"]["Variables"].items()}
    assert variables["TRAILGUARD_SELF_DEPLOYER"] == DEPLOYER
    # The settings the function itself loads from its environment.
    engine = Engine(Settings.load(env=variables))

    rules = [(HOME, home[template_patterns.logical_id("Rule", entry["name"])]) for entry in trailguard_patterns()]
    rules += [
        ("us-east-1", forwarder[template_patterns.logical_id("Rule", entry["name"])]) for entry in trailguard_patterns()
    ]
    own: list[tuple[str, str, dict[str, Any]]] = [
        *((region, "eventbridge/disable_rule.json", {"name": name}) for region, name in rules),
        (HOME, "trailguard/delete_function_own.json", {"functionName": function}),
        (HOME, "trailguard/delete_queue_own.json", {"queueUrl": home["Queue"]}),
        (HOME, "trailguard/purge_queue_dead_letters_own.json", {"queueUrl": home["DeadLetterQueue"]}),
        (HOME, "trailguard/delete_table_own.json", {"tableName": home["Table"]}),
        # By name, without the suffix Secrets Manager adds to the ARN the stack was given.
        (HOME, "trailguard/put_secret_value_own_by_name.json", {"secretId": "trailguard/smtp"}),
        (HOME, "ses/delete_identity.json", {"identity": SENDER}),
        (HOME, "ses/delete_email_identity.json", {"emailIdentity": SENDER.split("@")[1]}),
        (HOME, "trailguard/remove_permission_home_bus.json", {"statementId": "trailguard-organization"}),
    ]
    for region, case, request in own:
        assert pipeline_findings(engine, tampering_record(case, region, request)) == {
            "trailguard.pipeline-tampered": "CRITICAL"
        }, (case, request)
        assert pipeline_findings(engine, tampering_record(case, region, request, "trailguard-deploy")) == {}, case

    others = [
        ("eventbridge/disable_rule.json", {"name": "nightly-report"}),
        ("trailguard/delete_function_own.json", {"functionName": "orders-api"}),
        ("trailguard/delete_queue_own.json", {"queueUrl": f"https://sqs.{HOME}.amazonaws.com/{ACCOUNT}/orders"}),
        ("trailguard/delete_table_own.json", {"tableName": "sessions"}),
        ("trailguard/put_secret_value_own_by_name.json", {"secretId": "trailguard/smtp-staging"}),
        ("ses/delete_identity.json", {"identity": "newsletter@example.org"}),
    ]
    for case, request in others:
        assert pipeline_findings(engine, tampering_record(case, HOME, request)) == {}, (case, request)


@pytest.mark.usefixtures("fake_aws")
@pytest.mark.parametrize("watch", ["true", "false"])
def test_watch_read_only_calls_turns_the_read_only_family_on_and_off(
    home_template: dict[str, Any], forwarder_template: dict[str, Any], watch: str
) -> None:
    """WatchReadOnlyCalls=false leaves out the read-only-calls rules (home and forwarder), their
    permission and their entries in the queue policies; the stacks still create."""
    upload_layer()
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "SmtpSecretArn": existing_secret(),
        "CreateTrail": "false",
        "WatchReadOnlyCalls": watch,
    }
    home = create_stack(HOME, "home", for_moto(translate(home_template, parameters), parameters), parameters)
    forwarder = create_stack(
        "us-east-1",
        "fwd",
        for_moto(forwarder_template, {}),
        {"HomeRegion": HOME, "WatchReadOnlyCalls": watch},
    )
    read_only = [entry["name"] for entry in trailguard_patterns() if template_patterns.read_only(entry)]
    assert read_only == ["read-only-calls"]
    logical = template_patterns.logical_id("Rule", read_only[0])
    assert (logical in home) is (watch == "true") and (logical in forwarder) is (watch == "true")
    assert template_patterns.logical_id("Rule", "api-calls-1") in home
    states = {rule["Name"]: rule["State"] for rule in boto3.client("events", region_name=HOME).list_rules()["Rules"]}
    assert ("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" in states.values()) is True  # root activity stays
    assert sum(name.startswith(f"home-{logical}-") for name in states) == (watch == "true")


def _resolve(value: Any, parameters: dict[str, str]) -> Any:
    """The few intrinsic functions the trail's selectors use, as CloudFormation evaluates them."""
    if isinstance(value, list):
        return [_resolve(item, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
        return {key: _resolve(item, parameters) for key, item in value.items()}
    ((name, argument),) = value.items()
    if name == "Ref":
        return parameters[argument]
    if name == "Fn::Split":
        delimiter, text = argument
        return str(_resolve(text, parameters)).split(delimiter)
    if name == "Fn::Join":
        delimiter, items = argument
        return delimiter.join(_resolve(items, parameters))
    raise AssertionError(f"unexpected intrinsic {name}")


@pytest.mark.usefixtures("fake_aws")
@pytest.mark.parametrize(
    ("buckets", "prefixes"),
    [
        ("arn:aws:s3:::acme-customer-data", ["arn:aws:s3:::acme-customer-data/"]),
        (
            "arn:aws:s3:::acme-customer-data, arn:aws:s3:::acme-backups",
            ["arn:aws:s3:::acme-customer-data/", "arn:aws:s3:::acme-backups/"],
        ),
    ],
)
def test_the_created_trail_logs_data_events_of_the_chosen_buckets(
    home_template: dict[str, Any], buckets: str, prefixes: list[str]
) -> None:
    """TrailDataEventBuckets: the trail's advanced selectors keep every management event and add
    the object writes and deletions (burst.s3-deletion, s3.sse-c-write) of those buckets only."""
    trail = home_template["Resources"]["Trail"]["Properties"]
    condition, selectors, otherwise = trail["AdvancedEventSelectors"]["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}, "without buckets, the trail's default: all management events"
    assert home_template["Conditions"][condition] == {
        "Fn::And": [
            {"Condition": "CreateTrailCondition"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "TrailDataEventBuckets"}, ""]}]},
        ]
    }
    management, data = _resolve(selectors, {"TrailDataEventBuckets": buckets})
    assert management["FieldSelectors"] == [{"Field": "eventCategory", "Equals": ["Management"]}]
    fields = {selector["Field"]: selector for selector in data["FieldSelectors"]}
    assert fields["eventCategory"]["Equals"] == ["Data"] and fields["resources.type"]["Equals"] == ["AWS::S3::Object"]
    assert fields["readOnly"]["Equals"] == ["false"], "writes and deletions: the rules watch no reads"
    assert fields["resources.ARN"]["StartsWith"] == prefixes
    # cfn-lint checks the selectors' schema (the lint test above); moto's CloudFormation creates no
    # trail, but the stack with the parameter set creates the rest, the trail's bucket included.
    upload_layer()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "SmtpSecretArn": existing_secret()}
    parameters["TrailDataEventBuckets"] = buckets
    created = create_stack(HOME, "data", for_moto(translate(home_template, parameters), parameters), parameters)
    assert {"TrailBucket", "Queue", "Table"} <= set(created)


# ------------------------------------------------------------------------------------------------
# The SES API instead of SMTP, and the configuration from SSM or S3
# ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_aws")
@pytest.mark.parametrize(
    ("source", "action", "resource"),
    [
        ("ssm:/trailguard/config", "ssm:GetParameter", f"arn:aws:ssm:{HOME}:{ACCOUNT}:parameter/trailguard/config"),
        (
            "s3://acme-security-config/prod/trailguard.toml",
            "s3:GetObject",
            "arn:aws:s3:::acme-security-config/prod/trailguard.toml",
        ),
    ],
    ids=["ssm", "s3"],
)
def test_ses_api_stack_reads_its_configuration_and_sends_with_its_role(
    home_template: dict[str, Any], source: str, action: str, resource: str
) -> None:
    upload_layer()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "EmailDelivery": "ses-api", "ConfigSource": source}
    translated = translate(home_template, parameters)
    created = create_stack(HOME, "sesapi", for_moto(translated, parameters), parameters)
    name = f"AWS-Generic-Security-{HOME}"
    variables = boto3.client("lambda", region_name=HOME).get_function(FunctionName=name)["Configuration"][
        "Environment"
    ]["Variables"]
    assert variables["TRAILGUARD_CONFIG"] == source
    # Whoever rewrites the configuration can switch every rule off: it is one of trailguard's own.
    assert resource in variables["TRAILGUARD_SELF_RESOURCES"].split(",")
    assert not {"TRAILGUARD_SMTP_SECRET_ID", "TRAILGUARD_SENDER", "TRAILGUARD_RECIPIENTS"} & set(variables)
    # The channel the function builds from its environment: SES's API, named as the SMTP one is.
    environment = {
        k: str(v) for k, v in variables.items() if k not in {"TRAILGUARD_CONFIG", "TRAILGUARD_SELF_RESOURCES"}
    }
    (channel,) = Settings.load(env=environment).channels
    assert channel == {"type": "ses", "name": "email", "sender": SENDER, "recipients": RECIPIENTS}

    grants = {statement["Sid"]: statement for statement in role_policy(created["FunctionRole"])}
    assert set(grants) == {
        "WriteOwnLogs",
        "SendAsSenderOnly",
        "ReadOwnConfig",
        "OwnTableOnly",
        "ConsumeOwnQueueOnly",
        "DeadLetterOwnQueueOnly",
    }, "no secret to read"
    identities = f"arn:aws:ses:{HOME}:{ACCOUNT}:identity/"
    assert grants["SendAsSenderOnly"]["Action"] == "ses:SendEmail"
    assert grants["SendAsSenderOnly"]["Resource"] == [identities + SENDER, identities + "example.com"]
    assert (grants["ReadOwnConfig"]["Action"], grants["ReadOwnConfig"]["Resource"]) == (action, resource)
    # No secret is created for SES's API (moto cannot create one: the condition says).
    conditions = translated["Conditions"]
    assert translated["Resources"]["SmtpSecret"]["Condition"] == "CreateSecret"
    assert {"Condition": "UseSmtp"} in conditions["CreateSecret"]["Fn::And"]


@pytest.mark.usefixtures("fake_aws")
def test_a_configuration_under_a_customer_managed_key_is_decrypted_through_ssm_or_s3_only(
    home_template: dict[str, Any],
) -> None:
    upload_layer()
    key = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8899-aabbccddeeff"
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "EmailDelivery": "ses-api",
        "ConfigSource": "ssm:/trailguard/config",
        "ConfigKmsKeyArn": key,
    }
    created = create_stack(HOME, "cmkconfig", for_moto(translate(home_template, parameters), parameters), parameters)
    grants = {statement["Sid"]: statement for statement in role_policy(created["FunctionRole"])}
    decrypt = grants["DecryptOwnConfig"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", key)
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"ssm.{HOME}.amazonaws.com", f"s3.{HOME}.amazonaws.com"]}
    }


@pytest.mark.usefixtures("fake_aws")
def test_without_a_configuration_source_nothing_is_read_or_granted(home_template: dict[str, Any]) -> None:
    upload_layer()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "SmtpSecretArn": existing_secret(), "UseQueue": "false"}
    created = create_stack(HOME, "noconfig", for_moto(translate(home_template, parameters), parameters), parameters)
    grants = {statement["Sid"] for statement in role_policy(created["FunctionRole"])}
    assert not {"ReadOwnConfig", "DecryptOwnConfig", "SendAsSenderOnly"} & grants
    variables = boto3.client("lambda", region_name=HOME).get_function(FunctionName=f"AWS-Generic-Security-{HOME}")[
        "Configuration"
    ]["Environment"]["Variables"]
    assert "TRAILGUARD_CONFIG" not in variables and "TRAILGUARD_CHANNELS" not in variables


@pytest.mark.usefixtures("fake_aws")
def test_s3_ingestion_stack_queues_the_log_buckets_notifications_and_reads_only_that_bucket(
    home_template: dict[str, Any],
) -> None:
    """IngestionMode S3 with an existing bucket: LogQueue (S3 may send, from that bucket only), its event
    source mapping, s3:GetObject on that bucket's objects, the EventBridge rules disabled; then the one
    put-bucket-notification-configuration command of docs/deploy.md makes a new log file a message."""
    upload_layer()
    bucket = "org-trail-archive-111122223333"
    s3 = boto3.client("s3", region_name=HOME)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": HOME})
    parameters = {
        "Recipients": RECIPIENTS,
        "Sender": SENDER,
        "SmtpSecretArn": existing_secret(),
        "CreateTrail": "false",
        "IngestionMode": "S3",
        "LogBucketName": bucket,
    }
    created = create_stack(HOME, "s3mode", for_moto(translate(home_template, parameters), parameters), parameters)
    log_queue = queue_arn(HOME, created["LogQueue"])
    sqs = boto3.client("sqs", region_name=HOME)
    # moto creates no queue policy: the template's, which S3 needs to send at all.
    policy = home_template["Resources"]["LogQueuePolicy"]["Properties"]["PolicyDocument"]
    [allow] = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    source, values = allow["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert source == "arn:${AWS::Partition}:s3:::${Bucket}"
    assert values["Bucket"]["Fn::If"][:2] == ["LogBucketGiven", {"Ref": "LogBucketName"}]
    grants = {statement["Sid"]: statement for statement in role_policy(created["FunctionRole"])}
    assert grants["ReadLogFilesOnly"]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert grants["ReadLogFilesOnly"]["Action"] == "s3:GetObject"
    assert grants["ConsumeLogQueueOnly"]["Resource"] == log_queue
    assert "DecryptLogFiles" not in grants
    mappings = boto3.client("lambda", region_name=HOME).list_event_source_mappings(
        FunctionName=f"AWS-Generic-Security-{HOME}"
    )["EventSourceMappings"]
    assert log_queue in {mapping["EventSourceArn"] for mapping in mappings}
    events = boto3.client("events", region_name=HOME)
    for entry in trailguard_patterns():
        rule_name = created[template_patterns.logical_id("Rule", entry["name"])]
        assert events.describe_rule(Name=rule_name)["State"] == "DISABLED", "S3 alone: the log files bring every event"

    # The command docs/deploy.md gives (here through boto3, as the CLI calls it).
    notification = json.loads(
        (ROOT / "docs" / "s3-notification.json").read_text("utf-8").replace("LOG_QUEUE_ARN", log_queue)
    )
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notification)
    folder = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/03/"
    key = f"{folder}111122223333_CloudTrail_eu-west-1_20261103T1045Z_Vb3Hk8Qz1Lm5Np7R.json.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=b"\x1f\x8b")
    s3.put_object(Bucket=bucket, Key=f"{folder}notes.txt", Body=b"x")
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=created["LogQueue"], MaxNumberOfMessages=10).get("Messages", [])
    ]
    from trailguard.core.envelope import s3_notification

    found = [s3_notification(json.loads(body)) for body in bodies]
    assert [item.objects for item in found if item is not None and not item.test] == [((bucket, key),)]
