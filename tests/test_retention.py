"""Lifecycle policies over simulated time (the images' creation dates are set in moto's
backend): deprecate, disable and delete by age, each exclusion, after a save and with
`templates enforce`, all recorded in `templates history`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import refused


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def age_image(sandbox: Any, image_id: str, days: int, region: str = "us-east-1") -> None:
    """EC2 made the image ``days`` ago (moto's backend, in-process)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[sandbox._account_id()][region]
    backend.amis[image_id].creation_date = datetime.now(UTC) - timedelta(days=days)


def image(sandbox: Any, image_id: str) -> dict[str, Any] | None:
    found = sandbox.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}]
    )["Images"]
    return found[0] if found else None


def test_policy_ages_versions_out_except_held_ones(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    amis = {}
    for version, days in ((1, 400), (2, 200), (3, 120), (4, 100), (5, 0)):
        saved = ok(run_prism("save", "box", "env1", "--yes", "-o", "json")).json()
        amis[version] = saved["amis"]["us-east-1"]
        age_image(prism_sandbox, amis[version], days)

    for args in (("--keep", "0"), ("--max-age", "90x"),
                 ("--max-age", "200d", "--delete-after", "100d")):
        refused(run_prism("templates", "policy", "env1", *args, "--yes"))
    assert "none" in ok(run_prism("templates", "policy", "env1")).stdout
    refused(run_prism("templates", "enforce", "env1", "--yes"), "no lifecycle policy")
    ok(run_prism("templates", "policy", "env1", "--keep", "1", "--max-age", "90d",
                 "--disable-after", "180d", "--delete-after", "365d", "--yes"))
    assert "keep the 1 newest" in ok(run_prism("templates", "policy", "env1")).stdout

    # every exclusion: a channel's target, a protected version, one an instance uses
    ok(run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes"))
    ok(run_prism("templates", "protect", "env1@2", "--yes"))
    ec2 = prism_sandbox.client("ec2")
    user = ec2.run_instances(ImageId=amis[3], MinCount=1, MaxCount=1)["Instances"][0]
    dry = ok(run_prism("templates", "enforce", "env1", "--dry-run", "-o", "json")).json()
    assert dry["dry_run"] is True
    plan = "\n".join(dry["plan"])
    assert "v4 (100 days old): deprecate" in plan
    assert "v1 held: delete due" in plan and "channel stable" in plan
    assert "v2 held: disable due" in plan and "protected" in plan
    assert "v3 held: deprecate due" in plan and user["InstanceId"] in plan
    unconfirmed = run_prism("templates", "enforce", "env1")
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert "DeprecationTime" not in image(prism_sandbox, amis[4])

    done = ok(run_prism("templates", "enforce", "env1", "--yes", "-o", "json")).json()
    assert done["failures"] == []
    assert image(prism_sandbox, amis[4]).get("DeprecationTime")
    for version in (1, 2, 3):
        record = image(prism_sandbox, amis[version])
        assert record["State"] == "available" and not record.get("DeprecationTime"), version

    # the exclusions go: the next save applies the policy (v5 is 95 days old by then)
    ok(run_prism("templates", "demote", "env1", "--channel", "stable", "--yes"))
    ok(run_prism("templates", "unprotect", "env1@2", "--yes"))
    ec2.terminate_instances(InstanceIds=[user["InstanceId"]])
    age_image(prism_sandbox, amis[5], 95)
    sixth = ok(run_prism("save", "box", "env1", "--yes", "-o", "json")).json()
    assert sixth["lifecycle"]["failures"] == []
    assert image(prism_sandbox, amis[1]) is None  # deleted with its snapshots
    # and with its inventory SBOM (its object's tags name v1's save); the others' stay
    s3 = prism_sandbox.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]
                 if b["Name"].startswith("prism-inventory-")]
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == [f"inventory/env1/{v}.cdx.json" for v in range(2, 7)]
    assert f"v1: inventory s3://{bucket}/inventory/env1/1.cdx.json removed" in sixth[
        "lifecycle"]["changed"]
    assert image(prism_sandbox, amis[2])["State"] == "disabled"
    for version in (3, 5):
        assert image(prism_sandbox, amis[version]).get("DeprecationTime"), version
    assert image(prism_sandbox, sixth["amis"]["us-east-1"]).get("DeprecationTime") is None
    ssm = prism_sandbox.client("ssm")
    names = {p["Name"] for p in ssm.get_parameters_by_path(Path="/prism", Recursive=True)[
        "Parameters"]}
    assert "/prism/templates/env1/versions/1" not in names
    assert "/prism/images/env1/1" not in names and "/prism/images/env1/2" not in names
    assert "/prism/images/env1/latest" in names

    history = ok(run_prism("templates", "history", "env1", "-o", "json")).json()
    by_version = {row["version"]: row for row in history["versions"]}
    assert by_version[1]["status"] == ["deleted"]
    assert by_version[1]["lifecycle"][0]["action"] == "deleted"
    assert by_version[2]["lifecycle"][0]["action"] == "disabled"
    assert by_version[4]["lifecycle"][0]["action"] == "deprecated"
    text = ok(run_prism("templates", "history", "env1")).stdout
    assert "lifecycle: deleted" in text and "delete after 365d" in text
    again = ok(run_prism("templates", "enforce", "--all", "--yes"))
    assert "Nothing is due" in again.stdout


def test_recycle_bin_rules_for_the_templates_resources(prism_sandbox, run_prism, monkeypatch):
    from rbin_emulation import emulate_recycle_bin

    rules = emulate_recycle_bin(monkeypatch)  # moto has no Recycle Bin
    prism_sandbox.create_instance("box")
    ok(run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes"))
    dry = ok(run_prism("templates", "policy", "env1", "--keep", "2", "--recycle-bin", "30d",
                       "--dry-run"))
    assert "Recycle Bin" in dry.stderr and rules == {}
    ok(run_prism("templates", "policy", "env1", "--keep", "2", "--recycle-bin", "30d", "--yes"))
    for region in ("us-east-1", "us-east-2"):
        made = sorted(rules[region].values(), key=lambda r: r["ResourceType"])
        assert [r["ResourceType"] for r in made] == ["EBS_SNAPSHOT", "EC2_IMAGE"]
        for rule in made:
            assert rule["ResourceTags"] == [
                {"ResourceTagKey": "prism:template", "ResourceTagValue": "env1"}
            ]
            assert rule["RetentionPeriod"] == {
                "RetentionPeriodValue": 30, "RetentionPeriodUnit": "DAYS"
            }
    ok(run_prism("templates", "policy", "env1", "--keep", "2", "--recycle-bin", "60d", "--yes"))
    assert len(rules["us-east-1"]) == 2  # updated, not duplicated
    assert {r["RetentionPeriod"]["RetentionPeriodValue"] for r in rules["us-east-1"].values()} \
        == {60}
    refused(run_prism("templates", "policy", "env1", "--recycle-bin", "0d", "--yes"))
