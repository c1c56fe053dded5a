"""`prism save` end to end against the sandbox cloud (moto's server over HTTP)."""

from __future__ import annotations

import json

import boto3
import yaml

from prism_core.aws.tags import tags_of
from prism_core.templates.document import load_file

DESCRIPTION = 'He said: "quakes: big" # not a comment\nsecond line'


def test_save_with_two_copy_regions(prism_sandbox, run_prism, tmp_path):
    instance_id = prism_sandbox.create_instance("my-analysis", ports=[22, 8888])
    prism_sandbox.faults.clear_calls()
    result = run_prism(
        "save",
        "my-analysis",
        "seismic-env",
        "--copy-to-regions",
        "us-east-2,eu-west-1",
        "--description",
        DESCRIPTION,
        "--project",
        "quake-study",
        "--tag",
        "team=geo",
        "--tag",
        "cost-centre=42",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"

    amis = {}
    for region in ("us-east-1", "us-east-2", "eu-west-1"):
        images = prism_sandbox.own_images(region)
        assert len(images) == 1, region
        image = images[0]
        amis[region] = image["ImageId"]
        assert image["State"] == "available"
        tags = tags_of(image)
        assert tags["prism:template"] == "seismic-env"
        assert tags["prism:source-instance"] == instance_id
        assert tags["prism:project"] == "quake-study"
        assert tags["team"] == "geo" and tags["cost-centre"] == "42"
        assert tags["prism:saved-date"].endswith("Z")
        for mapping in image["BlockDeviceMappings"]:
            if "Ebs" in mapping:
                snap_tags = prism_sandbox.snapshot_tags(mapping["Ebs"]["SnapshotId"], region)
                assert snap_tags["prism:template"] == "seismic-env", region
                assert snap_tags["team"] == "geo"

    home = prism_sandbox.prism_home
    doc = load_file(home / "templates" / "seismic-env.yaml")
    assert doc["description"] == DESCRIPTION
    assert doc["saved_from"] == "my-analysis"
    assert doc["ami_config"]["amis"] == {r: {"x86_64": a} for r, a in amis.items()}
    assert doc["instance_defaults"]["type"] == "t3.medium"
    assert doc["instance_defaults"]["ports"] == [22, 8888]
    assert doc["project"] == "quake-study"
    assert doc["tags"]["team"] == "geo"
    assert doc["saved_date"].endswith("Z")

    for region in amis:
        ssm = boto3.client("ssm", region_name=region)
        current = ssm.get_parameter(Name="/prism/current/seismic-env")["Parameter"]["Value"]
        version = ssm.get_parameter(Name="/prism/templates/seismic-env/versions/1")
        # the registry holds what the template file holds
        assert json.loads(current) == json.loads(version["Parameter"]["Value"]) == doc

    calls = prism_sandbox.faults.calls()
    # copies are tagged by CopyImage itself (TagSpecifications): no CreateTags there
    assert [r for r, a in calls if a == "CreateTags"] == ["us-east-1"] * 2  # DryRun, lock
    # per region: the version claim, then the version and the current entry, then the AMI
    # parameters images/<name>/1 and /latest; the save lock once, in the source region
    assert sorted(r for r, a in calls if a == "PutParameter") == sorted(
        [*amis, *amis, *amis, *amis, *amis, "us-east-1"]
    )
    assert "prism launch seismic-env" in result.stdout
    assert "us-east-2: " + amis["us-east-2"] in result.stdout
    assert "Traceback" not in result.stderr


def test_ami_save_is_the_same_command_and_json_output(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("ami", "save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["status"] == "done"
    assert document["exit_code"] == 0
    assert set(document["amis"]) == {"us-east-1"}
    assert document["template_path"].endswith("templates/env1.yaml")
    assert document["instance"]["downtime_seconds"] is not None
    assert document["registry"]


def test_yaml_output_parses(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--yes", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["template"] == "env1"


def test_save_by_instance_id(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", instance_id, "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert load_file(prism_sandbox.prism_home / "templates" / "env1.yaml")["saved_from"] == "box"


def test_already_stopped_instance_stays_stopped(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("cold", state="stopped")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "cold", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert prism_sandbox.instance_state(instance_id) == "stopped"
    assert result.json()["instance"]["downtime_seconds"] is None
    calls = [action for _, action in prism_sandbox.faults.calls()]
    assert "StopInstances" not in calls and "StartInstances" not in calls


def test_no_reboot_never_stops(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("hot")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "hot", "env1", "--no-reboot", "--yes")
    assert result.exit_code == 0, result.stderr
    calls = [action for _, action in prism_sandbox.faults.calls()]
    assert "StopInstances" not in calls
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_public_and_share_with_in_every_region(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    org = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
    result = run_prism(
        "save",
        "box",
        "shared-env",
        "--copy-to-regions",
        "us-west-2",
        "--public",
        "--share-with",
        f"111122223333,{org}",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    for region in ("us-east-1", "us-west-2"):
        (image,) = prism_sandbox.own_images(region)
        attribute = prism_sandbox.ec2(region).describe_image_attribute(
            ImageId=image["ImageId"], Attribute="launchPermission"
        )
        permissions = attribute["LaunchPermissions"]
        assert {"Group": "all"} in permissions, region
        assert {"UserId": "111122223333"} in permissions, region
        assert {"OrganizationArn": org} in permissions, region


def test_public_refused_when_block_public_access_is_on(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.set_block_public_access("us-west-2", True)
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-west-2", "--public", "--yes")
    assert result.exit_code == 2
    assert "block public access" in result.stderr and "us-west-2" in result.stderr
    assert prism_sandbox.own_images("us-east-1") == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_failing_create_image(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "CreateImage",
        times=-1,
        code="InvalidParameterValue",
        message="EC2 is having a bad day",
        status=400,
    )
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 1
    assert "EC2 is having a bad day" in result.stdout + result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.own_images() == []
    assert "Traceback" not in result.stderr


def test_image_ending_failed_reports_state_reason(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.fail_image(reason="Client.VolumeError: volume vol-1 is corrupted")
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 1
    assert "volume vol-1 is corrupted" in result.stdout
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert [i for i in prism_sandbox.own_images() if i["State"] != "deregistered"] == []
    assert prism_sandbox.own_images("us-east-2") == []
    assert not (prism_sandbox.prism_home / "templates" / "env1.yaml").exists()


def test_instance_restarted_before_the_image_is_available(prism_sandbox, run_prism, prism_plugin):
    from prism_core import hookimpl

    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.timings.image = 3.0
    seen = {}

    class Observer:
        @hookimpl(tryfirst=True)
        def prism_post_image(self, ctx):
            image = ctx.source_image()
            images = prism_sandbox.ec2().describe_images(ImageIds=[image.image_id])["Images"]
            seen["image"] = images[0]["State"]
            seen["instance"] = prism_sandbox.instance_state(instance_id)

    prism_plugin(Observer(), "observer")
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert seen["image"] == "pending"
    assert seen["instance"] in ("pending", "running")


def test_unknown_and_ambiguous_instances(prism_sandbox, run_prism):
    prism_sandbox.create_instance("twin")
    prism_sandbox.create_instance("twin")
    result = run_prism("save", "nobody", "env1", "--yes")
    assert result.exit_code == 2 and "no instance named 'nobody'" in result.stderr
    result = run_prism("save", "twin", "env1", "--yes")
    assert result.exit_code == 2
    assert "2 instances are named 'twin'" in result.stderr
    assert result.stderr.count("i-") >= 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_dry_run_changes_nothing(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["dry_run"] is True
    assert prism_sandbox.own_images() == [] and prism_sandbox.own_images("us-east-2") == []
    assert prism_sandbox.instance_state(instance_id) == "running"
    actions = {action for _, action in prism_sandbox.faults.calls()}
    assert not actions & {"StartInstances", "PutParameter", "ModifyImageAttribute"}  # the lock:
    assert "prism:save-lock" not in tags_of(prism_sandbox.instance(instance_id))


def test_non_terminal_without_yes_is_refused(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_throttling_is_retried(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "CopyImage",
        region="us-east-2",
        times=2,
        code="RequestLimitExceeded",
        message="Request limit exceeded.",
        status=503,
    )
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 0, result.stderr
    assert len(prism_sandbox.own_images("us-east-2")) == 1


def test_instance_facts_are_asked_once_per_save(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", encrypted=True)
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 0, result.stderr
    actions = [action for _, action in prism_sandbox.faults.calls()]
    for action in (
        "DescribeVolumes",
        "DescribeSecurityGroups",
        "GetCallerIdentity",
        "DescribeRegions",
        "DescribeInstanceTypes",
    ):
        assert actions.count(action) == 1, (action, actions.count(action))
