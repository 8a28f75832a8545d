"""Unit tests of the shared policy helper: "does this resource or trust policy let anyone in?"."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from trailguard.core.enums import Severity
from trailguard.core.event_types import Resource, member
from trailguard.core.policy import (
    PolicyExposure,
    account_of_principal,
    action_matches,
    analyze_policy,
    denies,
    exposure_hit,
    external_policy_hit,
    is_narrowed,
    load_policy,
    principal_values,
    statements,
)

OWN = "111122223333"
PARTNER = "444455556666"
EXTERNAL = "999988887777"
TRUSTED = {OWN, PARTNER}


def trusted(account: str) -> bool:
    return account in TRUSTED


def policy(*stmts: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def allow(principal: Any = "*", condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def analyze(document: Any, **kwargs: Any) -> PolicyExposure:
    return analyze_policy(document, trusted, **kwargs)


# ------------------------------------------------------------------------------------------------
# load_policy / statements
# ------------------------------------------------------------------------------------------------

DOC = policy(allow())


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(DOC, id="object"),
        pytest.param(json.dumps(DOC), id="json-compact"),
        pytest.param(json.dumps(DOC, indent=2), id="json-pretty"),
        pytest.param("  \n" + json.dumps(DOC) + "\n", id="json-surrounding-whitespace"),
        pytest.param(quote(json.dumps(DOC, indent=2), safe=""), id="url-encoded-as-iam-logs-it"),
        pytest.param(
            re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(json.dumps(DOC), safe="")),
            id="url-encoded-lowercase-hex",
        ),
        pytest.param(quote(json.dumps(DOC), safe="").replace("%20", "+"), id="url-encoded-plus-for-space"),
        pytest.param(json.dumps(json.dumps(DOC)), id="json-encoded-twice"),
    ],
)
def test_load_policy_accepts_every_spelling(document: Any) -> None:
    assert load_policy(document) == DOC


@pytest.mark.parametrize(
    "document",
    [
        None,
        "",
        "   ",
        "not json",
        '{"Statement": [',
        "[1, 2]",
        "42",
        "null",
        '"just a string"',
        42,
        4.2,
        True,
        ["Statement"],
        b"{}",
        "%7B%22broken",
        "%ZZ",
    ],
)
def test_load_policy_returns_none_for_what_is_not_a_policy(document: Any) -> None:
    assert load_policy(document) is None


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"Statement": {"Effect": "Allow"}}, [{"Effect": "Allow"}]),
        ({"Statement": [{"Effect": "Allow"}, {"Effect": "Deny"}]}, [{"Effect": "Allow"}, {"Effect": "Deny"}]),
        ({"Statement": [{"Effect": "Allow"}, "junk", 3, None, ["x"]]}, [{"Effect": "Allow"}]),
        ({"statement": [{"Effect": "Allow"}]}, [{"Effect": "Allow"}]),
        ({"Statement": "Allow everything"}, []),
        ({"Statement": None}, []),
        ({"Version": "2012-10-17"}, []),
        ({}, []),
        (None, []),
    ],
)
def test_statements_single_or_list(document: Any, expected: list[dict[str, Any]]) -> None:
    assert statements(document) == expected


# ------------------------------------------------------------------------------------------------
# principal_values / account_of_principal
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "kinds", "expected"),
    [
        ("*", ("AWS",), ["*"]),
        (" * ", ("AWS",), ["*"]),
        ({"AWS": "*"}, ("AWS",), ["*"]),
        ({"AWS": ["arn:aws:iam::999988887777:root", "*"]}, ("AWS",), ["arn:aws:iam::999988887777:root", "*"]),
        ({"AWS": 999988887777}, ("AWS",), ["999988887777"]),
        ({"aws": "444455556666"}, ("AWS",), ["444455556666"]),
        ({"Service": "lambda.amazonaws.com"}, ("AWS",), []),
        ({"Service": ["ec2.amazonaws.com"], "AWS": "111122223333"}, ("AWS",), ["111122223333"]),
        ({"Service": "lambda.amazonaws.com"}, ("AWS", "Service"), ["lambda.amazonaws.com"]),
        (
            {"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"},
            ("CanonicalUser",),
            ["79a59df900b949e55d96a1e698fbaced"],
        ),
        ({"AWS": [None, True, {"x": 1}, "111122223333"]}, ("AWS",), ["111122223333"]),
        (None, ("AWS",), []),
        (["*"], ("AWS",), []),
        (42, ("AWS",), []),
    ],
)
def test_principal_values(principal: Any, kinds: tuple[str, ...], expected: list[str]) -> None:
    assert principal_values(principal, kinds) == expected


@pytest.mark.parametrize(
    ("principal", "account"),
    [
        ("999988887777", "999988887777"),
        (" 999988887777 ", "999988887777"),
        ("arn:aws:iam::999988887777:root", "999988887777"),
        ("arn:aws:iam::999988887777:role/path/deployer", "999988887777"),
        ("arn:aws:sts::999988887777:assumed-role/deployer/session", "999988887777"),
        ("arn:aws-us-gov:iam::999988887777:user/bob", "999988887777"),
        ("arn:aws-cn:iam::999988887777:root", "999988887777"),
        ("*", ""),
        ("lambda.amazonaws.com", ""),
        ("9999888877", ""),
        ("arn:aws:s3:::bucket", ""),
        ("arn:aws:iam::*:root", ""),
    ],
)
def test_account_of_principal(principal: str, account: str) -> None:
    assert account_of_principal(principal) == account


# ------------------------------------------------------------------------------------------------
# is_narrowed: the narrowing conditions of the README's rule notes ("The rules")
# ------------------------------------------------------------------------------------------------

NARROWING = [
    pytest.param({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, id="org-id"),
    pytest.param(
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"]}},
        id="org-paths",
    ),
    pytest.param({"StringEquals": {"aws:PrincipalAccount": OWN}}, id="principal-account"),
    pytest.param({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/deployer"}}, id="principal-arn"),
    pytest.param({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/ci-*"}}, id="principal-arn-pattern"),
    pytest.param({"StringEquals": {"aws:SourceAccount": OWN}}, id="source-account"),
    pytest.param({"ArnLike": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{OWN}:alerts"}}, id="source-arn"),
    pytest.param({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::my-logs-bucket"}}, id="source-arn-s3-bucket"),
    pytest.param({"StringEquals": {"aws:SourceOwner": OWN}}, id="source-owner"),
    pytest.param({"StringEquals": {"aws:SourceVpc": "vpc-0a1b2c3d"}}, id="source-vpc"),
    pytest.param({"StringEquals": {"aws:SourceVpce": ["vpce-1a2b3c4d", "vpce-5e6f7a8b"]}}, id="source-vpce-list"),
    pytest.param({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, id="source-ip-v4"),
    pytest.param({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}, id="source-ip-v4-v6"),
    pytest.param({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, id="source-ip-single-address"),
    pytest.param({"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}, id="source-ip-half-the-internet-is-not-world"),
    pytest.param({"StringEqualsIgnoreCase": {"AWS:SOURCEACCOUNT": OWN}}, id="keys-are-case-insensitive"),
    pytest.param({"stringequals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, id="operators-case-insensitive"),
    pytest.param({"StringEquals": {"aws:SourceAccount": int(OWN)}}, id="account-as-number"),
    pytest.param(
        {"StringEquals": {"sts:ExternalId": "shared-secret", "aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        id="external-id-plus-org",
    ),
    pytest.param(
        {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
        id="unrelated-operator-plus-vpce",
    ),
    pytest.param(
        {"StringNotEquals": {"aws:PrincipalOrgID": "o-zzzz"}, "StringEquals": {"aws:SourceAccount": OWN}},
        id="negated-plus-positive",
    ),
]

NOT_NARROWING = [
    pytest.param(None, id="no-condition"),
    pytest.param({}, id="empty-condition"),
    pytest.param({"StringEquals": {"sts:ExternalId": "shared-secret"}}, id="external-id-alone"),
    pytest.param({"StringEquals": {"aws:SecureTransport": "true"}}, id="unrelated-key"),
    pytest.param({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, id="mfa-only"),
    pytest.param({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, id="source-ip-world-v4"),
    pytest.param({"IpAddress": {"aws:SourceIp": "::/0"}}, id="source-ip-world-v6"),
    pytest.param({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"]}}, id="source-ip-one-world-value"),
    pytest.param({"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}, id="source-ip-halves-cover-world"),
    pytest.param({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}, id="source-ip-unparseable"),
    pytest.param({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, id="negated-ip"),
    pytest.param({"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, id="negated-string"),
    pytest.param({"ArnNotLike": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{OWN}:alerts"}}, id="negated-arn"),
    pytest.param({"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, id="if-exists"),
    pytest.param({"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, id="ip-if-exists"),
    pytest.param({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, id="for-all-values"),
    pytest.param({"Null": {"aws:PrincipalOrgID": "false"}}, id="null-check-only"),
    pytest.param({"StringLike": {"aws:PrincipalOrgID": "*"}}, id="wildcard-only-org"),
    pytest.param({"StringLike": {"aws:PrincipalOrgID": "o-*"}}, id="wildcard-org-prefix"),
    pytest.param({"StringLike": {"aws:SourceAccount": "9999*"}}, id="wildcard-account"),
    pytest.param({"StringEquals": {"aws:SourceAccount": "not-an-account"}}, id="account-not-12-digits"),
    pytest.param({"StringLike": {"aws:SourceVpce": "vpce-*"}}, id="wildcard-vpce"),
    pytest.param({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "*/r-ab12/*"}}, id="org-paths-any-org"),
    pytest.param({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deployer"}}, id="arn-any-account"),
    pytest.param({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, id="arn-any-bucket"),
    pytest.param({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*-logs"}}, id="arn-bucket-suffix-only"),
    pytest.param({"StringLike": {"aws:SourceArn": "*"}}, id="arn-wildcard-only"),
    pytest.param({"StringEquals": {"aws:SourceAccount": [OWN, "*"]}}, id="one-wildcard-value-among-many"),
    pytest.param({"StringEquals": {"aws:SourceAccount": []}}, id="empty-values"),
    pytest.param({"IpAddress": {"aws:SourceAccount": OWN}}, id="ip-operator-on-string-key"),
    pytest.param({"StringEquals": {"aws:SourceIp": "203.0.113.0/24"}}, id="string-operator-on-ip-key"),
    pytest.param({"StringEquals": "aws:SourceAccount"}, id="operator-value-not-a-map"),
    pytest.param({"StringEquals": {"aws:SourceAccount": {"nested": OWN}}}, id="value-not-a-string"),
    pytest.param([{"StringEquals": {"aws:SourceAccount": OWN}}], id="condition-is-a-list"),
    pytest.param("aws:SourceAccount", id="condition-is-a-string"),
]


@pytest.mark.parametrize("condition", NARROWING)
def test_is_narrowed_true(condition: Any) -> None:
    assert is_narrowed(condition)


@pytest.mark.parametrize("condition", NOT_NARROWING)
def test_is_narrowed_false(condition: Any) -> None:
    assert not is_narrowed(condition)


def test_is_narrowed_extra_keys() -> None:
    condition = {"StringEquals": {"kms:CallerAccount": OWN}}
    assert not is_narrowed(condition)
    assert is_narrowed(condition, extra_keys=["kms:CallerAccount"])
    assert not is_narrowed({"StringLike": {"kms:CallerAccount": "*"}}, extra_keys=["kms:CallerAccount"])


# ------------------------------------------------------------------------------------------------
# analyze_policy
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param("*", id="string-star"),
        pytest.param({"AWS": "*"}, id="aws-star"),
        pytest.param({"AWS": ["*"]}, id="aws-star-list"),
        pytest.param({"AWS": [f"arn:aws:iam::{OWN}:root", "*"]}, id="star-among-accounts"),
    ],
)
@pytest.mark.parametrize("encode", ["object", "json", "url"])
def test_star_principal_without_condition_is_public(principal: Any, encode: str) -> None:
    document: Any = policy(allow(principal))
    if encode == "json":
        document = json.dumps(document, indent=2)
    elif encode == "url":
        document = quote(json.dumps(document, indent=2), safe="")
    exposure = analyze(document)
    assert exposure.public
    assert exposure.world_statements == ("statement 1",)
    assert exposure.world_actions == ("sts:AssumeRole",)
    assert not exposure.external


@pytest.mark.parametrize("condition", NARROWING)
def test_star_principal_with_narrowing_condition_is_not_public(condition: Any) -> None:
    assert not analyze(policy(allow("*", condition))).public


@pytest.mark.parametrize("condition", NOT_NARROWING)
def test_star_principal_with_non_narrowing_condition_is_public(condition: Any) -> None:
    statement = allow({"AWS": "*"})
    statement["Condition"] = condition
    assert analyze(policy(statement)).public


@pytest.mark.parametrize(
    ("principal", "external"),
    [
        pytest.param({"AWS": EXTERNAL}, (EXTERNAL,), id="bare-account-id"),
        pytest.param({"AWS": int(EXTERNAL)}, (EXTERNAL,), id="account-id-as-number"),
        pytest.param({"AWS": f"arn:aws:iam::{EXTERNAL}:root"}, (EXTERNAL,), id="account-root-arn"),
        pytest.param({"AWS": f"arn:aws:iam::{EXTERNAL}:role/deployer"}, (EXTERNAL,), id="role-arn"),
        pytest.param({"AWS": [f"arn:aws:iam::{EXTERNAL}:root", EXTERNAL]}, (EXTERNAL,), id="deduplicated"),
        pytest.param({"AWS": [f"arn:aws:iam::{PARTNER}:root", OWN]}, (), id="trusted-and-own"),
        pytest.param({"Service": "ec2.amazonaws.com"}, (), id="service-principal"),
        pytest.param({"Service": "ec2.amazonaws.com", "AWS": EXTERNAL}, (EXTERNAL,), id="service-and-external"),
        pytest.param({"Federated": f"arn:aws:iam::{EXTERNAL}:saml-provider/Corp"}, (), id="federated-not-a-kind"),
    ],
)
def test_named_accounts(principal: Any, external: tuple[str, ...]) -> None:
    exposure = analyze(policy(allow(principal)))
    assert exposure.external_accounts == external
    assert not exposure.public


def test_untrusted_accounts_named_by_a_narrowing_condition_are_external() -> None:
    cases: list[dict[str, Any]] = [
        {"StringEquals": {"aws:PrincipalAccount": EXTERNAL}},
        {"StringEquals": {"aws:SourceAccount": [EXTERNAL, OWN]}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{EXTERNAL}:topic"}},
        {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{EXTERNAL}:role/reader"}},
    ]
    for condition in cases:
        exposure = analyze(policy(allow({"AWS": "*"}, condition)))
        assert not exposure.public, condition
        assert exposure.external_accounts == (EXTERNAL,), condition
    own = analyze(policy(allow("*", {"StringEquals": {"aws:SourceAccount": PARTNER}})))
    assert own == PolicyExposure()


def test_not_principal_allow_is_public_and_deny_is_not() -> None:
    granted = analyze(
        policy(
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": f"arn:aws:iam::{OWN}:root"},
                "Action": "s3:GetObject",
                "Resource": "*",
            }
        )
    )
    assert granted.public
    assert granted.world_actions == ("s3:GetObject",)
    denied = analyze(
        policy(
            {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{OWN}:root"}, "Action": "s3:*", "Resource": "*"}
        )
    )
    assert denied == PolicyExposure()
    narrowed = analyze(
        policy(
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": EXTERNAL},
                "Action": "s3:GetObject",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
            }
        )
    )
    assert not narrowed.public


@pytest.mark.parametrize("effect", ["Deny", "deny", None, 1, ""])
def test_only_allow_statements_expose(effect: Any) -> None:
    statement = allow("*")
    statement["Effect"] = effect
    assert analyze(policy(statement)) == PolicyExposure()


def test_effect_is_case_insensitive() -> None:
    statement = allow("*")
    statement["Effect"] = "allow"
    assert analyze(policy(statement)).public


def test_single_statement_object_and_list_agree() -> None:
    single = {"Version": "2012-10-17", "Statement": allow({"AWS": "*"})}
    assert analyze(single) == analyze(policy(allow({"AWS": "*"})))


def test_mixed_policy_reports_both_and_labels_statements() -> None:
    document = policy(
        allow({"Service": "lambda.amazonaws.com"}),
        {**allow({"AWS": "*"}), "Sid": "Public", "Action": ["s3:GetObject", "s3:ListBucket"]},
        allow({"AWS": EXTERNAL}),
        {**allow("*"), "Action": "s3:GetObject"},
        {"Effect": "Allow", "Principal": "*", "NotAction": ["s3:DeleteObject"]},
    )
    exposure = analyze(document)
    assert exposure.world_statements == ("Public", "statement 4", "statement 5")
    assert exposure.world_actions == ("s3:GetObject", "s3:ListBucket", "* except s3:DeleteObject")
    assert exposure.external_accounts == (EXTERNAL,)
    assert exposure.public
    assert exposure.external


def test_other_principal_kinds() -> None:
    document = policy({"Effect": "Allow", "Principal": {"CanonicalUser": "*"}, "Action": "s3:GetObject"})
    assert not analyze(document).public
    assert analyze(document, principal_kinds=("AWS", "CanonicalUser")).public


def test_extra_narrowing_keys() -> None:
    document = policy(allow({"AWS": "*"}, {"StringEquals": {"kms:CallerAccount": OWN}}))
    assert analyze(document).public
    assert not analyze(document, extra_narrowing_keys=["kms:CallerAccount"]).public


@pytest.mark.parametrize(
    "document",
    [
        None,
        "",
        "not json",
        '{"Statement": [',
        "[]",
        42,
        [],
        {"Statement": "*"},
        {"Statement": [1, "two", None]},
        {"Statement": [{"Effect": "Allow"}]},
        {"Statement": [{"Effect": "Allow", "Principal": 12}]},
        {"Statement": [{"Effect": "Allow", "Principal": ["*"]}]},
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": None}}]},
        {"Statement": [{"Effect": ["Allow"], "Principal": "*"}]},
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": [{"x": 1}]}}]},
    ],
)
def test_malformed_documents_expose_nothing_and_do_not_crash(document: Any) -> None:
    assert analyze(document) == PolicyExposure()


def test_malformed_condition_does_not_narrow_or_crash() -> None:
    for condition in (["x"], "StringEquals", 3, {"StringEquals": None}, {1: {"aws:SourceAccount": OWN}}):
        statement = allow("*")
        statement["Condition"] = condition
        assert analyze(policy(statement)).public


def test_odd_field_casing_is_tolerated() -> None:
    document = {"statement": [{"effect": "Allow", "principal": {"AWS": "*"}, "action": "sts:AssumeRole"}]}
    assert analyze(document).public


def test_admin_grant_names_the_broadest_grant_on_every_resource() -> None:
    from trailguard.core.event_types import HIDDEN_VALUE
    from trailguard.core.policy import GRANTS_ALL_IAM, GRANTS_ANY_ROLE, GRANTS_EVERYTHING, admin_grant

    def grant(*actions: str, resource: Any = "*", assume: bool = False) -> str:
        document = policy(*({"Effect": "Allow", "Action": action, "Resource": resource} for action in actions))
        return admin_grant(json.dumps(document), assume_any_role=assume)

    assert grant("*") == GRANTS_EVERYTHING
    assert grant("iam:*", "*:*") == GRANTS_EVERYTHING
    assert grant("iam:*") == GRANTS_ALL_IAM
    assert grant("sts:AssumeRole") == "", "assuming roles counts only where the caller asks"
    assert grant("sts:AssumeRole", assume=True) == GRANTS_ANY_ROLE
    assert grant("STS:assume*", assume=True) == GRANTS_ANY_ROLE
    assert grant("sts:*", "iam:*", assume=True) == GRANTS_ALL_IAM
    assert grant("sts:AssumeRoleWithSAML", assume=True) == ""
    assert grant("sts:[A]ssumeRole", assume=True) == "", "IAM has no character classes"
    assert grant("*", resource=f"arn:aws:iam::{OWN}:role/deploy") == ""
    assert admin_grant(policy({"Effect": "Deny", "Action": "*", "Resource": "*"})) == ""
    assert admin_grant(HIDDEN_VALUE) == "", "a document CloudTrail hides cannot be judged"


# ------------------------------------------------------------------------------------------------
# The shapes other services' policies take (issue 11: one analysis for every resource policy)
# ------------------------------------------------------------------------------------------------

SQS_ARN = f"arn:aws:sqs:eu-west-1:{OWN}:orders"
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{OWN}:alerts"
EFS_FLAGS = ("elasticfilesystem:AccessedViaMountTarget",)
KMS_ACCOUNT_KEYS = ("kms:CallerAccount",)


def statement(
    principal: Any, action: Any, condition: dict[str, Any] | None = None, effect: str = "Allow"
) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"}
    if condition is not None:
        body["Condition"] = condition
    return body


SERVICE_SHAPES = [
    pytest.param(
        policy(
            statement(
                {"Service": "s3.amazonaws.com"},
                "SQS:SendMessage",
                {
                    "ArnLike": {"aws:SourceArn": "arn:aws:s3:::orders-uploads"},
                    "StringEquals": {"aws:SourceAccount": OWN},
                },
            )
        ),
        {},
        PolicyExposure(),
        id="sqs-s3-notification-service-principal",
    ),
    pytest.param(
        policy(statement({"Service": "events.amazonaws.com"}, "sqs:SendMessage")),
        {},
        PolicyExposure(),
        id="service-principal-without-condition-is-not-public",
    ),
    pytest.param(
        policy(
            statement(
                {"Service": ["sns.amazonaws.com"]},
                "sqs:SendMessage",
                {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{EXTERNAL}:feed"}},
            )
        ),
        {},
        PolicyExposure(),
        id="service-principal-is-not-an-account-even-narrowed-elsewhere",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "sqs:SendMessage",
                {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{EXTERNAL}:feed"}},
            )
        ),
        {},
        PolicyExposure(external_accounts=(EXTERNAL,), external_actions=("sqs:SendMessage",)),
        id="sqs-star-narrowed-to-an-external-topic",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, ["SNS:Publish", "SNS:Subscribe"], {"StringEquals": {"AWS:SourceOwner": OWN}})),
        {},
        PolicyExposure(),
        id="sns-default-policy-source-owner",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "SNS:Publish", {"StringEquals": {"AWS:SourceOwner": EXTERNAL}})),
        {},
        PolicyExposure(external_accounts=(EXTERNAL,), external_actions=("SNS:Publish",)),
        id="sns-source-owner-external",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "SNS:Publish", {"StringLike": {"AWS:SourceOwner": "9999*"}})),
        {},
        PolicyExposure(("statement 1",), (), ("SNS:Publish",)),
        id="sns-source-owner-wildcard-is-public",
    ),
    pytest.param(
        policy(statement({"AWS": [EXTERNAL]}, ["SNS:Publish", "SNS:Subscribe"])),
        {},
        PolicyExposure(external_accounts=(EXTERNAL,), external_actions=("SNS:Publish", "SNS:Subscribe")),
        id="sns-add-permission-as-a-statement",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"}, "secretsmanager:GetSecretValue", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
            )
        ),
        {},
        PolicyExposure(),
        id="secretsmanager-organization",
    ),
    pytest.param(
        policy(
            statement(
                {"Service": "lambda.amazonaws.com"},
                ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:eu-west-1:{OWN}:function:*"}},
            )
        ),
        {},
        PolicyExposure(),
        id="ecr-lambda-image-retrieval",
    ),
    pytest.param(
        policy({**statement("*", ["ecr:BatchGetImage"]), "Sid": "PublicRead"}),
        {},
        PolicyExposure(("PublicRead",), (), ("ecr:BatchGetImage",)),
        id="ecr-public-read",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "es:ESHttp*", {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}})),
        {},
        PolicyExposure(),
        id="opensearch-source-ip",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "es:*")),
        {},
        PolicyExposure(("statement 1",), (), ("es:*",)),
        id="opensearch-open",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                ["elasticfilesystem:ClientMount"],
                {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            ),
            statement({"AWS": "*"}, "*", {"Bool": {"aws:SecureTransport": "false"}}, effect="Deny"),
        ),
        {"narrowing_flags": EFS_FLAGS},
        PolicyExposure(),
        id="efs-console-default-with-the-flag",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "elasticfilesystem:ClientMount",
                {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            )
        ),
        {},
        PolicyExposure(("statement 1",), (), ("elasticfilesystem:ClientMount",)),
        id="efs-flag-means-nothing-unless-the-caller-says-so",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "elasticfilesystem:ClientMount",
                {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "false"}},
            )
        ),
        {"narrowing_flags": EFS_FLAGS},
        PolicyExposure(("statement 1",), (), ("elasticfilesystem:ClientMount",)),
        id="efs-flag-required-false-does-not-narrow",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "elasticfilesystem:ClientMount",
                {"StringEquals": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            )
        ),
        {"narrowing_flags": EFS_FLAGS},
        PolicyExposure(("statement 1",), (), ("elasticfilesystem:ClientMount",)),
        id="efs-flag-needs-the-bool-operator",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "elasticfilesystem:ClientMount",
                {"BoolIfExists": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            )
        ),
        {"narrowing_flags": EFS_FLAGS},
        PolicyExposure(("statement 1",), (), ("elasticfilesystem:ClientMount",)),
        id="efs-flag-if-exists-does-not-narrow",
    ),
    pytest.param(
        policy(statement("*", "glacier:DeleteArchive", effect="Deny")),
        {},
        PolicyExposure(),
        id="glacier-deny-only",
    ),
    pytest.param(
        policy(
            statement(
                {"AWS": "*"},
                "kms:Decrypt",
                {"StringEquals": {"kms:CallerAccount": OWN, "kms:ViaService": "ec2.eu-west-1.amazonaws.com"}},
            )
        ),
        {"account_keys": KMS_ACCOUNT_KEYS},
        PolicyExposure(),
        id="kms-caller-account-own",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": EXTERNAL}})),
        {"account_keys": KMS_ACCOUNT_KEYS},
        PolicyExposure(external_accounts=(EXTERNAL,), external_actions=("kms:Decrypt",)),
        id="kms-caller-account-external",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "kms:Decrypt", {"StringLike": {"kms:CallerAccount": "9999*"}})),
        {"account_keys": KMS_ACCOUNT_KEYS},
        PolicyExposure(("statement 1",), (), ("kms:Decrypt",)),
        id="kms-caller-account-wildcard-is-public",
    ),
    pytest.param(
        policy(statement({"AWS": "*"}, "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": "not-an-account"}})),
        {"account_keys": KMS_ACCOUNT_KEYS},
        PolicyExposure(("statement 1",), (), ("kms:Decrypt",)),
        id="kms-caller-account-must-be-an-account",
    ),
    pytest.param(
        policy(
            statement({"AWS": f"arn:aws:iam::{PARTNER}:root"}, "s3:GetObject"),
            statement({"AWS": f"arn:aws:iam::{EXTERNAL}:role/sync"}, ["s3:PutObject", "s3:DeleteObject"]),
        ),
        {},
        PolicyExposure(external_accounts=(EXTERNAL,), external_actions=("s3:PutObject", "s3:DeleteObject")),
        id="external-actions-only-from-statements-that-grant-outsiders",
    ),
]


@pytest.mark.parametrize(("document", "options", "expected"), SERVICE_SHAPES)
def test_service_policy_shapes(document: dict[str, Any], options: dict[str, Any], expected: PolicyExposure) -> None:
    for encoded in (document, json.dumps(document), json.dumps(document, indent=2)):
        assert analyze(encoded, **options) == expected


def test_account_and_flag_keys_narrow_in_is_narrowed_too() -> None:
    assert is_narrowed({"StringEquals": {"kms:CallerAccount": OWN}}, account_keys=KMS_ACCOUNT_KEYS)
    assert not is_narrowed({"StringEquals": {"kms:CallerAccount": "o-a1b2c3d4e5"}}, account_keys=KMS_ACCOUNT_KEYS)
    assert is_narrowed({"Bool": {"elasticfilesystem:accessedviamounttarget": "TRUE"}}, flags=EFS_FLAGS)
    assert not is_narrowed({"Bool": {"elasticfilesystem:AccessedViaMountTarget": ["true", "false"]}}, flags=EFS_FLAGS)
    assert not is_narrowed({"Bool": {"aws:SecureTransport": "true"}}, flags=EFS_FLAGS)


def test_member_reads_any_capitalisation() -> None:
    params = {"aWSAccountId": [EXTERNAL], "vPCOptions": {"subnetIds": ["subnet-1"]}, "AccessPolicies": "{}"}
    assert member(params, "AWSAccountId") == [EXTERNAL]
    assert member(params, "vpcOptions") == {"subnetIds": ["subnet-1"]}
    assert member(params, "accessPolicies") == "{}"
    assert member(params, "missing") is None
    assert member(["not", "a", "map"], "x") is None
    assert member({"Policy": "exact", "policy": "other"}, "policy") == "other"


# ------------------------------------------------------------------------------------------------
# The findings every policy rule builds
# ------------------------------------------------------------------------------------------------

QUEUE = Resource(type="AWS::SQS::Queue", id="orders", arn=SQS_ARN)


def test_exposure_hit_public_first_then_external_then_nothing() -> None:
    both = analyze(
        policy({**statement("*", "sqs:ReceiveMessage"), "Sid": "Open"}, statement({"AWS": EXTERNAL}, "sqs:SendMessage"))
    )
    public = exposure_hit("Queue orders", QUEUE, both, Severity.HIGH)
    assert public is not None
    assert public.severity is None  # the rule's default: CRITICAL for a public queue
    assert public.summary == "Queue orders policy allows public access (sqs:ReceiveMessage)"
    assert public.details == {"Public statements": "Open", "Actions": "sqs:ReceiveMessage"}

    external = exposure_hit(
        "Queue orders", QUEUE, analyze(policy(statement({"AWS": EXTERNAL}, "sqs:SendMessage"))), Severity.HIGH
    )
    assert external is not None
    assert external.severity is Severity.HIGH
    assert external.summary == f"Queue orders policy grants access to external account(s) {EXTERNAL} (sqs:SendMessage)"
    assert external.details == {"External accounts": EXTERNAL, "Actions": "sqs:SendMessage"}
    assert external.resource == QUEUE

    assert exposure_hit("Queue orders", QUEUE, analyze(policy(statement({"AWS": PARTNER}, "sqs:*")))) is None


def test_external_hit_without_actions() -> None:
    exposure = PolicyExposure(external_accounts=(EXTERNAL, "888877776666"))
    hit = external_policy_hit("Vault v", Resource(), exposure)
    assert hit.summary == f"Vault v policy grants access to external account(s) {EXTERNAL}, 888877776666"
    assert hit.details == {"External accounts": f"{EXTERNAL}, 888877776666"}
    assert hit.severity is None


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:PutObject", "s3:PutObject", True),
        ("S3:putobject", "s3:PutObject", True),
        ("s3:PutObject", "s3:PutObjectAcl", False),
        ("s3:Put*", "s3:PutObjectAcl", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:*Object", "s3:DeleteObject", True),
        ("s3:*Object", "s3:DeleteObjectVersion", False),
        ("s3:?utObject", "s3:PutObject", True),
        ("*", "backup:DeleteRecoveryPoint", True),
        ("backup:*", "backup:DeleteRecoveryPoint", True),
        ("backup:Delete*Point", "backup:DeleteRecoveryPoint", True),
        ("backup:Describe*", "backup:DeleteRecoveryPoint", False),
        ("", "", True),
        ("**", "", True),
        ("", "s3:GetObject", False),
    ],
)
def test_action_matches(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_action_matches_does_not_backtrack_exponentially() -> None:
    import time

    started = time.perf_counter()
    assert not action_matches("*a" * 2000 + "b", "a" * 500)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("statements_", "denied"),
    [
        pytest.param([statement("*", "backup:DeleteRecoveryPoint", effect="Deny")], True, id="exact"),
        pytest.param([statement("*", ["backup:Delete*"], effect="Deny")], True, id="wildcard"),
        pytest.param([statement("*", "*", effect="deny")], True, id="everything-lowercase-effect"),
        pytest.param(
            [{"Effect": "Deny", "Principal": "*", "NotAction": "backup:Describe*"}], True, id="not-action-covers"
        ),
        pytest.param(
            [{"Effect": "Deny", "Principal": "*", "NotAction": ["backup:Delete*"]}], False, id="not-action-excludes"
        ),
        pytest.param([statement("*", "backup:DeleteRecoveryPoint")], False, id="allow-is-not-deny"),
        pytest.param([statement("*", "backup:DeleteBackupVault", effect="Deny")], False, id="other-action"),
        pytest.param([], False, id="no-statements"),
    ],
)
def test_denies(statements_: list[dict[str, Any]], denied: bool) -> None:
    assert denies(json.dumps(policy(*statements_)), "backup:DeleteRecoveryPoint") is denied


def test_denies_on_what_is_not_a_policy() -> None:
    assert not denies(None, "backup:DeleteRecoveryPoint")
    assert not denies("not json", "backup:DeleteRecoveryPoint")
