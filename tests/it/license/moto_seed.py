"""Seeds a moto server for tests/it/license.rs, then switches request authentication on.

usage: moto_seed.py ENDPOINT KEYS_JSON
KEYS_JSON maps a slot name to the license key stored there. Prints JSON with the temporary
credentials (with session tokens, like Lambda's) of two roles and the ARN of the secret that
the test reads by ARN. Runs before authentication is on, so it may use any credentials.
"""
import json
import sys
import urllib.request

import boto3

ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
}
READ = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameter", "kms:Decrypt"], "Resource": "*"}
    ],
}
NOTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
}


def client(service, endpoint, region="us-east-1"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIASEEDSEEDSEEDSEED",
        aws_secret_access_key="seed",
    )


def role(endpoint, name, policy):
    iam = client("iam", endpoint)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
    creds = client("sts", endpoint).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="lambda")
    c = creds["Credentials"]
    return {"access_key_id": c["AccessKeyId"], "secret_access_key": c["SecretAccessKey"], "session_token": c["SessionToken"]}


def main():
    endpoint, keys = sys.argv[1], json.loads(sys.argv[2])
    reader = role(endpoint, "nr-reader", READ)
    nothing = role(endpoint, "nr-nothing", NOTHING)

    sm = client("secretsmanager", endpoint)
    sm.create_secret(Name="nr/by-name", SecretString=json.dumps({"LicenseKey": keys["by_name"]}))
    arn = sm.create_secret(Name="nr/by-arn", SecretString=json.dumps({"LicenseKey": keys["by_arn"]}))["ARN"]
    sm.create_secret(Name="nr/not-json", SecretString="LicenseKey=" + keys["not_json"])
    sm.create_secret(Name="nr/no-field", SecretString=json.dumps({"license_key": keys["no_field"]}))
    sm.create_secret(Name="NEW_RELIC_LICENSE_KEY", SecretString=json.dumps({"LicenseKey": keys["default_secret"]}))
    client("ssm", endpoint).put_parameter(Name="/nr/license-key", Value=keys["ssm"] + "\n", Type="SecureString")
    # us-west-2 has only the default parameter (the fallback after the default secret).
    ssm_west = client("ssm", endpoint, "us-west-2")
    ssm_west.put_parameter(Name="NEW_RELIC_LICENSE_KEY", Value=keys["default_parameter"], Type="SecureString")

    # From now on every request must be signed by a known principal and be allowed by its policy.
    reset = f"{endpoint}/moto-api/reset-auth"
    # text/plain: a form content type would make the server parse the body away.
    urllib.request.urlopen(urllib.request.Request(reset, data=b"0", method="POST", headers={"Content-Type": "text/plain"}))
    json.dump({"reader": reader, "nothing": nothing, "arn": arn}, sys.stdout)


if __name__ == "__main__":
    main()
