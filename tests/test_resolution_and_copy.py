"""``NAME`` means the newest registered version for everyone; a region without its image
is refused naming the newest version there and how to copy; ``templates copy`` and
``launch --copy`` copy a version and register it there."""

from __future__ import annotations

import pytest
from helpers import refused


@pytest.fixture
def two_versions(prism_sandbox, run_prism):
    """my-env v1 in us-east-1, us-east-2 and us-west-1; v2 in us-east-1 only."""
    prism_sandbox.create_instance("box")
    first = run_prism("save", "box", "my-env", "--copy-to-regions", "us-east-2,us-west-1",
                      "--yes")
    assert first.exit_code == 0, first.stderr
    second = run_prism("save", "box", "my-env", "--copy-to-regions", "none", "--yes")
    assert second.exit_code == 0, second.stderr


@pytest.mark.parametrize("who", ["author", "teammate"])
def test_name_means_the_newest_version_for_everyone(two_versions, run_prism, who, tmp_path,
                                                    monkeypatch):
    if who == "teammate":
        monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    refused(
        run_prism("launch", "my-env", "far-box", "--region", "us-west-1", "--yes"),
        "template my-env v2 (the newest) has no image in us-west-1",
        "the newest version there is v1", "prism launch my-env@1",
        "prism templates copy my-env@2 --to-regions us-west-1", "--copy",
    )
    older = run_prism("launch", "my-env@1", "far-box", "--region", "us-west-1", "--yes",
                      "-o", "json")
    assert older.exit_code == 0, older.stderr
    assert older.json()["template_version"] == 1
    here = run_prism("launch", "my-env", "near-box", "--yes", "-o", "json")
    assert here.exit_code == 0 and here.json()["template_version"] == 2


def test_templates_copy_registers_the_version_there(two_versions, prism_sandbox, run_prism,
                                                    tmp_path, monkeypatch):
    refused(run_prism("templates", "copy", "my-env", "--to-regions", "us-west-1", "--yes"),
            "my-env@N")
    refused(run_prism("templates", "copy", "my-env@2", "--to-regions", "us-east-1", "--yes"),
            "already has an image in us-east-1")
    dry = run_prism("templates", "copy", "my-env@2", "--to-regions", "us-west-1", "--dry-run")
    assert dry.exit_code == 0 and "Copies to:  us-west-1" in dry.stderr
    assert len(prism_sandbox.own_images("us-west-1")) == 1  # v1 only: the dry run copied nothing
    copied = run_prism("templates", "copy", "my-env@2", "--to-regions", "us-west-1", "--yes",
                       "-o", "json")
    assert copied.exit_code == 0, copied.stderr
    image_id = copied.json()["amis"]["us-west-1"]["x86_64"]
    assert "AMI copied to region us-west-1" in copied.stderr
    image = prism_sandbox.ec2("us-west-1").describe_images(ImageIds=[image_id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
    assert tags["prism:template"] == "my-env" and tags["prism:version"] == "2"
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    launched = run_prism("launch", "my-env", "far-box", "--region", "us-west-1", "--yes",
                         "-o", "json")
    assert launched.exit_code == 0, launched.stderr
    assert launched.json()["template_version"] == 2 and launched.json()["image_id"] == image_id


def test_launch_copy_copies_then_launches(two_versions, prism_sandbox, run_prism):
    result = run_prism("launch", "my-env", "copied-box", "--region", "us-east-2", "--copy",
                       "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["template_version"] == 2 and doc["region"] == "us-east-2"
    assert "AMI copied to region us-east-2" in result.stderr
    assert doc["image_id"] in {i["ImageId"] for i in prism_sandbox.own_images("us-east-2")}
