"""The stack's monitoring: the dashboard, the heartbeat and delivery alarms, the alarm topic and its
recipients, checked against what the code emits (src/trailguard/services/metrics.py) and logs.

One source for the names: every metric, dimension and severity the template names is compared with
the code's constants and with the EMF documents of a real ``lambda_handler`` run; the Logs Insights
query's fields with the fields of a real log line. cfn-lint validates the whole template
(tests/test_infra.py); moto creates the dashboard and the topic (its CloudFormation skips alarms and
subscriptions, whose properties are checked here instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
import pytest

from trailguard import main
from trailguard.core.enums import Severity
from trailguard.services import metrics

from .test_infra import (
    HOME,
    RECIPIENTS,
    SENDER,
    create_stack,
    existing_secret,
    fake_aws_region,
    for_moto,
    home_template,
    translate,
    upload_layer,
)
from .test_lambda import FakeContext, Logs, load, logs, outbox
from .test_metrics import emf_documents, invocation_document

__all__ = ["fake_aws_region", "home_template", "logs", "outbox"]  # fixtures, used by name

FUNCTION = "AWS-Generic-Security-eu-west-1"
LOG_GROUP = f"/aws/lambda/{FUNCTION}"
WEEK = 7 * 24 * 3600


def resolve(value: Any, parameters: dict[str, str]) -> Any:
    """The few intrinsic functions the monitoring resources use, evaluated as CloudFormation does."""
    if isinstance(value, list):
        return [resolve(item, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {key: resolve(item, parameters) for key, item in value.items()}
    ((function, argument),) = value.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Sub":
        text = argument if isinstance(argument, str) else argument[0]
        return re.sub(r"\$\{([^}!]+)\}", lambda m: parameters[m[1]], text)
    if function == "Fn::Split":
        return resolve(argument[1], parameters).split(argument[0])
    if function == "Fn::Join":
        return argument[0].join(resolve(argument[1], parameters))
    if function == "Fn::Select":
        return resolve(argument[1], parameters)[int(argument[0])]
    if function == "Fn::Equals":
        left, right = resolve(argument, parameters)
        return left == right
    if function == "Fn::Not":
        return not resolve(argument[0], parameters)
    return {function: resolve(argument, parameters)}


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    parameters = {"AWS::Region": HOME, "Function": FUNCTION, "LogGroup": LOG_GROUP}
    parsed: dict[str, Any] = json.loads(resolve(body, parameters))
    return parsed


def insights_fields(record: Any, prefix: str = "") -> set[str]:
    """The field names Logs Insights discovers in a JSON log line (arrays flattened by index)."""
    items: Iterable[tuple[str, Any]]
    if isinstance(record, dict):
        items = record.items()
    elif isinstance(record, list):
        items = ((str(index), item) for index, item in enumerate(record))
    else:
        return {prefix[:-1]}
    fields: set[str] = set()
    for key, item in items:
        fields |= insights_fields(item, f"{prefix}{key}.")
    return fields


@pytest.fixture(autouse=True)
def _function_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)


@pytest.fixture
def emitted(outbox: Path, logs: Logs) -> list[dict[str, Any]]:
    """The EMF documents and log lines of a real invocation with a finding."""
    main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext())
    return logs.lines()


def test_the_dashboard_graphs_exactly_the_metrics_the_code_emits(
    home_template: dict[str, Any], emitted: list[dict[str, Any]], logs: Logs
) -> None:
    widgets = dashboard(home_template)["widgets"]
    assert {widget["type"] for widget in widgets} == {"metric", "log"}
    graphed: set[str] = set()
    severities: set[str] = set()
    searched: list[str] = []
    for widget in widgets:
        properties = widget["properties"]
        assert {"x", "y", "width", "height"} <= set(widget) and widget["width"] <= 24
        assert properties["region"] == HOME and properties["title"]
        for line in properties.get("metrics", []):
            if isinstance(line[0], dict):
                searched.append(line[0]["expression"])
                continue
            namespace, name, *dimensions = line
            assert namespace == metrics.NAMESPACE
            pairs = dict(zip(dimensions[::2], dimensions[1::2], strict=True))
            assert pairs[metrics.FUNCTION_DIMENSION] == FUNCTION
            graphed.add(name)
            if metrics.SEVERITY_DIMENSION in pairs:
                severities.add(pairs[metrics.SEVERITY_DIMENSION])
    assert graphed == set(metrics.INVOCATION_METRICS)
    assert severities == {severity.name for severity in Severity}
    [search] = searched
    assert search.startswith(f"SEARCH('{{{metrics.NAMESPACE},{metrics.FUNCTION_DIMENSION},{metrics.RULE_DIMENSION}}}")
    assert f'MetricName="{metrics.FINDINGS}"' in search and f'FunctionName="{FUNCTION}"' in search
    # The metrics in the real output carry exactly these dimension sets.
    documents = emf_documents(logs)
    directives = [d["_aws"]["CloudWatchMetrics"][0] for d in documents]
    assert {tuple(s) for d in directives for s in d["Dimensions"]} == {
        (metrics.FUNCTION_DIMENSION,),
        (metrics.FUNCTION_DIMENSION, metrics.SEVERITY_DIMENSION),
        (metrics.FUNCTION_DIMENSION, metrics.RULE_DIMENSION),
    }
    assert {m["Name"] for d in directives for m in d["Metrics"]} == graphed


def test_the_latest_findings_widget_queries_fields_the_log_line_has(
    home_template: dict[str, Any], emitted: list[dict[str, Any]]
) -> None:
    [widget] = [w for w in dashboard(home_template)["widgets"] if w["type"] == "log"]
    query = widget["properties"]["query"]
    assert query.startswith(f"SOURCE '{LOG_GROUP}' | fields ")
    fields_command = query.split("|")[1].strip()
    wanted = [field.strip() for field in fields_command.removeprefix("fields ").split(",")]
    [line] = [line for line in emitted if line["message"] == "event"]
    have = insights_fields(line)
    assert [field for field in wanted if not field.startswith("@") and field not in have] == []
    assert "filter message = 'event' and ispresent(findings.0.rule_id)" in query


def test_the_heartbeat_alarm_watches_what_the_function_emits(
    home_template: dict[str, Any], emitted: list[dict[str, Any]], logs: Logs
) -> None:
    alarm = home_template["Resources"]["HeartbeatAlarm"]["Properties"]
    counters = invocation_document(emf_documents(logs))
    [directive] = counters["_aws"]["CloudWatchMetrics"]
    assert alarm["Namespace"] == directive["Namespace"] == metrics.NAMESPACE
    assert alarm["MetricName"] == metrics.EVENTS_EVALUATED in {m["Name"] for m in directive["Metrics"]}
    assert [d["Name"] for d in alarm["Dimensions"]] == directive["Dimensions"][0] == [metrics.FUNCTION_DIMENSION]
    # Ref Function is the function's name, which Lambda puts in AWS_LAMBDA_FUNCTION_NAME.
    assert alarm["Dimensions"][0]["Value"] == {"Ref": "Function"} and counters[metrics.FUNCTION_DIMENSION] == FUNCTION
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 1, "LessThanThreshold")
    assert alarm["TreatMissingData"] == "breaching", "no log line at all is the failure it is there for"
    hours = home_template["Parameters"]["HeartbeatHours"]
    assert alarm["EvaluationPeriods"] == {"Ref": "HeartbeatHours"} and hours["Default"] == 6
    # CloudWatch: Period x EvaluationPeriods at most 7 days when the period is an hour or longer.
    assert alarm["Period"] >= 3600 and alarm["Period"] * hours["MaxValue"] <= WEEK
    assert alarm["Period"] * hours["Default"] == 6 * 3600

    failed = home_template["Resources"]["DeliveriesFailedAlarm"]["Properties"]
    assert (failed["Namespace"], failed["MetricName"]) == (metrics.NAMESPACE, metrics.DELIVERIES_FAILED)
    assert failed["Dimensions"] == alarm["Dimensions"]
    for name in ("HeartbeatAlarm", "DeliveriesFailedAlarm", "FunctionErrorsAlarm", "DeadLetterAlarm"):
        actions = home_template["Resources"][name]["Properties"]["AlarmActions"]
        assert actions["Fn::If"][2] == [{"Ref": "AlarmTopic"}], name


@pytest.mark.parametrize(
    ("recipients", "subscribed"),
    [
        (RECIPIENTS, ["secops@example.com", "oncall@example.com"]),
        ("one@example.com", ["one@example.com"]),
        (",".join(f"r{i}@example.com" for i in range(7)), [f"r{i}@example.com" for i in range(5)]),
    ],
)
def test_the_alarm_topic_subscribes_the_recipients(
    home_template: dict[str, Any], recipients: str, subscribed: list[str]
) -> None:
    parameters = {"Recipients": recipients}
    conditions = home_template["Conditions"]
    endpoints = []
    for name, resource in home_template["Resources"].items():
        if resource["Type"] != "AWS::SNS::Subscription":
            continue
        assert name.startswith("AlarmRecipient")
        properties = resource["Properties"]
        assert (properties["TopicArn"], properties["Protocol"]) == ({"Ref": "AlarmTopic"}, "email")
        if resolve(conditions[resource["Condition"]], parameters):
            endpoints.append(resolve(properties["Endpoint"], parameters))
    assert endpoints == subscribed


@pytest.mark.usefixtures("fake_aws")
def test_moto_creates_the_dashboard_and_the_topic(home_template: dict[str, Any]) -> None:
    upload_layer()
    parameters = {"Recipients": RECIPIENTS, "Sender": SENDER, "SmtpSecretArn": existing_secret()}
    created = create_stack(HOME, "trailguard", for_moto(translate(home_template, parameters), parameters), parameters)
    body = boto3.client("cloudwatch", region_name=HOME).get_dashboard(DashboardName="trailguard-trailguard")
    widgets = json.loads(body["DashboardBody"])["widgets"]
    [log_widget] = [w for w in widgets if w["type"] == "log"]
    assert log_widget["properties"]["query"].startswith(f"SOURCE '{LOG_GROUP}' |")
    topics = boto3.client("sns", region_name=HOME).list_topics()["Topics"]
    assert created["AlarmTopic"] in {topic["TopicArn"] for topic in topics}
