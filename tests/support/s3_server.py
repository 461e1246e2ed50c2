"""A real S3-compatible server for the tests: moto's server on a loopback port, with one
bucket per name given, each reachable only by its own IAM user (identity policies enforced
once set up), unless --open.

Usage: s3_server.py PORT [--open] BUCKET...
Prints one JSON line {bucket: {"access_key_id", "secret_access_key"}} once serving; stops at
EOF on stdin.
"""

import json
import logging
import sys
import urllib.request

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer


def main() -> None:
    port = int(sys.argv[1])
    rest = sys.argv[2:]
    enforce = "--open" not in rest
    buckets = [b for b in rest if b != "--open"]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    setup = dict(endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **setup)
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **setup)
    creds = {}
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        user = f"user-{bucket}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=f"only-{bucket}", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                 "Resource": f"arn:aws:s3:::{bucket}"},
                # The bucket's ARN too: moto checks a bulk delete against it.
                {"Effect": "Allow",
                 "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                            "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            ],
        }))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        creds[bucket] = {"access_key_id": key["AccessKeyId"],
                         "secret_access_key": key["SecretAccessKey"]}
    if enforce:
        # From now on every request is checked against the caller's identity policies.
        urllib.request.urlopen(urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"})).read()
    print(json.dumps(creds), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
