"""The environment of a test that talks to fake AWS (moto): dummy credentials, a region, and none of
the variables that would send its requests elsewhere or change its settings. The ``fake_aws_env``
and ``fake_aws`` fixtures (conftest) set it; the soak harness (tests/soak.py) builds its own from it.
"""

from __future__ import annotations

REGION = "eu-west-1"
# urllib and botocore honour these: requests to moto or to a local test server must not go through a proxy.
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
# A config file of the developer's would change the settings the test builds.
REMOVED = (*PROXY_VARIABLES, "TRAILGUARD_CONFIG")


def variables(region: str = REGION) -> dict[str, str]:
    """The variables to set: never real credentials, whatever the machine running the tests has."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
