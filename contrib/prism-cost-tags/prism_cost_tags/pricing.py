"""Per-region snapshot storage prices and the storage of images and snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def shipped_prices() -> dict[str, float]:
    """The price table shipped with the plugin (USD per GB-month)."""
    from importlib import resources

    import yaml

    text = resources.files("prism_cost_tags").joinpath("data/prices.yaml").read_text()
    return {str(k): float(v) for k, v in yaml.safe_load(text).items()}


class PriceTable:
    """Shipped prices, overridden region by region from config ``cost-tags.prices``."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.prices = {**shipped_prices(), **{k: float(v) for k, v in (overrides or {}).items()}}

    def per_gb_month(self, region: str) -> float:
        """USD per GB-month of snapshot storage in ``region``."""
        return self.prices.get(region, self.prices["default"])

    def monthly(self, gb_by_region: Mapping[str, float]) -> float:
        """USD per month for the given GB in each region, rounded to cents."""
        total = sum(gb * self.per_gb_month(region) for region, gb in gb_by_region.items())
        return round(total, 2)


def image_snapshots(image: Mapping[str, Any]) -> dict[str, int]:
    """Snapshot id to size (GB) of one ``DescribeImages`` record's EBS mappings."""
    found = {}
    for mapping in image.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        if ebs.get("SnapshotId"):
            found[ebs["SnapshotId"]] = int(ebs.get("VolumeSize") or 0)
    return found


def snapshot_sizes(ec2: Any, snapshot_ids: Iterable[str]) -> dict[str, int]:
    """Snapshot id to ``VolumeSize`` (GB) from ``DescribeSnapshots``."""
    ids = sorted(set(snapshot_ids))
    if not ids:
        return {}
    snapshots = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    return {s["SnapshotId"]: int(s.get("VolumeSize") or 0) for s in snapshots}
