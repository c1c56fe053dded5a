"""prism-cost-tags through the real CLI on prism's sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prism_core.plugin_api import tags_of

CONFIG = """
cost-tags:
  projects:
    quake: {cost_centre: GEO-1}
  prices:
    us-east-1: 0.10
"""


@pytest.fixture
def configured(prism_sandbox):
    prism_sandbox.write_config(CONFIG)
    return prism_sandbox


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
        ec2 = configured.ec2(region)
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        assert tags_of(image)["prism:cost-centre"] == "GEO-1"
        snap_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
        assert snap_ids
        for snap in ec2.describe_snapshots(SnapshotIds=snap_ids)["Snapshots"]:
            assert tags_of(snap)["prism:project"] == "quake"
            assert tags_of(snap)["prism:cost-centre"] == "GEO-1"
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


def test_an_unmapped_project_is_tagged_and_estimated(configured, run_prism):
    """Installing cost-tags never makes a save that plain prism accepts fail."""
    configured.create_instance("box", volume_size_gb=30)
    result = run_prism("save", "box", "env", "--project", "nope", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    image_id = result.json()["amis"]["us-east-1"]
    image = configured.ec2().describe_images(ImageIds=[image_id])["Images"][0]
    assert tags_of(image)["prism:project"] == "nope" and "prism:cost-centre" not in tags_of(image)
    template = yaml.safe_load(Path(result.json()["template_path"]).read_text())
    assert template["cost"] == {"storage_usd_per_month": 3.0, "storage_gb": 30}


def test_unknown_project_is_refused_only_when_required(configured, run_prism):
    configured.write_config(CONFIG + "  require_cost_centre: true\n")
    configured.create_instance("box")
    result = run_prism("save", "box", "env", "--project", "nope", "--yes")
    assert result.exit_code == 2
    assert "nope" in result.stderr and "quake" in result.stderr
    assert configured.own_images() == []


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


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ("prices: {us-east-1: .inf}", "cost-tags.prices.us-east-1"),
        ("prices: {us-east-1: -1}", "cost-tags.prices.us-east-1"),
        ('projects: {quake: {cost_centre: "GEO\\u001b[2J"}}', "cost_centre"),
        ("projects: {quake: {cost_centre: " + "x" * 300 + "}}", "cost_centre"),
        ("projects: {'bad project!': {cost_centre: GEO}}", "cost-tags.projects"),
    ],
)
def test_names_and_prices_are_checked_when_the_config_loads(
    prism_sandbox, run_prism, config, where
):
    prism_sandbox.write_config(f"cost-tags:\n  {config}\n")
    result = run_prism("project", "costs", "quake", "--regions", "us-east-1")
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and where in result.stderr


def test_too_many_tags_are_refused_in_preflight(configured, run_prism):
    instance = configured.create_instance("box")
    tags = [arg for i in range(42) for arg in ("--tag", f"k{i}=v")]
    result = run_prism("save", "box", "env", "--project", "quake", "--yes", *tags)
    assert result.exit_code == 2
    assert "51 tags" in result.stderr and "EC2 allows 50" in result.stderr
    assert configured.ec2().describe_images(Owners=["self"])["Images"] == []
    assert configured.instance_state(instance) == "running"


def test_project_costs_reports_failed_regions_beside_partial_totals(prism_sandbox, run_prism):
    # two attempts per call: the throttled region gives up without minutes of back-off
    configured = prism_sandbox
    configured.write_config(CONFIG + "prism:\n  max_attempts: 2\n")
    configured.create_instance("box", volume_size_gb=30)
    saved = run_prism("save", "box", "env", "--project", "quake", "--yes")
    assert saved.exit_code == 0, saved.stderr
    regions = configured.ec2().describe_regions()["Regions"]
    assert len(regions) >= 30
    configured.faults.inject(
        "DescribeImages",
        region="eu-west-3",
        times=-1,
        code="RequestLimitExceeded",
        message="Request limit exceeded.",
        status=503,
    )
    configured.faults.inject(
        "DescribeImages",
        region="ap-south-1",
        times=-1,
        code="UnauthorizedOperation",
        message="denied by a service control policy",
        status=403,
    )
    result = run_prism("project", "costs", "quake", "-o", "json")
    assert result.exit_code == 3, result.stderr
    data = result.json()
    assert data["complete"] is False and data["usd_per_month"] == 3.0
    assert set(data["regions"]) == {"us-east-1"}
    assert data["failed_regions"]["eu-west-3"]["kind"] == "throttled"
    assert data["failed_regions"]["ap-south-1"]["kind"] == "denied"
    assert set(data["failed_regions"]) == {"eu-west-3", "ap-south-1"}
    text = run_prism("project", "costs", "quake")
    assert text.exit_code == 3
    assert "partial" in text.stdout and "eu-west-3: throttled" in text.stdout
    assert "ap-south-1: denied" in text.stdout


def test_bad_price_config_is_one_line(prism_sandbox, run_prism):
    prism_sandbox.write_config("cost-tags:\n  prices: {us-east-1: cheap}\n")
    result = run_prism("project", "costs", "quake", "--regions", "us-east-1")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cost-tags.prices" in result.stderr


def _estimates(text: str) -> list[str]:
    """Every line of ``text`` that estimates storage cost (a price per month)."""
    return [line for line in text.splitlines() if "/month" in line]


def test_the_plan_shows_one_storage_estimate_with_these_prices(configured, run_prism):
    """prism's one `Storage:` line, priced per region by this plugin (us-east-1 0.10 from
    the config, us-west-1 0.055 from the shipped table): 30 x 0.10 + 30 x 0.055."""
    configured.create_instance("box", volume_size_gb=30)
    args = ("save", "box", "env", "--project", "quake", "--copy-to-regions", "us-west-1")
    result = run_prism(*args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    estimates = _estimates(result.stdout + result.stderr)
    assert len(estimates) == 1, estimates
    assert estimates[0].startswith("Storage:    up to $4.65/month")
    assert "prices from plugin cost-tags" in estimates[0]
    estimate = run_prism(*args, "--dry-run", "-o", "json").json()["storage_estimate"]
    assert estimate["price_per_gb_month_usd_by_region"] == {"us-east-1": 0.1, "us-west-1": 0.055}
    assert estimate["prices_from"] == "plugin cost-tags"
    assert estimate["monthly_usd_upper_bound"] == 4.65
    # the save itself: the plan (on stderr) has one estimate, the summary one line of
    # what the snapshots made cost
    done = run_prism(*args, "--yes")
    assert done.exit_code == 0, done.stderr
    assert len([line for line in _estimates(done.stderr) if "Storage:" in line]) == 1
    assert len(_estimates(done.stderr + done.stdout)) == 2


def test_without_the_plugin_the_estimate_uses_prisms_price(
    configured, run_prism, prism_only_plugins
):
    prism_only_plugins()  # the built-ins only
    configured.create_instance("box", volume_size_gb=30)
    args = ("save", "box", "env", "--copy-to-regions", "us-west-1", "--dry-run")
    result = run_prism(*args)
    assert result.exit_code == 0, result.stderr
    estimates = _estimates(result.stdout + result.stderr)
    assert estimates == [
        "Storage:    up to $3.00/month to keep (30 GB x $0.05 per GB-month x 2 region(s); "
        "an upper bound, snapshots are incremental)"
    ]
    estimate = run_prism(*args, "-o", "json").json()["storage_estimate"]
    assert estimate["prices_from"] == "prism's default"
    assert estimate["price_per_gb_month_usd_by_region"] == {"us-east-1": 0.05, "us-west-1": 0.05}


def test_iam_policy_lets_cost_tags_tag_only_prisms_images(configured, run_prism):
    """The save's CreateTags of the cost centre is allowed (checked after every test of
    this suite) only on images and snapshots with prism's save id, and only those keys."""
    statements = run_prism("iam-policy", "--for", "save").json()["Statement"]
    (tagging,) = [s for s in statements if s["Sid"] == "CostTagsTagSavedImages"]
    assert tagging["Condition"]["Null"]["aws:ResourceTag/prism:save-id"] == "false"
    keys = tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert keys == ["prism:project", "prism:cost-centre"]
    costs = run_prism("iam-policy", "--for", "project").json()["Statement"]
    assert [s["Sid"] for s in costs] == ["CostTagsProjectCosts"]
    configured.create_instance("box")
    configured.faults.clear_calls()
    assert run_prism("save", "box", "env", "--project", "quake", "--yes").exit_code == 0
    tags = [
        a
        for a in configured.faults.authorizations()
        if a.call == "ec2:CreateTags" and ":instance/" not in a.resource  # not the save lock
    ]
    assert tags and all(a.context["aws:ResourceTag/prism:save-id"] for a in tags)
