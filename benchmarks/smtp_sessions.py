"""What one SMTP session per container saves: batches of alerts through the SMTP channel against
the tests' aiosmtpd server (127.0.0.1, STARTTLS, AUTH), one session for all of them versus a new
session for every alert (what the channel did before: ``close()`` after each send here).

The two ways alternate, batch after batch, so that the load of a shared machine falls on both
alike; printed: the time per batch (p50, p99) and the sessions the server saw.

    python benchmarks/smtp_sessions.py [--batches 200] [--alerts 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="of each way (default 200)")
    parser.add_argument("--alerts", type=int, default=2, help="alerts per batch (default 2)")
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")

    from moto import mock_aws
    from tests.smtp_server import SmtpServer
    from tests.test_channels_http import NORMAL

    from trailguard.services.alerts import Alert
    from trailguard.services.channels import ChannelContext, build_channel
    from trailguard.services.channels.smtp_email import SmtpEmailChannel
    from trailguard.utils.aws_helpers import AwsClients

    times: dict[str, list[float]] = {"one session per alert": [], "one session for all": []}
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        aws = AwsClients(region="eu-west-1")
        secret = {"username": "bench-user", "password": "bench-password"}
        aws.client("secretsmanager").create_secret(Name="bench/smtp", SecretString=json.dumps(secret))
        channels = {}
        servers = {}
        for way in times:
            server = SmtpServer(Path(work) / way.replace(" ", "-"), secret["username"], secret["password"]).start()
            options = {"type": "smtp", "sender": "alerts@example.com", "recipients": ["secops@example.com"]}
            channel = build_channel(
                {**options, "name": "email", "secret_id": "bench/smtp", **server.channel_options()},
                "bench",
                ChannelContext(aws),
            )
            assert isinstance(channel, SmtpEmailChannel)
            channel.send(Alert((NORMAL,)))  # the secret read and the first session, for both
            channels[way], servers[way] = channel, server
        alert = Alert((NORMAL,))
        for _batch in range(args.batches):
            for way, channel in channels.items():
                began = time.perf_counter()
                for _alert in range(args.alerts):
                    channel.send(alert)
                    if way == "one session per alert":
                        channel.close()
                times[way].append(time.perf_counter() - began)
                servers[way].take_messages()
        for way, seconds in times.items():
            p50, p99 = (statistics.quantiles(seconds, n=100, method="inclusive")[p - 1] * 1000 for p in (50, 99))
            sessions = len(servers[way].sessions)
            batch = f"per batch of {args.alerts}; {sessions:,} sessions"
            print(f"  {way:<22} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {batch}")
            servers[way].stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
