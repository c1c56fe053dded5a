"""Pre-flight: every check that can fail runs before the instance is stopped."""

from __future__ import annotations

import json

import pytest
from helpers import refused

from prism_core.aws.tags import tags_of
from prism_core.save import pipeline


def test_instance_store_root_is_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("ephemeral", instance_store_root=True)
    refused(run_prism("save", "ephemeral", "env1", "--yes"), "instance-store root volume")


def test_one_time_spot_is_refused_with_stop_only(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("cheap", spot=True)
    refused(run_prism("save", "cheap", "env1", "--stop", "--yes"), "save it without --stop")
    result = run_prism("save", "cheap", "env1", "--yes")  # EC2's reboot is fine for Spot
    assert result.exit_code == 0, result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_ami_name_taken_in_a_copy_region(prism_sandbox, run_prism, monkeypatch):
    monkeypatch.setattr(pipeline, "utc_now", lambda: "2026-01-02T03:04:05Z")
    other = prism_sandbox.create_instance("other", region="us-east-2")
    prism_sandbox.ec2("us-east-2").create_image(
        InstanceId=other, Name="prism-env1-v1-20260102T030405Z"
    )
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    refused(result, "already exists in us-east-2")
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_unauthorized_dry_run_is_refused(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "CopyImage",
        region="eu-west-1",
        code="UnauthorizedOperation",
        message="You are not authorized",
        status=403,
        dry_run=True,
    )
    result = run_prism("save", "box", "env1", "--copy-to-regions", "eu-west-1", "--yes")
    refused(result, "you may not copy an image in eu-west-1")
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_aws_managed_key_cannot_be_shared(prism_sandbox, run_prism):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    instance_id = prism_sandbox.create_instance("secret", encrypted=True)
    described = prism_sandbox.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    volume_id = described["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    key_arn = prism_sandbox.ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["KmsKeyId"]
    key = kms_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].keys[key_arn.rsplit("/", 1)[-1]]
    key.key_manager = "AWS"  # what EC2's default aws/ebs key is; moto's is customer-managed
    result = run_prism("save", "secret", "env1", "--share-with", "111122223333", "--yes")
    refused(result, "AWS-managed EBS key")


def test_encrypted_instance_saves_and_copies_encrypted(prism_sandbox, run_prism):
    prism_sandbox.create_instance("secret", encrypted=True)
    result = run_prism("save", "secret", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 0, result.stderr
    (copy,) = prism_sandbox.own_images("us-east-2")
    snapshot_id = copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    east2 = prism_sandbox.ec2("us-east-2")
    snapshot = east2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snapshot["Encrypted"] is True


def test_second_save_of_the_same_instance_is_refused(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    holder = {"save_id": "env0-20260101-abc", "host": "laptop", "started_at": "2026-01-01"}
    prism_sandbox.client("ssm").put_parameter(
        Name=f"/prism/locks/{instance_id}", Value=json.dumps({"claim": holder}), Type="String"
    )
    result = run_prism("save", "box", "env1", "--yes")
    refused(result, "being saved already: save env0-20260101-abc on host laptop")
    assert f"aws ssm delete-parameter --region us-east-1 --name /prism/locks/{instance_id}" in (
        result.stderr
    )
    assert prism_sandbox.own_images() == []


def test_stale_lock_of_a_finished_save_is_cleared(prism_sandbox, run_prism):
    import os
    import socket

    instance_id = prism_sandbox.create_instance("box")
    holder = {  # this machine, this PRISM_HOME, and no journal: that save finished
        "save_id": "env0-20260101-abc",
        "host": socket.gethostname(),
        "home": os.environ["PRISM_HOME"],
    }
    prism_sandbox.client("ssm").put_parameter(
        Name=f"/prism/locks/{instance_id}", Value=json.dumps({"claim": holder}), Type="String"
    )
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    names = [
        p["Name"]
        for p in prism_sandbox.client("ssm").describe_parameters()["Parameters"]
        if "/locks/" in p["Name"]
    ]
    assert names == []


def test_lock_is_taken_during_the_save_and_released(prism_sandbox, run_prism, prism_plugin):
    from prism_core import hookimpl

    instance_id = prism_sandbox.create_instance("box")
    seen = {}

    class Peek:
        @hookimpl
        def prism_register(self, ctx):
            seen.update(tags_of(prism_sandbox.instance(instance_id)))
            ssm = prism_sandbox.client("ssm")
            seen["ssm"] = ssm.get_parameter(Name=f"/prism/locks/{instance_id}")["Parameter"][
                "Value"
            ]

    prism_plugin(Peek(), "peek")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    assert seen["prism:save-lock"].startswith("env1-")
    assert json.loads(seen["ssm"])["claim"]["save_id"] == seen["prism:save-lock"].split("@")[0]
    assert "prism:save-lock" not in tags_of(prism_sandbox.instance(instance_id))


@pytest.mark.parametrize("flag", [[], ["--no-reboot"]])
def test_dry_run_shows_the_plan(prism_sandbox, run_prism, flag):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--dry-run", *flag)
    assert result.exit_code == 0, result.stderr
    assert "every check passed" in result.stdout
    assert "us-east-1, us-east-2" in result.stdout
    assert ("--no-reboot" in result.stdout) == bool(flag)


def test_unauthorized_share_is_refused(prism_sandbox, run_prism):
    """The DryRun asks about an image prism saved in the region before (the policy lets
    prism share only its own); the first save to a region notes it cannot ask yet."""
    instance_id = prism_sandbox.create_instance("box")
    share = ("--copy-to-regions", "us-east-2", "--share-with", "111122223333")
    plan = run_prism("save", "box", "env0", *share, "--dry-run", "-o", "json")
    assert plan.exit_code == 0, plan.stderr
    assert any("sharing permission in us-east-2 is checked when the image exists" in line
               for line in plan.json()["plan"])
    first = run_prism("save", "box", "env0", "--copy-to-regions", "us-east-2", "--yes")
    assert first.exit_code == 0, first.stderr
    prism_sandbox.faults.inject("ModifyImageAttribute", region="us-east-2",
                                code="UnauthorizedOperation", message="not allowed", status=403,
                                dry_run=True)
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2",
                       "--share-with", "111122223333", "--yes")
    refused(result, "you may not share images in us-east-2")
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_just_created_ami_briefly_invisible(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.invisible_image(times=3)
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert len(prism_sandbox.own_images()) == 1  # retried reads, never a second CreateImage


def test_files_are_private(prism_sandbox, run_prism):
    import os
    import stat
    from pathlib import Path

    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    home = Path(os.environ["PRISM_HOME"])
    for path in [home, home / "templates", home / "templates" / "env1.yaml"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def _customer_key(prism_sandbox, region: str) -> str:
    kms = prism_sandbox.client("kms", region)
    return str(kms.create_key(Description="images")["KeyMetadata"]["Arn"])


def test_sharing_an_encrypted_image_lets_the_accounts_read_its_snapshots(prism_sandbox, run_prism):
    import json

    prism_sandbox.create_instance("secret", encrypted=True)
    key = _customer_key(prism_sandbox, "us-east-2")
    prism_sandbox.write_config(f"prism:\n  kms_keys:\n    us-east-2: {key}\n")
    result = run_prism(
        "save",
        "secret",
        "env1",
        "--copy-to-regions",
        "us-east-2",
        "--share-with",
        "111122223333,arn:aws:organizations::123456789012:organization/o-abcdefghij",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    (note,) = [line for line in result.stderr.splitlines() if "in us-east-2 uses KMS key" in line]
    assert f"the encrypted image in us-east-2 uses KMS key {key}" in note
    statements = json.loads(note.split("add these statements: ")[-1])
    assert statements[0]["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]}
    assert statements[1]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert statements[2]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ["o-abcdefghij"]}}
    for region in ("us-east-1", "us-east-2"):
        (image,) = prism_sandbox.own_images(region)
        ec2 = prism_sandbox.ec2(region)
        for mapping in image["BlockDeviceMappings"]:
            allowed = ec2.describe_snapshot_attribute(
                SnapshotId=mapping["Ebs"]["SnapshotId"], Attribute="createVolumePermission"
            )["CreateVolumePermissions"]
            assert allowed == [{"UserId": "111122223333"}], region


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--public"], "an image whose snapshots are encrypted cannot be made public"),
        (
            ["--share-with", "111122223333", "--copy-to-regions", "eu-west-1"],
            "the copies in eu-west-1 would be encrypted with that region's AWS-managed key",
        ),
    ],
)
def test_encrypted_shares_that_cannot_work_are_refused(prism_sandbox, run_prism, args, message):
    instance_id = prism_sandbox.create_instance("secret", encrypted=True)
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "secret", "env1", *args, "--yes")
    refused(result, message)
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "CreateImage"]
