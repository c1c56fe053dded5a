"""Which instances run from a template: counted from the instances' own tags and images.

``prism launch`` tags every instance with ``prism:template`` and
``prism:template-version``; nothing else is kept. Instances that are terminated (or
shutting down) do not count.
"""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.ec2 import LIVE_STATES, instance_records
from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tags_of


def _instances(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live instances (not terminated or shutting down) matching ``filters``."""
    live = {"Name": "instance-state-name", "Values": list(LIVE_STATES)}
    return list(instance_records(ec2, [*filters, live]))


def counts(
    aws: AwsClients, name: str, regions: list[str], problems: list[str]
) -> dict[int, dict[str, int]]:
    """version -> region -> live instances launched from it (by their tags)."""
    found: dict[int, dict[str, int]] = {}
    for region in regions:
        try:
            instances = _instances(
                aws.ec2(region), [{"Name": f"tag:{TEMPLATE_TAG}", "Values": [name]}]
            )
        except Exception as exc:
            problems.append(f"instances in {region} not listed: {error_message(exc)}")
            continue
        for instance in instances:
            version = tags_of(instance).get(TEMPLATE_VERSION_TAG, "")
            if version.isdigit():
                per_region = found.setdefault(int(version), {})
                per_region[region] = per_region.get(region, 0) + 1
    return found


def users_of_images(aws: AwsClients, images: dict[str, set[str]]) -> dict[str, list[str]]:
    """``region:ami`` -> live instance ids running from it (any instance, tagged or not).

    Raises if a region cannot be asked: a prune must not guess that an image is unused.
    """
    users: dict[str, list[str]] = {}
    for region, ids in sorted(images.items()):
        wanted = sorted(ids)
        for start in range(0, len(wanted), 100):
            batch = wanted[start : start + 100]
            for instance in _instances(aws.ec2(region), [{"Name": "image-id", "Values": batch}]):
                key = f"{region}:{instance.get('ImageId')}"
                users.setdefault(key, []).append(str(instance["InstanceId"]))
    return users


def text(per_region: dict[str, int]) -> str:
    """``3 (us-east-1: 2, us-east-2: 1)`` or ``0``."""
    total = sum(per_region.values())
    if not total:
        return "0"
    where = ", ".join(f"{r}: {n}" for r, n in sorted(per_region.items()) if n)
    return f"{total} ({where})"
