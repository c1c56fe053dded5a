"""Each step failing on the wire: the instance ends running, good regions are kept and
reported, the exit code says partial or failed, and a second run after the cause is
removed succeeds. (Each phase failing by its row's policy, interrupted and resumed, with
no AWS error involved: tests/unit/test_pipeline_seam.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from prism_core.templates.document import load_file
from prism_sandbox import Timings

REGIONS = "us-east-2,eu-west-1,us-west-2"


def _template(sandbox) -> Path:
    return sandbox.prism_home / "templates" / "env1.yaml"


def test_stop_fails(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "StopInstances", code="IncorrectInstanceState", message="instance is busy", status=400
    )
    result = run_prism("save", "box", "env1", "--stop", "--yes")
    assert result.exit_code == 1
    assert "instance is busy" in result.stdout
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.own_images() == [] and prism_sandbox.journals() == []
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0


def test_wait_timeout_then_resume(prism_sandbox, run_prism, monkeypatch):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.timings = Timings(image=2.0)
    monkeypatch.setenv("PRISM_TIMEOUT_IMAGE_SECONDS", "0.3")
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 1
    assert "timed out after 0.3s waiting for image ami-" in result.stdout
    assert "prism save --resume" in result.stdout
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert len(prism_sandbox.own_images()) == 1  # the pending image is kept, recorded, resumable
    prism_sandbox.timings = Timings.fast()
    monkeypatch.delenv("PRISM_TIMEOUT_IMAGE_SECONDS")
    second = run_prism("save", "--resume", "--yes")
    assert second.exit_code == 0, second.stderr
    assert len(prism_sandbox.own_images()) == 1 and _template(prism_sandbox).exists()


def test_copy_fails_in_one_of_three_regions_then_resume(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "CopyImage",
        region="eu-west-1",
        times=-1,
        code="InvalidRequest",
        message="copy refused",
        status=400,
    )
    result = run_prism("save", "box", "env1", "--copy-to-regions", REGIONS, "--yes", "-o", "json")
    assert result.exit_code == 3, result.stderr
    kept = {"us-east-1", "us-east-2", "us-west-2"}
    assert set(result.json()["amis"]) == kept
    assert any("eu-west-1" in f and "copy refused" in f for f in result.json()["failures"])
    assert set(load_file(_template(prism_sandbox))["ami_config"]["amis"]) == kept
    assert prism_sandbox.instance_state(instance_id) == "running"
    prism_sandbox.faults.clear()
    second = run_prism("save", "--resume", "--yes", "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert set(second.json()["resumed"][0]["amis"]) == {"us-east-1", *REGIONS.split(",")}
    amis = load_file(_template(prism_sandbox))["ami_config"]["amis"]
    assert set(amis) == {"us-east-1", *REGIONS.split(",")}
    for region in REGIONS.split(","):
        assert len(prism_sandbox.own_images(region)) == 1, region


def test_copy_ends_failed_in_one_region(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.fail_image(region="us-west-2", reason="Server.InternalError: copy broke")
    result = run_prism("save", "box", "env1", "--copy-to-regions", REGIONS, "--yes", "-o", "json")
    assert result.exit_code == 3
    assert any("copy broke" in f for f in result.json()["failures"])
    assert set(result.json()["amis"]) == {"us-east-1", "us-east-2", "eu-west-1"}


def test_share_fails_in_one_region_then_resume(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "ModifyImageAttribute",
        region="us-east-2",
        code="InvalidParameter",
        message="share refused",
        status=400,
    )
    result = run_prism(
        "save",
        "box",
        "env1",
        "--copy-to-regions",
        "us-east-2",
        "--share-with",
        "111122223333",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 3
    assert any("share refused" in f for f in result.json()["failures"])
    assert set(result.json()["amis"]) == {"us-east-1", "us-east-2"}  # the AMI is not lost
    second = run_prism("save", "--resume", "--yes")
    assert second.exit_code == 0, second.stderr
    (copy,) = prism_sandbox.own_images("us-east-2")
    permissions = prism_sandbox.ec2("us-east-2").describe_image_attribute(
        ImageId=copy["ImageId"], Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": "111122223333"} in permissions


def test_registry_write_fails_then_resume(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "PutParameter",
        region="us-east-2",
        code="AccessDeniedException",
        message="no ssm for you",
        status=400,
        times=2,  # the version claim there (skipped, warned), then the registry write
    )
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 3
    assert "no ssm for you" in result.stdout and _template(prism_sandbox).exists()
    assert run_prism("save", "--resume", "--yes").exit_code == 0


@pytest.mark.parametrize("copies", ["", REGIONS])
def test_abort_removes_everything_in_every_region(prism_sandbox, run_prism, copies):
    from test_plugins import _raiser

    from prism_core.testing import EXTRA_PLUGINS

    instance_id = prism_sandbox.create_instance("box")
    EXTRA_PLUGINS.append(("flaky", _raiser("prism_template_render")))
    try:
        args = ["--copy-to-regions", copies] if copies else []
        assert run_prism("save", "box", "env1", *args, "--yes").exit_code == 1
    finally:
        EXTRA_PLUGINS.pop()
    regions = ["us-east-1", *filter(None, copies.split(","))]
    assert all(len(prism_sandbox.own_images(r)) == 1 for r in regions)
    result = run_prism("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    for region in regions:
        assert prism_sandbox.own_images(region) == [], region
        snapshots = prism_sandbox.ec2(region).describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": ["prism:template"]}]
        )["Snapshots"]
        assert snapshots == [], region
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.journals() == []
    assert not _template(prism_sandbox).exists()


def test_create_image_response_lost_is_adopted_not_duplicated(prism_sandbox, run_prism,
                                                              monkeypatch):
    """The first CreateImage succeeds but its answer is lost (a RequestTimeout); botocore
    retries, EC2 answers InvalidAMIName.Duplicate, and prism adopts its own image."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image
    calls = []

    def create_then_fail(self, *args, **kwargs):
        image = original(self, *args, **kwargs)
        calls.append(image.id)
        if len(calls) == 1:
            raise EC2ClientError("RequestTimeout", "the answer was lost after the image was made")
        return image

    monkeypatch.setattr(AmiBackend, "create_image", create_then_fail)
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (image,) = prism_sandbox.own_images()
    assert result.json()["amis"]["us-east-1"] == image["ImageId"] == calls[0]
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_lock_refused_changes_nothing(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject("CreateTags", code="UnauthorizedOperation",
                                message="no tagging for you", status=403)
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("prism: error: could not tag instance")
    assert "no tagging for you" in last and "nothing was changed" in last
    assert "Traceback" not in result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.own_images() == [] and prism_sandbox.journals() == []
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0


def test_tagging_permission_is_checked_before_the_plan(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject("CreateTags", code="UnauthorizedOperation",
                                message="no tagging", status=403, dry_run=True)
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "prism: error: you may not tag the instance in us-east-1 (UnauthorizedOperation): "
        "ask your AWS administrator for the permission, or use another profile"
    ]


def test_resumed_copy_of_an_encrypted_instance_uses_the_configured_key(prism_sandbox,
                                                                       run_prism):
    import boto3

    key = boto3.client("kms", region_name="us-east-2").create_key()["KeyMetadata"]["Arn"]
    home = prism_sandbox.prism_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(f"prism:\n  kms_keys:\n    us-east-2: {key}\n")
    prism_sandbox.create_instance("secret", encrypted=True)
    prism_sandbox.faults.inject("CopyImage", region="us-east-2", code="InvalidRequest",
                                message="copy refused", status=400)
    first = run_prism("save", "secret", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert first.exit_code == 3
    assert run_prism("save", "--resume", "--yes").exit_code == 0
    (copy,) = prism_sandbox.own_images("us-east-2")
    snapshot_id = copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    east2 = prism_sandbox.ec2("us-east-2")
    snapshot = east2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snapshot["Encrypted"] is True
    assert snapshot["KmsKeyId"] == key
