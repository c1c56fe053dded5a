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


#: Images asked about at once by :func:`sharing` (one DescribeImageAttribute each).
SHARING_WORKERS = 8


def sharing(
    aws: AwsClients, images: dict[str, tuple[str, str]], problems: list[str]
) -> dict[str, dict[str, Any] | None]:
    """``label -> who may launch the image`` for ``images`` (label -> (region, AMI id));
    ``None`` for an image that could not be asked (said in ``problems``)."""
    from concurrent.futures import ThreadPoolExecutor

    from prism_core.aws.ec2 import image_sharing

    def ask(label: str) -> dict[str, Any] | None:
        region, image_id = images[label]
        try:
            return image_sharing(aws.ec2(region), image_id)
        except Exception as exc:
            problems.append(f"sharing of {image_id} in {region} not read: {error_message(exc)}")
            return None

    labels = sorted(images)
    if not labels:
        return {}
    with ThreadPoolExecutor(max_workers=min(SHARING_WORKERS, len(labels))) as pool:
        return dict(zip(labels, pool.map(ask, labels), strict=True))


def sharing_text(by_region: dict[str, dict[str, Any] | None]) -> str:
    """``private (this account only)``, ``PUBLIC (any AWS account)``, ``accounts 1111...``;
    per image (region) when they differ."""

    def one(found: dict[str, Any] | None) -> str:
        if found is None:
            return "unknown"
        parts = ["PUBLIC (any AWS account)"] if found["public"] else []
        for field, label in (
            ("accounts", "accounts"),
            ("organizations", "organizations"),
            ("ous", "organizational units"),
        ):
            if found[field]:
                parts.append(f"{label} {', '.join(found[field])}")
        return "; ".join(parts) or "private (this account only)"

    texts = {region: one(found) for region, found in sorted(by_region.items())}
    if len(set(texts.values())) <= 1:
        return next(iter(texts.values()), "-")
    return "; ".join(f"{region}: {text}" for region, text in texts.items())
