"""What AWS identifiers look like: one pattern for each (regions, accounts, event ids, ARNs, resource ids).

Everything checked here comes from an event or a configuration file, so every pattern is ASCII-only:
without ``re.ASCII``, ``\\d`` also matches Arabic-Indic and fullwidth digits, and a region
``eu-west-`` with an Arabic-Indic one once became a console host. Patterns are compiled on first
use: this module is on the Lambda's cold path (settings and the engine's types import it), and most
of its patterns serve a rule or an alert link that may never run; compiling all of them at import
would cost about 2 ms.
"""

from __future__ import annotations

import re

# The parts ARN patterns are built from, so each idea has one definition.
PARTITION_PART = r"aws(?:-[a-z]+)*"  # aws, aws-cn, aws-us-gov, aws-iso-b, ...
ACCOUNT_PART = r"\d{12}"
# A region as ARNs hold it, for reading them: lenient on purpose, so that a rule does not lose a
# resource in a region REGION does not know (``eusc-de-east-1`` is not one). Only REGION decides
# what may become part of a URL's host.
ARN_REGION_PART = r"[a-z0-9-]+"


class Pattern:
    """An ASCII-only pattern, compiled when it is first used."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source, re.ASCII)
        return self._compiled

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(text)

    def match(self, text: str) -> re.Match[str] | None:
        """A match at the start of ``text`` (what follows is not checked)."""
        return self.compiled.match(text)

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


# Use ``fullmatch`` on these: a region, an account id, an event id, a partition.
REGION = Pattern(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")  # eu-west-1, us-gov-east-1, cn-north-1, ...
ACCOUNT_ID = Pattern(ACCOUNT_PART)
# CloudTrail writes UUIDs; the bound only keeps a hostile one out of URLs.
EVENT_ID = Pattern(r"[A-Za-z0-9-]{1,128}")
PARTITION = Pattern(PARTITION_PART)
# An EC2 instance type (p4d.24xlarge, u-6tb1.metal) or an fnmatch glob of them (x2iedn.*).
INSTANCE_TYPE_GLOB = Pattern(r"[a-z0-9.*?\[\]!-]{1,64}")

# ARNs and the start of ARNs (``match``); groups are numbered as written.
ARN_PARTITION = Pattern(rf"arn:({PARTITION_PART}):")
PRINCIPAL_ARN_ACCOUNT = Pattern(rf"arn:{PARTITION_PART}:(?:iam|sts)::({ACCOUNT_PART}):")  # users, roles, sessions
ARN_ACCOUNT = Pattern(rf"arn:[^:]*:[^:]*:[^:]*:({ACCOUNT_PART}):")  # any ARN that names an account
LAMBDA_FUNCTION_ARN = Pattern(rf"arn:({PARTITION_PART}):lambda:({ARN_REGION_PART}):({ACCOUNT_PART}):function:([^:]+)")
LAMBDA_PARTIAL_ARN = Pattern(rf"({ACCOUNT_PART}):function:([^:]+)")  # what Lambda's API accepts too
LAMBDA_LAYER_ARN = Pattern(rf"arn:({PARTITION_PART}):lambda:({ARN_REGION_PART}):({ACCOUNT_PART}):layer:([^:]+)")
SNS_TOPIC_ARN = Pattern(
    rf"arn:{PARTITION_PART}:sns:(?P<region>{ARN_REGION_PART}):{ACCOUNT_PART}:[A-Za-z0-9_-]{{1,256}}(\.fifo)?"
)
# No character of a trail ARN needs escaping in a URL fragment.
TRAIL_ARN = Pattern(rf"arn:{PARTITION_PART}:cloudtrail:{ARN_REGION_PART}:{ACCOUNT_PART}:trail/[A-Za-z0-9._-]{{3,128}}")
ELB_ARN = Pattern(
    rf"arn:{PARTITION_PART}:elasticloadbalancing:{ARN_REGION_PART}:{ACCOUNT_PART}:(loadbalancer|listener)/"
    r"(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}(/[0-9a-f]{16})?"
)

# Resource ids and names (``fullmatch``), as AWS writes them.
EC2_IDS = {
    prefix: Pattern(rf"{prefix}-[0-9a-f]{{8,17}}")
    for prefix in ("sg", "i", "snap", "ami", "vol", "vpc", "acl", "igw", "rtb", "pcx")
}
BUCKET_NAME = Pattern(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IAM_NAME = Pattern(r"[\w+=,.@-]{1,128}")
LAMBDA_NAME = Pattern(r"[A-Za-z0-9_-]{1,140}")
LAMBDA_LAYER_VERSION = Pattern(r"([A-Za-z0-9_-]{1,140}):(\d{1,10})")
RDS_NAME = Pattern(r"[A-Za-z][A-Za-z0-9-]{0,254}")
DYNAMODB_TABLE_NAME = Pattern(r"[A-Za-z0-9_.-]{3,255}")
SES_CONFIGURATION_SET = Pattern(r"[A-Za-z0-9_-]{1,64}")
# https://sqs.eu-west-1.amazonaws.com/111122223333/name, and the legacy
# https://eu-west-1.queue.amazonaws.com/111122223333/name: account and name end the path.
SQS_QUEUE_URL = Pattern(rf"https?://[^/]+/({ACCOUNT_PART})/([A-Za-z0-9_.-]{{1,80}})/?")
# Secrets Manager appends a dash and six characters to a secret's name in its ARN.
SECRET_ARN_SUFFIX = Pattern(r"-[A-Za-z0-9]{6}")
KMS_KEY_ID = Pattern(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")


def arn_partition(arn: str) -> str:
    """``aws``, ``aws-cn``, ``aws-us-gov``... of an ARN; empty when ``arn`` is not one."""
    match = ARN_PARTITION.match(arn)
    return match[1] if match else ""


# An EKS cluster's OIDC issuer as IAM stores a provider's URL (no scheme): use ``fullmatch``.
EKS_OIDC_ISSUER = Pattern(r"oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/id/[0-9A-Fa-f]+")
