"""Small readers of sandbox state shared by the tests (all through boto3 over HTTP)."""

from __future__ import annotations

from typing import Any

import boto3


def ec2(region: str = "us-east-1") -> Any:
    """An EC2 client for the sandbox (env points boto3 at it)."""
    return boto3.client("ec2", region_name=region)


def instance_state(instance_id: str, region: str = "us-east-1") -> str:
    """The instance's current state name."""
    data = ec2(region).describe_instances(InstanceIds=[instance_id])
    return data["Reservations"][0]["Instances"][0]["State"]["Name"]


def own_images(region: str = "us-east-1") -> list[dict[str, Any]]:
    """Images prism saved in ``region`` (the sandbox's base images left out)."""
    images = ec2(region).describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["prism:template"]}]
    )["Images"]
    return [i for i in images if i.get("State") != "deregistered"]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    """A Describe* record's tags as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def snapshot_tags(snapshot_id: str, region: str = "us-east-1") -> dict[str, str]:
    """Tags of one snapshot."""
    snap = ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    return tags_of(snap)
