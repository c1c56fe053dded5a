"""prism-cost-tags through the real CLI on prism's sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

CONFIG = """
cost-tags:
  projects:
    quake: {cost_centre: GEO-1}
  prices:
    us-east-1: 0.10
"""


@pytest.fixture
def configured(prism_sandbox):
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(CONFIG)
    return prism_sandbox


def _tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_save_tags_everything_and_writes_cost(configured, run_prism):
    configured.create_instance("box", volume_size_gb=30)
    result = run_prism(
        "save",
        "box",
        "env",
        "--project",
        "quake",
        "--copy-to-regions",
        "us-east-2",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    for region, image_id in doc["amis"].items():
        ec2 = configured.client("ec2", region)
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        assert _tags(image)["prism:cost-centre"] == "GEO-1"
        snap_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
        assert snap_ids
        for snap in ec2.describe_snapshots(SnapshotIds=snap_ids)["Snapshots"]:
            assert _tags(snap)["prism:project"] == "quake"
            assert _tags(snap)["prism:cost-centre"] == "GEO-1"
    template = yaml.safe_load(Path(doc["template_path"]).read_text())
    # 30 GB at 0.10 in us-east-1 (config) + 30 GB at 0.05 in us-east-2 (shipped table)
    assert template["cost"] == {
        "storage_usd_per_month": 4.5,
        "storage_gb": 60,
        "cost_centre": "GEO-1",
    }
    assert any("$4.50/month" in n for n in doc["notes"])


def test_plan_shows_cost_centre_and_estimate(configured, run_prism):
    configured.create_instance("box", volume_size_gb=30)
    result = run_prism("save", "box", "env", "--project", "quake", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    plan = "\n".join(result.json()["plan"])
    assert "cost centre GEO-1" in plan and "$3.00/month" in plan


def test_unknown_project_is_refused_before_anything_changes(configured, run_prism):
    configured.create_instance("box")
    result = run_prism("save", "box", "env", "--project", "nope", "--yes")
    assert result.exit_code == 2
    assert "nope" in result.stderr and "quake" in result.stderr
    assert configured.client("ec2").describe_images(Owners=["self"])["Images"] == [] or all(
        "prism:template" not in _tags(i)
        for i in configured.client("ec2").describe_images(Owners=["self"])["Images"]
    )


def test_project_costs_sums_across_regions(configured, run_prism):
    configured.create_instance("box", volume_size_gb=30)
    assert (
        run_prism(
            "save", "box", "env", "--project", "quake", "--copy-to-regions", "us-east-2", "--yes"
        ).exit_code
        == 0
    )
    result = run_prism(
        "project", "costs", "quake", "--regions", "us-east-1,us-east-2,eu-west-1", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert set(data["regions"]) == {"us-east-1", "us-east-2"}
    assert data["usd_per_month"] == 4.5
    text = run_prism("project", "costs", "quake", "--regions", "us-east-1").stdout
    assert "Total for project quake: $3.00/month" in text


def test_bad_price_config_is_one_line(prism_sandbox, run_prism):
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text("cost-tags:\n  prices: {us-east-1: cheap}\n")
    result = run_prism("project", "costs", "quake", "--regions", "us-east-1")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cost-tags.prices" in result.stderr
