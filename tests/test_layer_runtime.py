"""The layer as AWS runs it: built for an interpreter this machine has, unpacked, and run with the
template's handler under the real runtime interface client against a local Runtime API.

Lambda's python3.14 is not on this machine; pyenv's 3.13 is, so the layer is built as
``make layer LAYER_PYTHON=3.13 LAYER_ARCH=x86_64`` builds it (scripts/build_layer.py: the wheels
pip picks for CPython 3.13 on manylinux x86_64, not this test's interpreter's). It is unzipped as
Lambda unzips layers into /opt; the template's inline code becomes the task root's ``index.py``
(Lambda's file name for Python inline code), and ``awslambdaric`` (PyPI; a cp313 manylinux wheel,
from pip's cache after the first run) goes into a directory of its own beside them, playing the
runtime's /var/runtime: never into the layer. The function's process is a venv of 3.13 without
site packages, so nothing of this test's environment can be imported by it.

An EventBridge event, an SQS batch and an S3 object notification go through
``tests/runtime_api.py`` (the notified log file is read from moto's server on 127.0.0.1 with the
runtime directory's boto3, as Lambda's runtime provides it); the responses the runtime posts and
the function's log lines are checked, and every compiled module of the layer is shown (python -v, the interpreter's own
record of what it loaded from where) to come from the unpacked layer.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import DATA_DIR, TESTS_DIR
from .moto_server import MotoServer
from .runtime_api import RuntimeApi
from .test_infra import TEMPLATE, load_template

ROOT = TESTS_DIR.parent
PYTHON = Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13"
LAYER_PYTHON, LAYER_ARCH = "3.13", "x86_64"
AWSLAMBDARIC = "awslambdaric==4.2.2"
# Lambda's Python runtimes carry boto3 in /var/runtime, not in the layer: the same here, at the
# version this environment has (so pip takes it from its cache).
LAMBDA_DATA = DATA_DIR / "lambda"
# What a layer's compiled module is named (CPython 3.13 on x86-64 Linux).
EXTENSION = re.compile(r"\.cpython-313-x86_64-linux-gnu\.so$|\.abi3\.so$")
LOADED = re.compile(r"^# extension module '([^']+)' (?:loaded|executed) from '([^']+)'$", re.MULTILINE)
RULE = "sg.ingress-open-to-world"


@dataclass(frozen=True)
class Function:
    """The unpacked layer (opt), the task root, the runtime client's directory, the venv."""

    opt: Path
    task: Path
    runtime: Path
    python: Path
    handler: str
    outbox: Path
    setup_seconds: float


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory) -> Function:
    assert PYTHON.is_file(), f"pyenv's Python 3.13 is expected at {PYTHON}"
    started = time.monotonic()
    base = tmp_path_factory.mktemp("lambda")
    layer_zip = base / "layer.zip"
    run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_layer.py"),
            "--python",
            LAYER_PYTHON,
            "--arch",
            LAYER_ARCH,
            "--out",
            str(layer_zip),
        ]
    )
    opt = base / "opt"
    with zipfile.ZipFile(layer_zip) as archive:
        archive.extractall(opt)
    # The function as the template defines it: its handler string and its inline code.
    properties = load_template(TEMPLATE)["Resources"]["Function"]["Properties"]
    handler = str(properties["Handler"])
    task = base / "task"
    task.mkdir()
    module = handler.rpartition(".")[0]
    (task / f"{module}.py").write_text(str(properties["InlineCode"]), encoding="utf-8")
    # The runtime client beside the layer, from PyPI (pip's cache once downloaded).
    runtime = base / "runtime"
    environment = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    import boto3

    run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--only-binary=:all:",
            "--target",
            str(runtime),
            AWSLAMBDARIC,
            f"boto3=={boto3.__version__}",
        ],
        env=environment,
    )
    venv = base / "venv"
    run([str(PYTHON), "-m", "venv", "--without-pip", str(venv)])
    return Function(opt, task, runtime, venv / "bin" / "python", handler, base / "outbox", time.monotonic() - started)


@dataclass
class Runtime:
    api: RuntimeApi
    process: subprocess.Popen[str]
    logs: Path  # its stdout and stderr files

    def output(self) -> tuple[str, str]:
        """stdout and stderr, once the runtime is stopped."""
        self.process.kill()
        self.process.wait(timeout=30)
        return (self.logs / "stdout").read_text(encoding="utf-8"), (self.logs / "stderr").read_text(encoding="utf-8")


def lambda_environment(
    function: Function, api: RuntimeApi, handler: str, endpoint: str = "http://127.0.0.1:9"
) -> dict[str, str]:
    """Only what Lambda sets (and what a process needs to start): nothing of the test's settings."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": f"{function.opt / 'python'}:{function.runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONVERBOSE": "1",  # the interpreter says where each module came from (stderr)
        "LAMBDA_TASK_ROOT": str(function.task),
        "LAMBDA_RUNTIME_DIR": str(function.runtime),
        "_HANDLER": handler,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "AWS-Generic-Security-eu-west-1",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_FORMAT": "Text",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/AWS-Generic-Security-eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        # The role's credentials, as Lambda sets them; AWS itself is moto's server (the S3 log file).
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "TRAILGUARD_CHANNELS": json.dumps([{"type": "folder", "name": "outbox", "path": str(function.outbox)}]),
    }


@pytest.fixture(scope="module")
def runtime(function: Function) -> Iterator[Runtime]:
    api = RuntimeApi().start()
    aws = MotoServer().start()
    notified = load("s3_notification_cloudtrail.json")["Records"][0]["s3"]
    import boto3

    s3 = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=aws.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=notified["bucket"]["name"], CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    log_file = {"Records": [load("eventbridge_sg_world_open.json")["detail"]]}
    s3.put_object(
        Bucket=notified["bucket"]["name"],
        Key=notified["object"]["key"],
        Body=gzip.compress(json.dumps(log_file).encode()),
    )
    environment = lambda_environment(function, api, function.handler, aws.url)
    # Files, not pipes: python -v writes more than a pipe holds, and nobody reads it until the end.
    logs = function.task.parent / "logs"
    logs.mkdir()
    with (logs / "stdout").open("w") as stdout, (logs / "stderr").open("w") as stderr:
        process = subprocess.Popen(
            [str(function.python), "-m", "awslambdaric", function.handler],
            cwd=function.task,  # Lambda starts the runtime in the task root, which -m puts on sys.path
            env=environment,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    try:
        yield Runtime(api, process, logs)
    finally:
        process.kill()  # the runtime never returns: it waits for the next event
        process.wait(timeout=30)
        api.stop()
        aws.stop()


def event_lines(stdout: str, request_id: str) -> list[dict[str, Any]]:
    """The function's JSON log lines of one invocation."""
    lines = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("request_id") == request_id:
                lines.append(entry)
    return lines


def load(name: str) -> Any:
    return json.loads((LAMBDA_DATA / name).read_text(encoding="utf-8"))


def test_three_kinds_of_event_through_the_runtime_interface_client(function: Function, runtime: Runtime) -> None:
    started = time.monotonic()
    eventbridge = runtime.api.invoke(load("eventbridge_sg_world_open.json"))
    alerts = sorted(p for p in function.outbox.iterdir() if p.suffix == ".eml")
    batch = load("sqs_batch_mixed.json")
    sqs = runtime.api.invoke(batch)
    notification = load("s3_notification_cloudtrail.json")
    s3 = runtime.api.invoke(notification)
    invoke_seconds = time.monotonic() - started
    assert runtime.api.init_errors == []

    # The EventBridge event: its finding delivered to the folder channel, the summary returned.
    assert eventbridge.kind == "response", eventbridge.body
    assert eventbridge.body["outcome"] == "delivered"
    assert [f["rule_id"] for f in eventbridge.body["findings"]] == [RULE]
    [alert] = alerts
    assert RULE in alert.read_text(encoding="utf-8")
    # The SQS batch: the malformed messages reported failed (they go to the dead-letter queue).
    assert sqs.kind == "response", sqs.body
    failed = {item["itemIdentifier"] for item in sqs.body["batchItemFailures"]}
    assert failed == {"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f2"}
    # The S3 notification: the log file read from S3 (boto3 of the runtime, moto's server as AWS),
    # its one record evaluated; the same event as the EventBridge one, so nothing is sent twice.
    assert s3.kind == "response", s3.body
    [read] = s3.body["objects"]
    notified = notification["Records"][0]["s3"]
    assert read["object"] == f"s3://{notified['bucket']['name']}/{notified['object']['key']}"
    assert (read["outcome"], read["events"], read["findings"]) == ("done", 1, 1), read

    stdout, stderr = runtime.output()
    # The runtime asked for each event, and posted each result, by the request id it was given.
    posts = [path for method, path in runtime.api.requests if method == "POST"]
    assert posts == [f"/2018-06-01/runtime/invocation/{o.request_id}/response" for o in (eventbridge, sqs, s3)]

    # Each invocation's log lines carry its request id: one "event" line per CloudTrail event.
    [line] = [e for e in event_lines(stdout, eventbridge.request_id) if e["message"] == "event"]
    assert line["outcome"] == "delivered" and line["rule_ids"] == [RULE]
    sqs_lines = [e for e in event_lines(stdout, sqs.request_id) if e["message"] != "metrics"]
    # And each invocation writes its metrics (CloudWatch EMF) once, counting its CloudTrail events.
    for invocation, evaluated in ((eventbridge, 1), (sqs, 3), (s3, 1)):
        [counts] = [e for e in event_lines(stdout, invocation.request_id) if "EventsEvaluated" in e]
        assert counts["EventsEvaluated"] == evaluated, counts
    outcomes = [e.get("outcome") for e in sqs_lines]
    assert outcomes.count("malformed") == 2 and len(sqs_lines) == len(batch["Records"]), sqs_lines
    [from_s3] = [e for e in event_lines(stdout, s3.request_id) if e["message"] == "event"]
    assert from_s3["rule_ids"] == [RULE]

    # Every compiled module of the layer that the function loaded came from the unpacked layer;
    # on the way it loaded markupsafe's (the alert's HTML). msgspec and isal serve log files, which
    # no event here brings: the next test imports those.
    loaded = dict(LOADED.findall(stderr))
    layer = function.opt / "python"
    compiled = {p.relative_to(layer).parts[0] for p in layer.rglob("*.so") if EXTENSION.search(p.name)}
    used = {name: path for name, path in loaded.items() if name.split(".")[0] in compiled}
    assert "markupsafe" in {name.split(".")[0] for name in used}, sorted(loaded)
    assert all(Path(path).is_relative_to(layer) for path in used.values()), used
    print(
        f"set-up (build, unzip, awslambdaric, venv) {function.setup_seconds:.1f} s; "
        f"three invocations {invoke_seconds:.2f} s"
    )


def test_every_compiled_wheel_of_the_layer_loads_from_the_layer(function: Function) -> None:
    """isal is used only for .json.gz files, which no Lambda event brings today: each compiled
    module of the layer is imported by the function's interpreter, with the function's path."""
    layer = function.opt / "python"
    modules = sorted(
        ".".join(p.relative_to(layer).with_name(p.name.split(".")[0]).parts)
        for p in layer.rglob("*.so")
        if EXTENSION.search(p.name)
    )
    distributions = {name.split(".")[0] for name in modules}
    assert {"isal", "markupsafe", "msgspec"} <= distributions, modules
    probe = (
        "import importlib, json, sys; print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))"
    )
    done = run(
        [str(function.python), "-c", probe, *modules],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{layer}:{function.runtime}", "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=function.task,
    )
    files = json.loads(done.stdout)
    assert set(files) == set(modules)
    assert all(Path(path).is_relative_to(layer) for path in files.values()), files
    # The runtime client is beside the layer, not in it.
    assert not (layer / "awslambdaric").exists() and (function.runtime / "awslambdaric").is_dir()


def test_a_handler_that_cannot_be_loaded_is_reported_as_an_init_error(function: Function) -> None:
    api = RuntimeApi().start()
    handler = function.handler.rpartition(".")[0] + ".no_such_handler"
    try:
        done = subprocess.run(
            [str(function.python), "-m", "awslambdaric", handler],
            cwd=function.task,
            env={**lambda_environment(function, api, handler), "PYTHONVERBOSE": ""},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        api.stop()
    assert done.returncode == 1, done.stderr
    [error] = api.init_errors
    assert error["errorType"] == "Runtime.HandlerNotFound" and "no_such_handler" in error["errorMessage"]
    assert api.requests == [("POST", "/2018-06-01/runtime/init/error")]
