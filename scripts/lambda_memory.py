"""The Lambda function's own peak memory over the soak's events, for choosing its MemorySize.

``make soak`` measures the whole soak process, which also holds moto (every item it stores) and
the SMTP server. Here each is a process of its own, as in AWS:

- moto's server (ThreadedMotoServer) in one process: DynamoDB and Secrets Manager on 127.0.0.1,
  its Query reading the queried partition only (tests/soak.py, partition_queries);
- the SMTP server of the tests (aiosmtpd, STARTTLS and AUTH) in another;
- the function: a fresh interpreter that imports ``trailguard.main`` and calls ``lambda_handler``
  on each SQS batch of the soak (tests/soak.py's events, batches of ten, about 1% with findings),
  with only the Lambda's environment (``AWS_ENDPOINT_URL`` pointing at moto). Its peak RSS
  (``ru_maxrss``) is read after the imports, after the first batch and at the end, with the Python
  heap's own peak (tracemalloc) when ``--tracemalloc`` is given (slower).

    python scripts/lambda_memory.py                  # 100,000 events
    python scripts/lambda_memory.py --events 20000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024  # /proc's figures are in KiB


def peak_rss_kib() -> int:
    """The peak resident set of this process's address space (VmHWM; a new one starts at exec)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _moto(port: int, ready: Any) -> None:
    sys.path.insert(0, str(ROOT))
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    from tests.soak import partition_queries

    with partition_queries():
        server = ThreadedMotoServer("127.0.0.1", port, verbose=False)
        server.start()
        ready.set()
        while True:
            time.sleep(3600)


def _smtp(work: str, username: str, password: str, pipe: Any) -> None:
    sys.path.insert(0, str(ROOT))
    import logging

    from tests.smtp_server import SmtpServer

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    with SmtpServer(Path(work), username=username, password=password) as server:
        pipe.send((server.port, str(server.ca_file)))
        while True:
            command = pipe.recv()
            if command == "count":
                taken = server.take_messages()
                pipe.send((len(taken), len(server.sessions)))
            else:
                return


def function(batches_file: str, trace: bool) -> None:
    """The function's process: lambda_handler on every batch in the file; a JSON line of figures."""
    if trace:
        import tracemalloc

        tracemalloc.start()
    from trailguard import main

    class Context:
        aws_request_id = "memory"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    after_import = peak_rss_kib()
    after_first = 0
    failures = batches = 0
    wall = cpu = 0.0
    with Path(batches_file).open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            began, began_cpu = time.perf_counter(), time.process_time()
            result = main.lambda_handler(event, Context())
            wall += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
            failures += len(result.get("batchItemFailures", ()))
            batches += 1
            if batches == 1:
                after_first = peak_rss_kib()
    figures = {
        "batches": batches,
        "failures": failures,
        "rss_after_import_kib": after_import,
        "rss_after_first_batch_kib": after_first,
        "rss_peak_kib": peak_rss_kib(),
        "boto3_loaded": "boto3" in sys.modules,
        # In the handler: all of it, and the CPU part (the rest waits for DynamoDB and SMTP).
        "handler_seconds": wall,
        "handler_cpu_seconds": cpu,
    }
    if trace:
        import tracemalloc

        figures["python_heap_peak_kib"] = tracemalloc.get_traced_memory()[1] // 1024
    print(json.dumps(figures))


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap's peak (slower)")
    parser.add_argument("--function", metavar="BATCHES", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.function:
        function(args.function, args.tracemalloc)
        return 0

    from tests.lambda_world import PASSWORD, REGION, SETUP, USERNAME
    from tests.soak import DEFAULT_SEED, generate_events, positive_pool, sqs_batches

    from trailguard.core.engine import Engine

    seed = DEFAULT_SEED if args.seed is None else args.seed
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="trailguard-memory-") as work, contextlib.ExitStack() as stack:
        batches_file = Path(work) / "batches.jsonl"
        pool, _left_out = positive_pool(Engine())
        with batches_file.open("w", encoding="utf-8") as out:
            for batch in sqs_batches(generate_events(args.events, seed, pool), seed):
                out.write(json.dumps({"Records": [message for message, _event in batch]}) + "\n")

        port = _free_port()
        ready = context.Event()
        moto = context.Process(target=_moto, args=(port, ready), daemon=True)
        moto.start()
        stack.callback(moto.terminate)
        ours, theirs = context.Pipe()
        smtp = context.Process(target=_smtp, args=(str(Path(work) / "smtp"), USERNAME, PASSWORD, theirs), daemon=True)
        smtp.start()
        stack.callback(smtp.terminate)
        assert ready.wait(60), "moto's server did not start"
        smtp_port, ca_file = ours.recv()

        endpoint = f"http://127.0.0.1:{port}"
        fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("TRAILGUARD_", "AWS_"))}
        environment.update(fake, AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint)
        import boto3

        session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        session.client("secretsmanager", endpoint_url=endpoint).create_secret(
            Name=SETUP["secret_id"], SecretString=json.dumps(SETUP["credentials"])
        )
        from trailguard.services.stores.dynamodb import create_table

        create_table(session.client("dynamodb", endpoint_url=endpoint), SETUP["table_name"])
        channel = {
            "type": "smtp",
            "name": "email",
            "sender": SETUP["sender"],
            "recipients": SETUP["recipients"],
            "secret_id": SETUP["secret_id"],
            "region": REGION,
            "host": "127.0.0.1",
            "port": smtp_port,
            "ca_file": ca_file,
        }
        environment.update(TRAILGUARD_TABLE_NAME=SETUP["table_name"], TRAILGUARD_CHANNELS=json.dumps([channel]))

        print(f"lambda memory: {args.events:,} events through lambda_handler in a process of its own", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(Path(__file__).resolve()), "--function", str(batches_file)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            return 1
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        ours.send("count")
        emails, sessions = ours.recv()
        ours.send("stop")
    print(f"  batches                {figures['batches']:>9,}  ({figures['failures']} item failures)")
    print(f"  emails received        {emails:>9,}  in {sessions:,} SMTP sessions")
    print(f"  time                   {seconds:>9,.1f}  s")
    events = max(1, args.events)
    print(
        f"  in the handler         {1000 * figures['handler_seconds'] / events:>9,.3f}  ms per event, "
        f"{1000 * figures['handler_cpu_seconds'] / events:.3f} ms of it CPU"
    )
    for label, key in (
        ("RSS after the imports", "rss_after_import_kib"),
        ("RSS after batch 1", "rss_after_first_batch_kib"),
        ("peak RSS", "rss_peak_kib"),
        ("Python heap peak", "python_heap_peak_kib"),
    ):
        if key in figures:
            print(f"  {label:<22} {figures[key] / MIB:>9,.1f}  MiB")
    return 0 if figures["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
