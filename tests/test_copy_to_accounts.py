"""``prism save --copy-to-accounts``: the image copied into other accounts of the
sandbox (moto serves one backend per account id; AssumeRole switches to it), with the
permissions EC2 needs for that, the key of the target account, resume, abort and
pre-flight refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import refused

from prism_core.aws.tags import SAVE_ID_TAG, tags_of

OTHER = "111122223333"
THIRD = "444455556666"


def account_ec2(sandbox: Any, account: str, region: str = "us-east-1") -> Any:
    """An EC2 client acting in ``account`` (AssumeRole, as prism does)."""
    credentials = sandbox.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test",
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=sandbox.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def copies_in(sandbox: Any, account: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    images = account_ec2(sandbox, account, region).describe_images(Owners=["self"])["Images"]
    return [i for i in images if i.get("State") != "deregistered"]


def test_copies_land_in_each_account_and_region(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism(
        "save",
        "box",
        "env1",
        "--copy-to-regions",
        "us-east-2",
        "--copy-to-accounts",
        f"{OTHER},{THIRD}:OrganizationAccountAccessRole",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert "Account:    111122223333: a copy in every region above" in result.stderr
    accounts = yaml_doc(doc["template_path"])["ami_config"]["accounts"]
    assert sorted(accounts) == [OTHER, THIRD]
    for account in (OTHER, THIRD):
        for region in ("us-east-1", "us-east-2"):
            (copy,) = copies_in(prism_sandbox, account, region)
            assert copy["OwnerId"] == account
            assert accounts[account][region] == {"x86_64": copy["ImageId"]}
            assert tags_of(copy)[SAVE_ID_TAG] == doc["save_id"]
    # the source images let the accounts launch and copy them
    for region in ("us-east-1", "us-east-2"):
        (image,) = prism_sandbox.own_images(region)
        ec2 = prism_sandbox.ec2(region)
        allowed = ec2.describe_image_attribute(
            ImageId=image["ImageId"], Attribute="launchPermission"
        )["LaunchPermissions"]
        assert {"UserId": OTHER} in allowed and {"UserId": THIRD} in allowed
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        volume = ec2.describe_snapshot_attribute(
            SnapshotId=snapshot, Attribute="createVolumePermission"
        )["CreateVolumePermissions"]
        assert {"UserId": OTHER} in volume
    shown = run_prism("templates", "show", "env1")
    assert "in other accounts:" in shown.stdout and OTHER in shown.stdout
    # a teammate with an empty PRISM_HOME reads them from the registry
    Path(doc["template_path"]).unlink()
    shared = run_prism("templates", "show", "env1", "-o", "json").json()["versions"][0]
    assert shared["sources"] == ["registry"] and shared["accounts"] == accounts


def yaml_doc(path: str) -> dict[str, Any]:
    import yaml

    with open(path) as file:
        return dict(yaml.safe_load(file))


def test_an_account_key_reencrypts_its_copy(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.write_config(
        f"prism:\n  account_kms_keys:\n    '{OTHER}':\n      us-east-1: alias/their-images\n"
    )
    result = run_prism("save", "box", "env1", "--copy-to-accounts", OTHER, "--yes")
    assert result.exit_code == 0, result.stderr
    (copy,) = copies_in(prism_sandbox, OTHER)
    ec2 = account_ec2(prism_sandbox, OTHER)
    snapshot = ec2.describe_snapshots(
        SnapshotIds=[copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]]
    )["Snapshots"][0]
    assert snapshot["Encrypted"] is True and snapshot["KmsKeyId"].endswith("their-images")


def test_a_failed_copy_is_partial_and_resume_finishes_it(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "CopyImage", region="us-east-1", code="InternalError", message="boom", times=-1
    )
    result = run_prism("save", "box", "env1", "--copy-to-accounts", OTHER, "--yes", "-o", "json")
    assert result.exit_code == 3, result.stderr
    failures = " ".join(result.json()["failures"])
    assert "copy to account 111122223333 in us-east-1 failed: InternalError" in failures
    assert prism_sandbox.own_images("us-east-1")  # the image itself is kept
    prism_sandbox.faults.clear()
    resumed = run_prism("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 0, resumed.stderr
    (copy,) = copies_in(prism_sandbox, OTHER)
    assert yaml_doc(resumed.json()["resumed"][0]["template_path"])["ami_config"]["accounts"] == {
        OTHER: {"us-east-1": {"x86_64": copy["ImageId"]}}
    }


def test_abort_removes_the_copies_in_other_accounts(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject("EnableImageDeprecation", code="InternalError", times=-1)
    result = run_prism(
        "save", "box", "env1", "--copy-to-accounts", OTHER, "--deprecate-after", "30", "--yes"
    )
    assert result.exit_code == 3, result.stderr
    assert len(copies_in(prism_sandbox, OTHER)) == 1
    prism_sandbox.faults.clear()
    aborted = run_prism("save", "--abort", "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert copies_in(prism_sandbox, OTHER) == []
    assert prism_sandbox.own_images("us-east-1") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12345", "'12345' is not ACCOUNT or ACCOUNT:ROLE"),
        (f"{OTHER},{OTHER}:Other", f"names {OTHER} twice"),
        (f"{OTHER}:bad role", "is not ACCOUNT or ACCOUNT:ROLE"),
        ("123456789012", "names this account (123456789012)"),
    ],
)
def test_bad_accounts_are_refused(prism_sandbox, run_prism, value, message):
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--copy-to-accounts", value, "--yes")
    refused(result, message)
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_a_role_that_cannot_be_assumed_is_refused_up_front(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject("AssumeRole", code="AccessDenied", message="no", status=403)
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--copy-to-accounts", OTHER, "--yes")
    refused(result, f"cannot assume role OrganizationAccountAccessRole in account {OTHER}")
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "CreateImage"]
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_batch_entries_and_the_batch_flag_copy_to_accounts(prism_sandbox, run_prism, tmp_path):
    prism_sandbox.create_instance("one")
    prism_sandbox.create_instance("two")
    batch = tmp_path / "lab.yaml"
    batch.write_text(
        f"- {{instance: one, template: lab-one, copy_to_accounts: ['{THIRD}']}}\n"
        "- {instance: two, template: lab-two}\n"
    )
    result = run_prism("save", "--batch", str(batch), "--copy-to-accounts", OTHER, "--yes")
    assert result.exit_code == 0, result.stderr
    assert len(copies_in(prism_sandbox, THIRD)) == 1  # the entry's own accounts win
    assert len(copies_in(prism_sandbox, OTHER)) == 1  # the batch-wide flag for the other


def test_detach_refuses_copies_into_accounts(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--copy-to-accounts", OTHER, "--detach", "--yes")
    refused(result, "--detach does not work with --copy-to-accounts")
