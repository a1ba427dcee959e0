"""Writes cases.json: SigV4 signatures made by botocore's own signer, the independent
reference the extension's signer (src/aws/sigv4.rs) is tested against.

Run through generate.sh (it pins botocore in a throwaway venv). The clock is fixed per case
by replacing botocore.auth.get_current_datetime, so the output is reproducible.
"""
import datetime
import json
import sys
from urllib.parse import urlsplit
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

EXAMPLE_ID = "AKIDEXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = (
    "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQD0example+session/token=="
    "AgoOexampleTOKENwithSlashes/andPlus+andEquals="
)
JSON_11 = "application/x-amz-json-1.1"

CASES = [
    {
        "name": "secretsmanager GetSecretValue, long-term keys",
        "time": "2015-08-30T12:36:00",
        "session_token": None,
        "region": "us-east-1",
        "service": "secretsmanager",
        "method": "POST",
        "url": "https://secretsmanager.us-east-1.amazonaws.com/",
        "query": [],
        "headers": [
            ["Host", "secretsmanager.us-east-1.amazonaws.com"],
            ["Content-Type", JSON_11],
            ["X-Amz-Target", "secretsmanager.GetSecretValue"],
        ],
        "body": '{"SecretId":"NEW_RELIC_LICENSE_KEY"}',
    },
    {
        "name": "secretsmanager GetSecretValue by ARN, session token, leap day",
        "time": "2024-02-29T23:59:59",
        "session_token": TOKEN,
        "region": "eu-west-1",
        "service": "secretsmanager",
        "method": "POST",
        "url": "https://secretsmanager.eu-west-1.amazonaws.com/",
        "query": [],
        "headers": [
            ["Host", "secretsmanager.eu-west-1.amazonaws.com"],
            ["Content-Type", JSON_11],
            ["X-Amz-Target", "secretsmanager.GetSecretValue"],
        ],
        "body": '{"SecretId":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:nr-key-AbCdEf"}',
    },
    {
        "name": "ssm GetParameter with decryption, local endpoint with a port, session token",
        "time": "2025-01-07T08:09:10",
        "session_token": TOKEN,
        "region": "ap-southeast-2",
        "service": "ssm",
        "method": "POST",
        "url": "http://127.0.0.1:5000/",
        "query": [],
        "headers": [
            ["Host", "127.0.0.1:5000"],
            ["Content-Type", JSON_11],
            ["X-Amz-Target", "AmazonSSM.GetParameter"],
        ],
        "body": '{"Name":"/newrelic/license-key","WithDecryption":true}',
    },
    {
        "name": "GET with a query to encode and sort, odd path and header whitespace",
        "time": "2023-12-31T00:00:01",
        "session_token": None,
        "region": "us-east-1",
        "service": "iam",
        "method": "GET",
        "url": "https://iam.amazonaws.com/some%20path/%C3%A4~x",
        "query": [["b", "2"], ["a", "1 +/="], ["Action", "ListUsers"], ["Version", "2010-05-08"]],
        "headers": [
            ["Host", "iam.amazonaws.com"],
            ["X-Amz-Meta-Spaced", "  a   b \t c "],
            ["Accept", "application/json"],
        ],
        "body": "",
    },
    {
        "name": "empty POST body, session token, us-gov region",
        "time": "2020-06-15T16:45:30",
        "session_token": "short-token",
        "region": "us-gov-west-1",
        "service": "ssm",
        "method": "POST",
        "url": "https://ssm.us-gov-west-1.amazonaws.com/",
        "query": [],
        "headers": [["Host", "ssm.us-gov-west-1.amazonaws.com"], ["X-Amz-Target", "AmazonSSM.DescribeParameters"]],
        "body": "",
    },
]


def sign(case):
    creds = Credentials(EXAMPLE_ID, EXAMPLE_SECRET, case["session_token"])
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        headers=dict(case["headers"]),
        data=case["body"].encode(),
        params=dict(case["query"]),
    )
    now = datetime.datetime.strptime(case["time"], "%Y-%m-%dT%H:%M:%S")
    signer = botocore.auth.SigV4Auth(creds, case["service"], case["region"])
    seen = []
    original = signer.canonical_request

    def recording(req):
        seen.append(original(req))
        return seen[-1]

    signer.canonical_request = recording
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        signer.add_auth(request)
    canonical = seen[0]
    out = {k: v for k, v in case.items() if k not in ("url", "time")}
    # The path as sent on the wire (already percent-encoded): SigV4 encodes it once more.
    out["path"] = urlsplit(case["url"]).path
    out["access_key_id"] = EXAMPLE_ID
    out["secret_access_key"] = EXAMPLE_SECRET
    out["amz_date"] = request.headers["X-Amz-Date"]
    out["canonical_request"] = canonical
    out["authorization"] = request.headers["Authorization"]
    return out


def main():
    cases = [sign(c) for c in CASES]
    doc = {"generator": f"botocore {botocore.__version__} SigV4Auth", "cases": cases}
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
