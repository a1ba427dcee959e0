"""Produce real New Relic Python agent payloads, byte for byte, as the agent writes them to its pipe.

Run through generate.sh, which installs the pinned agent packages into a throwaway virtualenv.
Usage: python generate.py <output-dir>

How it works:
- Serverless mode is switched on through the environment before the agent is imported.
- `newrelic_lambda` (PyPI `newrelic-lambda`) replaces the agent's serverless `finalize` with one
  that writes the payload to `newrelic_lambda.agent_protocol.NAMED_PIPE_PATH`
  (`/tmp/newrelic-telemetry`, a module constant read at write time, not configurable by
  environment). We point that constant at a FIFO in a private temporary directory, so the real
  `/tmp/newrelic-telemetry` (which a running extension or its tests may own) is never touched.
  The write code itself is the agent's, unchanged.
- A reader thread opens the FIFO, reads to EOF and queues what it read; one open per payload,
  exactly like the extension.
- Each invocation gets its own fake Lambda context; the handler records the agent's own view of
  the trace id so the manifest is independent of any payload decoding.
"""

import json
import os
import queue
import sys
import tempfile
import threading
from pathlib import Path

ACCOUNT_ID = "1234567"
TRUST_KEY = "1234567"
APP_ID = "7654321"
FUNCTION = "nr-fixture-fn"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"

os.environ.update(
    {
        "NEW_RELIC_SERVERLESS_MODE_ENABLED": "true",
        "NEW_RELIC_LICENSE_KEY": "0123456789abcdef0123456789abcdef0123NRAL",
        "NEW_RELIC_ACCOUNT_ID": ACCOUNT_ID,
        "NEW_RELIC_TRUSTED_ACCOUNT_KEY": TRUST_KEY,
        "NEW_RELIC_PRIMARY_APPLICATION_ID": APP_ID,
        "NEW_RELIC_DISTRIBUTED_TRACING_ENABLED": "true",
        "NEW_RELIC_APP_NAME": FUNCTION,
        "NEW_RELIC_LOG": "stderr",
        "NEW_RELIC_LOG_LEVEL": "warning",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    }
)

import newrelic.agent  # noqa: E402

newrelic.agent.initialize()

import newrelic_lambda  # noqa: E402  (patches the serverless finalize to write the pipe)
import newrelic_lambda.agent_protocol as nr_pipe  # noqa: E402
from newrelic_lambda.lambda_handler import lambda_handler  # noqa: E402

# Incoming W3C trace context for the distributed-tracing invocation. The tracestate entry is
# New Relic's own (<trust key>@nr=...), so the agent accepts it as a trusted parent.
INCOMING_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT_SPAN = "00f067aa0ba902b7"
TRACESTATE = f"{TRUST_KEY}@nr=0-0-{ACCOUNT_ID}-{APP_ID}-{INCOMING_PARENT_SPAN}-b28be285632bbc0a-1-1.23456-1700000000000"

INVOCATIONS = [
    # (request id, event, raise an error?)
    ("7f1c0d2a-0001-4c5e-9a7b-000000000001", {"source": "fixture", "n": 1}, False),
    ("7f1c0d2a-0002-4c5e-9a7b-000000000002", {"source": "fixture", "n": 2}, True),
    (
        "7f1c0d2a-0003-4c5e-9a7b-000000000003",
        {
            "httpMethod": "GET",
            "path": "/orders",
            "resource": "/orders",
            "headers": {
                "Host": "example.execute-api.us-east-1.amazonaws.com",
                "traceparent": f"00-{INCOMING_TRACE_ID}-{INCOMING_PARENT_SPAN}-01",
                "tracestate": TRACESTATE,
            },
            "queryStringParameters": {"page": "1"},
            "requestContext": {"requestId": "api-req-3", "stage": "prod", "accountId": "123456789012"},
        },
        False,
    ),
    ("7f1c0d2a-0004-4c5e-9a7b-000000000004", {"source": "fixture", "n": 4}, False),
    ("7f1c0d2a-0005-4c5e-9a7b-000000000005", {"source": "fixture", "n": 5}, True),
]


class FakeContext:
    """The attributes the agent wrapper reads from a real Lambda context."""

    def __init__(self, request_id):
        self.aws_request_id = request_id
        self.invoked_function_arn = ARN
        self.function_name = FUNCTION
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 128
        self.log_group_name = f"/aws/lambda/{FUNCTION}"
        self.log_stream_name = "2024/01/01/[$LATEST]fixture"

    def get_remaining_time_in_millis(self):
        return 3000


class FixtureError(Exception):
    pass


seen_trace_ids = {}


@lambda_handler()
def handler(event, context):
    seen_trace_ids[context.aws_request_id] = newrelic.agent.current_trace_id()
    with newrelic.agent.FunctionTrace(name="work"):
        total = sum(range(1000))
    if event.get("n") in (2, 5):
        raise FixtureError(f"fixture failure {event['n']}")
    if "httpMethod" in event:
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"ok": total})}
    return {"ok": total}


def reader(path, out, stop):
    """One open, one read to EOF per payload, like the extension's reader."""
    while True:
        with open(path, "rb") as pipe:
            data = pipe.read()
        if stop.is_set():
            return
        if data:
            out.put(data)


def main():
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nr-fixture-") as tmp:
        fifo = Path(tmp) / "newrelic-telemetry"
        os.mkfifo(fifo, 0o666)
        nr_pipe.NAMED_PIPE_PATH = fifo
        payloads, stop = queue.Queue(), threading.Event()
        thread = threading.Thread(target=reader, args=(fifo, payloads, stop), daemon=True)
        thread.start()

        application = newrelic.agent.register_application(timeout=10.0)
        if not application.active:
            sys.exit("agent application did not activate")

        manifest = []
        for n, (request_id, event, fails) in enumerate(INVOCATIONS, start=1):
            try:
                handler(event, FakeContext(request_id))
                outcome = "ok"
            except FixtureError:
                outcome = "error"
            data = payloads.get(timeout=30)
            (out_dir / f"python-v1-{n}.json").write_bytes(data)
            manifest.append((f"python-v1-{n}.json", request_id, seen_trace_ids.get(request_id) or "-", outcome, len(data)))
            if fails != (outcome == "error"):
                sys.exit(f"invocation {n}: expected error={fails}, got {outcome}")

        # Unblock the reader's pending open and make sure nothing else was written.
        stop.set()
        with open(fifo, "wb"):
            pass
        thread.join(timeout=10)
        if not payloads.empty():
            sys.exit("the agent wrote more payloads than invocations")

    with open(out_dir / "manifest.tsv", "w") as f:
        f.write("# file\trequest_id\ttrace_id\toutcome\tbytes\n")
        for row in manifest:
            f.write("\t".join(str(x) for x in row) + "\n")
    print(f"newrelic {newrelic.version}, newrelic-lambda {newrelic_lambda.__version__}")
    for row in manifest:
        print(*row, sep="\t")


if __name__ == "__main__":
    main()
