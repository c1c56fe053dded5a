"""`prism templates export --launch-template` and channels bound to launch templates,
through the real CLI (EC2's `resolve:ssm:` emulated in tests/ec2_resolve.py)."""

from __future__ import annotations

import base64
from typing import Any

from ec2_resolve import resolving_run_instances
from helpers import refused


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def versions(sandbox: Any, name: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    ec2 = sandbox.client("ec2", region)
    found = ec2.describe_launch_template_versions(LaunchTemplateName=name)
    return sorted(found["LaunchTemplateVersions"], key=lambda v: v["VersionNumber"])


def default_version(sandbox: Any, name: str, region: str = "us-east-1") -> int:
    ec2 = sandbox.client("ec2", region)
    record = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]
    return int(record["DefaultVersionNumber"])


def tags(data: dict[str, Any], kind: str) -> dict[str, str]:
    for spec in data["TagSpecifications"]:
        if spec["ResourceType"] == kind:
            return {t["Key"]: t["Value"] for t in spec["Tags"]}
    return {}


def test_bound_launch_template_follows_two_saves_and_a_promote(
    prism_sandbox, run_prism, monkeypatch
):
    prism_sandbox.create_instance("box")
    first = ok(
        run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json")
    ).json()["amis"]
    ok(run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes"))

    dry = ok(run_prism("templates", "export", "env1", "--launch-template", "--channel", "stable",
                       "--dry-run"))
    assert "nothing was changed" in dry.stdout and "create it" in dry.stderr
    assert prism_sandbox.client("ec2").describe_launch_templates()["LaunchTemplates"] == []

    exported = ok(run_prism(
        "templates", "export", "env1", "--launch-template", "--channel", "stable",
        "--yes", "-o", "json",
    )).json()
    assert exported["launch_template"] == "env1" and exported["alias"] == "stable"
    for region in ("us-east-1", "us-east-2"):
        [only] = versions(prism_sandbox, "env1", region)
        data = only["LaunchTemplateData"]
        assert data["ImageId"] == "resolve:ssm:/prism/images/env1/stable"
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert tags(data, "instance")["prism:template"] == "env1"
        assert tags(data, "instance")["prism:template-version"] == "1"

    # a second save changes nothing in the launch template: the channel did not move.
    # --no-inherit: v2 stays out of us-east-2 (it would inherit v1's copy regions)
    second = ok(
        run_prism("save", "box", "env1", "--no-inherit", "--yes", "-o", "json")
    ).json()["amis"]
    assert set(second) == {"us-east-1"}
    assert len(versions(prism_sandbox, "env1")) == 1

    promoted = ok(run_prism("templates", "promote", "env1@2", "--channel", "stable", "--yes"))
    assert "env1 (lt-" in promoted.stdout
    lt_versions = versions(prism_sandbox, "env1")
    assert [v["VersionNumber"] for v in lt_versions] == [1, 2]
    assert default_version(prism_sandbox, "env1") == 2
    newest = lt_versions[-1]["LaunchTemplateData"]
    assert newest["ImageId"] == "resolve:ssm:/prism/images/env1/stable"
    assert tags(newest, "volume")["prism:template-version"] == "2"
    # v2 has no copy in us-east-2: the channel moved only where v2 is registered
    assert len(versions(prism_sandbox, "env1", "us-east-2")) == 1

    # another tool launches from the launch template; EC2 resolves the parameter
    resolving_run_instances(monkeypatch)
    ec2 = prism_sandbox.client("ec2")
    launched = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "env1"},
                                 MinCount=1, MaxCount=1)["Instances"][0]
    assert launched["ImageId"] == second["us-east-1"]
    ec2_2 = prism_sandbox.client("ec2", "us-east-2")
    launched = ec2_2.run_instances(LaunchTemplate={"LaunchTemplateName": "env1"},
                                   MinCount=1, MaxCount=1)["Instances"][0]
    assert launched["ImageId"] == first["us-east-2"]

    # a pinned export: the AMI id itself, a new version, made the default on request
    ok(run_prism("templates", "export", "env1@1", "--launch-template", "env1", "--pin-image",
                 "--regions", "us-east-1", "--set-default", "--yes"))
    pinned = versions(prism_sandbox, "env1")[-1]
    assert pinned["VersionNumber"] == 3 and default_version(prism_sandbox, "env1") == 3
    assert pinned["LaunchTemplateData"]["ImageId"] == first["us-east-1"]


def test_an_inherited_copy_region_moves_the_bound_launch_template_there(prism_sandbox, run_prism):
    """v2 inherits v1's copy regions (issue 28), so promoting it moves the bound launch
    template in each of them: one new version per region, tagged with v2."""
    prism_sandbox.create_instance("box")
    ok(run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes"))
    ok(run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes"))
    ok(run_prism("templates", "export", "env1", "--launch-template", "--channel", "stable",
                 "--yes"))
    second = ok(run_prism("save", "box", "env1", "--yes", "-o", "json")).json()["amis"]
    assert set(second) == {"us-east-1", "us-east-2"}
    ok(run_prism("templates", "promote", "env1@2", "--channel", "stable", "--yes"))
    for region in ("us-east-1", "us-east-2"):
        lt_versions = versions(prism_sandbox, "env1", region)
        assert [v["VersionNumber"] for v in lt_versions] == [1, 2]
        assert default_version(prism_sandbox, "env1", region) == 2
        assert tags(lt_versions[-1]["LaunchTemplateData"], "instance")[
            "prism:template-version"] == "2"


def test_export_refusals_change_nothing(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    ok(run_prism("save", "box", "env1", "--yes"))
    ec2 = prism_sandbox.client("ec2")
    ec2.create_launch_template(LaunchTemplateName="theirs",
                               LaunchTemplateData={"InstanceType": "t3.micro"})
    cases = [
        (("templates", "export", "env1", "--yes"), "--launch-template"),
        (("templates", "export", "env1", "--launch-template", "theirs", "--yes"), "not made by"),
        (("templates", "export", "env1", "--launch-template", "a b", "--yes"), "launch template"),
        (("templates", "export", "env1", "--launch-template", "--regions", "us-west-2", "--yes"),
         "no image in us-west-2"),
        (("templates", "export", "env1@1", "--launch-template", "--channel", "stable", "--yes"),
         "--channel"),
        (("templates", "export", "env1@stable", "--launch-template", "--yes"), "no channel"),
    ]
    for args, text in cases:
        refused(run_prism(*args), text)
    assert [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]] \
        == ["theirs"]


PACKAGE_TEMPLATE = """\
name: Lab Tools
slug: lab-tools
description: Ubuntu with the lab's tools
base: ubuntu-22.04
package_manager: apt
packages: {system: [htop, jq]}
"""


def test_package_based_and_public_parameter_templates(prism_sandbox, run_prism):
    from prism_core.cli.sandbox_seed import builtin_image_parameters

    prism_sandbox.publish_base_images(builtin_image_parameters(), ["us-east-1", "us-east-2"])
    folder = prism_sandbox.prism_home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lab-tools.yml").write_text(PACKAGE_TEMPLATE)
    result = ok(run_prism("templates", "export", "lab-tools", "--launch-template",
                          "--yes", "-o", "json"))
    assert result.json()["images"]["us-east-1"].startswith("resolve:ssm:/aws/service/canonical/")
    data = versions(prism_sandbox, "lab-tools")[0]["LaunchTemplateData"]
    script = base64.b64decode(data["UserData"]).decode()
    assert script.startswith("#!") and "htop" in script
    assert data["MetadataOptions"]["HttpTokens"] == "required"

    built_in = ok(run_prism("templates", "export", "python-ml", "--launch-template",
                            "--regions", "us-east-2", "--yes", "-o", "json")).json()
    assert built_in["images"]["us-east-2"].startswith("resolve:ssm:/aws/service/canonical/")
    data = versions(prism_sandbox, "python-ml", "us-east-2")[0]["LaunchTemplateData"]
    assert data["InstanceType"] == "t3.large"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] >= 50
