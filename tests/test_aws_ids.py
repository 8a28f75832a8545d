"""AWS identifier patterns (core/aws_ids.py) and console URLs (core/console.py): what they accept,
that they are ASCII-only, that they cost nothing at import, and that src/ has no other copy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from trailguard.core import aws_ids
from trailguard.core.console import Console

SRC = Path(__file__).resolve().parent.parent / "src" / "trailguard"
PATTERNS = {name: value for name, value in vars(aws_ids).items() if isinstance(value, aws_ids.Pattern)} | {
    f"EC2_IDS[{prefix}]": pattern for prefix, pattern in aws_ids.EC2_IDS.items()
}

# Python's \d matches these without re.ASCII: Arabic-Indic, fullwidth and Devanagari ones.
NON_ASCII_DIGITS = ("\u0661", "\uff11", "\u0967")


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_is_ascii_only(name: str) -> None:
    assert PATTERNS[name].compiled.flags & re.ASCII, name


@pytest.mark.parametrize(
    "region", ["eu-west-1", "us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "il-central-1"]
)
def test_real_regions_are_regions(region: str) -> None:
    assert aws_ids.REGION.fullmatch(region)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "eu-west",
        "eu-west-1.evil.example",
        "evil.example/",
        "eu-west-1#@evil.example",
        "eu-west-1\n",
        "EU-WEST-1",
        "eu-west-123",
        *(f"eu-west-{digit}" for digit in NON_ASCII_DIGITS),
    ],
)
def test_anything_else_is_not_a_region(text: str) -> None:
    assert not aws_ids.REGION.fullmatch(text)


def test_account_ids_are_twelve_ascii_digits() -> None:
    assert aws_ids.ACCOUNT_ID.fullmatch("111122223333")
    for text in ("11112222333", "1111222233334", "111122223333\n", " 111122223333", "1111222233\u0663\u0663"):
        assert not aws_ids.ACCOUNT_ID.fullmatch(text), text


def test_event_ids_are_what_cloudtrail_writes() -> None:
    assert aws_ids.EVENT_ID.fullmatch("0a6e1c52-1f0b-4c2d-9a5e-2b7d1e4f6a01")
    for text in ("", "x/../y", "a#b", "a?b", "a" * 129, "\u0661"):
        assert not aws_ids.EVENT_ID.fullmatch(text), text


def test_partitions_of_arns() -> None:
    assert aws_ids.arn_partition("arn:aws:iam::111122223333:user/alice") == "aws"
    assert aws_ids.arn_partition("arn:aws-cn:ec2:cn-north-1:111122223333:instance/i-1") == "aws-cn"
    assert aws_ids.arn_partition("arn:aws-us-gov:s3:::bucket") == "aws-us-gov"
    assert aws_ids.arn_partition("arn:aws-iso-b:s3:::bucket") == "aws-iso-b"
    for text in ("", "aws", "arn:evil:s3:::b", "arn:awsevil:s3:::b", "arn:aws", "xarn:aws:s3:::b"):
        assert aws_ids.arn_partition(text) == "", text


def test_account_of_principal_and_any_arn() -> None:
    assert aws_ids.PRINCIPAL_ARN_ACCOUNT.match("arn:aws:sts::111122223333:assumed-role/r/s")
    assert not aws_ids.PRINCIPAL_ARN_ACCOUNT.match("arn:aws:s3:eu-west-1:111122223333:x")
    match = aws_ids.ARN_ACCOUNT.match("arn:aws:sqs:eu-west-1:444455556666:queue")
    assert match and match[1] == "444455556666"
    assert not aws_ids.ARN_ACCOUNT.match("arn:aws:s3:::bucket")


def test_arns_are_read_even_in_a_region_links_would_refuse() -> None:
    """A rule must not lose a function in a region REGION does not know; a link may."""
    arn = "arn:aws-eusc:lambda:eusc-de-east-1:111122223333:function:billing"
    match = aws_ids.LAMBDA_FUNCTION_ARN.match(arn)
    assert match and match.groups() == ("aws-eusc", "eusc-de-east-1", "111122223333", "billing")
    assert not aws_ids.REGION.fullmatch("eusc-de-east-1")
    layer = aws_ids.LAMBDA_LAYER_ARN.match("arn:aws:lambda:eu-west-1:111122223333:layer:tools:3")
    assert layer and layer[4] == "tools"
    partial = aws_ids.LAMBDA_PARTIAL_ARN.match("111122223333:function:billing")
    assert partial and partial.groups() == ("111122223333", "billing")
    topic = aws_ids.SNS_TOPIC_ARN.fullmatch("arn:aws:sns:eu-west-1:111122223333:alerts.fifo")
    assert topic and topic["region"] == "eu-west-1"
    assert not aws_ids.SNS_TOPIC_ARN.fullmatch("arn:aws:sns:eu-west-1:111122223333:alerts/../x")


def test_console_urls_use_the_partitions_host_and_only_a_valid_region() -> None:
    china = Console("cn-north-1", "", "arn:aws-cn:iam::111122223333:user/alice")
    assert (
        china.regional("ec2/home", "Instances:") == "https://console.amazonaws.cn/ec2/home?region=cn-north-1#Instances:"
    )
    aws = Console("eu-west-1", "arn:aws-iso:s3:::b")  # no console host for aws-iso: the default partition's
    assert aws.regional("kms/home") == "https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1"
    assert aws.global_("iam/home", "/users") == "https://console.aws.amazon.com/iam/home#/users"
    assert aws.s3("buckets") == "https://s3.console.aws.amazon.com/s3/buckets?region=eu-west-1"
    hostile = Console("evil.example/")
    assert hostile.region == "" and hostile.regional("ec2/home") == "" and hostile.cloudtrail_event("e-1") == ""
    assert hostile.s3("buckets") == "https://s3.console.aws.amazon.com/s3/buckets", "S3 needs no region"
    assert aws.cloudtrail_event("e/../x") == ""


def test_importing_the_patterns_compiles_none_of_them() -> None:
    """The module is on the Lambda's cold path: each pattern is compiled when first used."""
    script = (
        "import trailguard.core.event_types\n"
        "from trailguard.core import aws_ids\n"
        "compiled = [n for n, v in vars(aws_ids).items() if isinstance(v, aws_ids.Pattern) and v._compiled]\n"
        "compiled += [p for p, v in aws_ids.EC2_IDS.items() if v._compiled]\n"
        "assert not compiled, compiled\n"
        "assert aws_ids.REGION.fullmatch('eu-west-1') and aws_ids.REGION._compiled is not None\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


# What an AWS pattern looks like in source: a region, a 12-digit account, an ARN, a partition.
_AWS_PATTERN_SOURCE = re.compile(r"""re\.compile\(\s*r?["'][^"']*(\{2\}\(|\\d\{12\}|arn:|aws\[)""")


def test_no_other_module_defines_an_aws_identifier_pattern() -> None:
    copies = [
        f"{path.relative_to(SRC)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "aws_ids.py"
        for text in [path.read_text(encoding="utf-8")]
        for match in _AWS_PATTERN_SOURCE.finditer(text)
    ]
    assert not copies, f"use core/aws_ids.py: {copies}"
