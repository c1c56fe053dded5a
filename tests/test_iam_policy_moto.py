"""`prism iam-policy` checked by moto's own IAM enforcement, not only by our evaluator.

An IAM user gets the policy as an administrator would install it (`prism iam-policy
--split DIR`, one managed policy per file, all attached); prism then runs a
representative workflow with that user's access keys while moto authorizes every request
(`POST /moto-api/reset-auth`, moto's INITIAL_NO_AUTH_ACTION_COUNT). moto 5 checks the
action: it names EC2, SSM and KMS requests' resource "*" and does not evaluate condition
keys, so those statements go to moto with ``Resource: "*"`` (S3 requests carry their
bucket and object ARN and keep the policy's resources). Resources and conditions of the
same requests are checked by prism_sandbox.iam_evaluator after the test
(tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_launch_access import ssh_key


def _for_moto(document: dict[str, Any]) -> dict[str, Any]:
    """The statements as moto can check them: resource "*" where moto names none."""
    statements = []
    for statement in document["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if not all(a.startswith("s3:") for a in actions):
            statement = {**statement, "Resource": "*"}
        statements.append(statement)
    return {**document, "Statement": statements}


#: moto names these S3 requests by their API operation; IAM authorizes them as
#: (S3 API reference, "Permissions" of each operation):
_IAM_ACTION_OF = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
}


def _set_auth(endpoint: str, count: str) -> None:
    """moto's INITIAL_NO_AUTH_ACTION_COUNT: requests before authorization starts."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form would hide the body from moto
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


@pytest.fixture
def checked_by_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, bool]]]:
    """Every (action, resource, allowed) moto's IAM check decided, in order."""
    from moto.iam.access_control import IAMRequestBase

    decisions: list[tuple[str, str, bool]] = []
    original = IAMRequestBase.check_action_permitted

    def recorded(self: Any, resource: str) -> None:
        self._action = _IAM_ACTION_OF.get(self._action, self._action)
        try:
            original(self, resource)
        except Exception:
            decisions.append((self._action, resource, False))
            raise
        decisions.append((self._action, resource, True))

    monkeypatch.setattr(IAMRequestBase, "check_action_permitted", recorded)
    yield decisions


def test_a_user_with_the_printed_policy_runs_the_workflow_under_moto_iam(
    prism_sandbox, run_prism, tmp_path, monkeypatch, checked_by_moto
):
    ssh_key(Path(os.environ["HOME"]))
    prism_sandbox.create_instance("box", ports=[22])
    split = run_prism("iam-policy", "--split", str(tmp_path / "policies"))
    assert split.exit_code == 0, split.stderr
    files = [Path(line) for line in split.stdout.splitlines()]
    assert len(files) > 1  # the whole policy needs more than one managed policy
    iam = prism_sandbox.client("iam")
    iam.create_user(UserName="researcher")
    for path in files:
        document = _for_moto(json.loads(path.read_text()))
        arn = iam.create_policy(PolicyName=path.stem, PolicyDocument=json.dumps(document))
        iam.attach_user_policy(UserName="researcher", PolicyArn=arn["Policy"]["Arn"])
    key = iam.create_access_key(UserName="researcher")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    steps = [
        ("save", "box", "env1", "--copy-to-regions", "us-east-2", "--share-with",
         "111122223333", "--yes"),
        ("launch", "env1", "lab", "--yes"),
        ("templates", "protect", "env1@1", "--yes"),
        ("templates", "unprotect", "env1@1", "--yes"),
        ("templates", "revoke", "env1@1", "--reason", "superseded", "--yes"),
        ("templates", "restore", "env1@1", "--yes"),
        ("terminate", "lab", "--yes"),
        ("templates", "delete", "env1", "--purge", "--yes"),
    ]  # fmt: skip
    _set_auth(prism_sandbox.endpoint, "0")
    try:
        results = [(step, run_prism(*step)) for step in steps]
        import boto3

        as_researcher = boto3.client(
            "ec2",
            endpoint_url=prism_sandbox.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with pytest.raises(Exception, match="not authorized|AccessDenied"):
            as_researcher.delete_vpc(VpcId="vpc-12345678")  # the check does refuse
    finally:
        _set_auth(prism_sandbox.endpoint, "inf")

    refused = [(a, r) for a, r, allowed in checked_by_moto if not allowed]
    assert refused == [("ec2:DeleteVpc", "*")], refused
    for step, result in results:
        assert result.exit_code == 0, (step, result.stderr)
        assert "AccessDenied" not in result.stderr and "not authorized" not in result.stderr
    checked = {a for a, _, _ in checked_by_moto}
    for action in (
        "ec2:CreateImage",
        "ec2:CopyImage",
        "ec2:ModifyImageAttribute",
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:CreateTags",
        "ec2:DeregisterImage",
        "ssm:PutParameter",
        "ssm:GetParametersByPath",
        "s3:ListBucket",  # the inventory's bucket and object, with their ARNs
        "s3:PutObject",
    ):
        assert action in checked, f"moto never checked {action}"
